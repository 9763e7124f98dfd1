"""Events from the stream reach the connections of their organization, and only those."""

import json

from redis.asyncio import Redis

from app.config import Settings
from tests.support import listening, make_token, publish, serve, ticket_created


async def test_event_reaches_its_organization_only(app_url: str, redis: Redis, stream: str) -> None:
    async with (
        listening(app_url, make_token(sub="7", org=1)) as org1,
        listening(app_url, make_token(sub="8", org=2)) as org2,
    ):
        first = ticket_created(organization_id=1, ticket_id=101)
        await publish(redis, stream, first)
        name, data = await org1.next_event()
        assert name == "ticket.created"
        assert data["id"] == str(first.id)
        assert data["ticket_id"] == 101
        assert data["organization_id"] == 1
        assert data["data"]["subject"] == "Printer on fire"
        assert data["data"]["number"] == 101

        # The reader emits in stream order: if org 2's own later event is the first thing it
        # receives, it never received org 1's.
        second = ticket_created(organization_id=2, ticket_id=202)
        await publish(redis, stream, second)
        name, data = await org2.next_event()
        assert (name, data["ticket_id"]) == ("ticket.created", 202)
        assert org2.events.empty()
        assert org1.events.empty()


async def test_malformed_entries_are_skipped(app_url: str, redis: Redis, stream: str) -> None:
    async with listening(app_url, make_token(org=1)) as org1:
        await redis.xadd(stream, {"event": "this is not json"})
        await redis.xadd(stream, {"type": "ticket.created", "org": "1"})  # no event field
        broken = json.loads(ticket_created(organization_id=1, ticket_id=1).model_dump_json())
        del broken["data"]["subject"]  # a known type whose payload is incomplete
        await redis.xadd(stream, {"event": json.dumps(broken)})
        good = ticket_created(organization_id=1, ticket_id=303)
        await publish(redis, stream, good)

        name, data = await org1.next_event()
        assert (name, data["id"]) == ("ticket.created", str(good.id))
        assert org1.events.empty()


async def test_unknown_event_type_is_still_forwarded(
    app_url: str, redis: Redis, stream: str
) -> None:
    """An envelope of a type this build does not know yet reaches dashboards that may."""
    async with listening(app_url, make_token(org=1)) as org1:
        envelope = json.loads(ticket_created(organization_id=1, ticket_id=5).model_dump_json())
        envelope["type"] = "ticket.tagged"
        envelope["data"] = {"tag": "vip"}
        await redis.xadd(stream, {"event": json.dumps(envelope)})
        name, data = await org1.next_event()
        assert (name, data["data"]) == ("ticket.tagged", {"tag": "vip"})


async def test_reader_starts_at_the_end_of_the_stream(
    settings: Settings, redis: Redis, stream: str
) -> None:
    """History written before the process started is not replayed to dashboards."""
    await publish(redis, stream, ticket_created(organization_id=1, ticket_id=1))
    async with serve(settings) as url, listening(url, make_token(org=1)) as org1:
        await publish(redis, stream, ticket_created(organization_id=1, ticket_id=2))
        _, data = await org1.next_event()
        assert data["ticket_id"] == 2


async def test_a_customer_receives_their_own_tickets_events_only(
    app_url: str, redis: Redis, stream: str
) -> None:
    async with (
        listening(app_url, make_token(sub="99", org=1, role="customer")) as carla,
        listening(app_url, make_token(sub="55", org=1, role="customer")) as david,
        listening(app_url, make_token(sub="7", org=1, role="agent")) as agent,
    ):
        carlas = ticket_created(organization_id=1, ticket_id=301, requester_id=99)
        await publish(redis, stream, carlas)
        assert (await carla.next_event())[1]["ticket_id"] == 301
        assert (await agent.next_event())[1]["ticket_id"] == 301
        # Stream order again: David's own later ticket is the first thing he receives.
        davids = ticket_created(organization_id=1, ticket_id=302, requester_id=55)
        await publish(redis, stream, davids)
        assert (await david.next_event())[1]["ticket_id"] == 302
        assert (await agent.next_event())[1]["ticket_id"] == 302
        assert david.events.empty()
        assert carla.events.empty()
