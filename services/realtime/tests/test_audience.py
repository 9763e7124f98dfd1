"""Audiences: staff-only events (internal notes, SLA) never reach a customer's connection."""

from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from app.rooms import rooms_for
from helpdesk_shared import Actor, SlaData, SlaWarning, uuid7
from tests.support import (
    FakeCore,
    comment_created,
    listening,
    make_token,
    publish,
    ticket_created,
)


def sla_warning(organization_id: int, ticket_id: int) -> SlaWarning:
    now = datetime.now(UTC)
    return SlaWarning(
        id=uuid7(),
        occurred_at=now,
        organization_id=organization_id,
        ticket_id=ticket_id,
        actor=Actor(kind="system"),
        data=SlaData(
            number=ticket_id,
            metric="first_response",
            due_at=now + timedelta(minutes=10),
            target_minutes=60,
            elapsed_share=0.8,
        ),
    )


def test_staff_only_events_are_routed_to_staff_rooms_only() -> None:
    note = comment_created(1, 5, public=False, body="secret", company_id=3)
    assert all(room.startswith("staff:") for room in rooms_for(note))
    assert all(room.startswith("staff:") for room in rooms_for(sla_warning(1, 5)))
    # A note whose producer forgot the audience is still staff-only.
    forgot = note.model_copy(update={"audience": "all"})
    assert all(room.startswith("staff:") for room in rooms_for(forgot))
    reply = comment_created(1, 5, public=True, body="hello", company_id=3)
    assert set(rooms_for(reply)) == {
        "staff:org:1",
        "staff:ticket:5",
        "user:99",
        "company:3",
        "ticket:5",
    }


async def test_a_customer_never_receives_an_internal_note(
    app_url: str, redis: Redis, stream: str, core: FakeCore
) -> None:
    core.allow[(99, "ticket", 5)] = 1
    core.allow[(7, "ticket", 5)] = 1
    async with (
        listening(app_url, make_token(sub="99", org=1, role="customer", company=3)) as carla,
        listening(app_url, make_token(sub="7", org=1, role="agent")) as agent,
    ):
        # The customer is in every public room the ticket has: user, company and ticket.
        assert (await carla.call("subscribe", {"kind": "ticket", "id": 5}))["ok"] is True
        assert (await agent.call("subscribe", {"kind": "ticket", "id": 5}))["ok"] is True
        note = comment_created(1, 5, public=False, body="the customer is wrong", company_id=3)
        await publish(redis, stream, note)
        await publish(redis, stream, sla_warning(1, 5))
        reply = comment_created(1, 5, public=True, body="we are on it", company_id=3)
        await publish(redis, stream, reply)

        got = [await agent.next_event() for _ in range(3)]
        assert [name for name, _ in got] == ["comment.created", "sla.warning", "comment.created"]
        assert got[0][1]["data"]["body"] == "the customer is wrong"
        # Stream order: the reply came after the note, so if the reply is the first thing the
        # customer gets, the note never reached them.
        name, data = await carla.next_event()
        assert (name, data["id"]) == ("comment.created", str(reply.id))
        assert data["data"]["public"] is True
        assert carla.events.empty()


async def test_company_room_only_with_the_company_claim(
    app_url: str, redis: Redis, stream: str
) -> None:
    async with (
        listening(app_url, make_token(sub="50", org=1, role="customer", company=3)) as shares,
        listening(app_url, make_token(sub="51", org=1, role="customer")) as alone,
    ):
        assert "company:3" in shares.ready[0]["rooms"]
        colleague = ticket_created(organization_id=1, ticket_id=8, requester_id=52)
        colleague = colleague.model_copy(update={"company_id": 3})
        await publish(redis, stream, colleague)
        own = ticket_created(organization_id=1, ticket_id=9, requester_id=51)
        await publish(redis, stream, own)
        assert (await shares.next_event())[1]["ticket_id"] == 8
        assert (await alone.next_event())[1]["ticket_id"] == 9
        assert alone.events.empty()
