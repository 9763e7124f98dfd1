"""subscribe / unsubscribe: core decides, refusals come back as errors, answers are cached."""

from typing import Any

import pytest
from redis.asyncio import Redis

from app.config import Settings
from tests.support import FakeCore, listening, make_settings, make_token, publish, serve
from tests.support import ticket_created as created


async def test_allowed_ticket_room_delivers_its_events(
    app_url: str, redis: Redis, stream: str, core: FakeCore
) -> None:
    core.allow[(99, "ticket", 40)] = 1  # e.g. a customer in copy of someone else's ticket
    async with listening(app_url, make_token(sub="99", org=1, role="customer")) as carla:
        answer = await carla.call("subscribe", {"kind": "ticket", "id": 40})
        assert answer == {"ok": True, "room": "ticket:40", "number": 40}
        await publish(redis, stream, created(organization_id=1, ticket_id=40, requester_id=5))
        assert (await carla.next_event())[1]["ticket_id"] == 40
        assert core.requests == [{"user_id": 99, "kind": "ticket", "id": 40}]

        gone = await carla.call("unsubscribe", {"kind": "ticket", "id": 40})
        assert gone == {"ok": True, "room": "ticket:40", "was_subscribed": True}
        await publish(redis, stream, created(organization_id=1, ticket_id=40, requester_id=5))
        await publish(redis, stream, created(organization_id=1, ticket_id=41, requester_id=99))
        assert (await carla.next_event())[1]["ticket_id"] == 41


async def test_a_refused_room_is_an_error_not_silence(app_url: str, core: FakeCore) -> None:
    async with listening(app_url, make_token(sub="99", org=1, role="customer")) as carla:
        answer = await carla.call("subscribe", {"kind": "ticket", "id": 41})
        assert answer["ok"] is False
        assert answer["error"]["code"] == "forbidden"
        name, error = await carla.control.get()
        assert name == "error"
        assert (error["code"], error["event"]) == ("forbidden", "subscribe")


async def test_a_room_of_another_organization_is_refused(app_url: str, core: FakeCore) -> None:
    core.allow[(7, "queue", 3)] = 2  # core says yes, but for organization 2
    async with listening(app_url, make_token(sub="7", org=1, role="agent")) as agent:
        answer = await agent.call("subscribe", {"kind": "queue", "id": 3})
        assert answer["error"]["code"] == "forbidden"


async def test_customers_cannot_subscribe_to_queues(app_url: str, core: FakeCore) -> None:
    async with listening(app_url, make_token(sub="99", org=1, role="customer")) as carla:
        answer = await carla.call("subscribe", {"kind": "queue", "id": 1})
        assert answer["error"]["code"] == "forbidden"
    assert core.requests == []  # decided without asking core


async def test_core_answers_are_cached(app_url: str, core: FakeCore) -> None:
    core.allow[(7, "ticket", 1)] = 1
    async with listening(app_url, make_token(sub="7", org=1)) as agent:
        for _ in range(3):
            assert (await agent.call("subscribe", {"kind": "ticket", "id": 1}))["ok"]
            assert not (await agent.call("subscribe", {"kind": "ticket", "id": 2}))["ok"]
    assert len(core.requests) == 2


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "ticket:1",
        {"kind": "room", "id": 1},
        {"kind": "ticket"},
        {"kind": "ticket", "id": 0},
        {"kind": "ticket", "id": True},
        {"kind": "ticket", "id": "1"},
    ],
)
async def test_malformed_subscriptions_are_answered(app_url: str, payload: Any) -> None:
    async with listening(app_url, make_token()) as agent:
        answer = await agent.call("subscribe", payload)
        assert answer["error"]["code"] == "invalid_message"


async def test_core_unreachable_is_unavailable(stream: str) -> None:
    settings: Settings = make_settings(stream, core_url="http://127.0.0.1:9")
    async with serve(settings) as url, listening(url, make_token()) as agent:
        answer = await agent.call("subscribe", {"kind": "ticket", "id": 1})
        assert answer["error"]["code"] == "unavailable"
        assert agent.client.connected


async def test_subscriptions_in_the_auth_payload_are_joined_before_ready(
    app_url: str, core: FakeCore
) -> None:
    core.allow[(7, "ticket", 12)] = 1
    async with listening(
        app_url,
        make_token(sub="7", org=1),
        subscriptions=[{"kind": "ticket", "id": 12}, {"kind": "ticket", "id": 13}],
    ) as agent:
        assert "ticket:12" in agent.ready[0]["rooms"]
        assert "ticket:13" not in agent.ready[0]["rooms"]
