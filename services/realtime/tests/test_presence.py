"""Presence on several nodes: who views or types on a ticket, and agents online for core."""

import asyncio
import time
from collections.abc import Awaitable
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from app.config import Settings
from helpdesk_shared.presence import agents_seen_key, agents_status_key
from tests.support import FakeCore, Listener, listening, make_settings, make_token, serve

ORG = 9_000_000 + int(time.time()) % 100_000  # an organization no other test or service uses


@pytest.fixture
async def clean_agent_keys(redis: Redis) -> Any:
    yield
    await redis.delete(agents_seen_key(ORG), agents_status_key(ORG))


async def next_presence(listener: Listener, within: float = 10) -> dict[str, Any]:
    while True:
        name, data = await listener.next_event(within)
        if name == "presence.changed":
            return dict(data)


async def settle(listener: Listener, viewers: list[dict[str, Any]]) -> None:
    """Wait until the listener's latest presence.changed says exactly ``viewers``."""
    deadline = time.monotonic() + 10
    while True:
        data = await next_presence(listener, max(deadline - time.monotonic(), 0.1))
        if data["viewers"] == viewers:
            return


async def test_presence_is_the_same_on_two_nodes(
    settings: Settings, core: FakeCore, redis: Redis, clean_agent_keys: Any
) -> None:
    for user in (21, 22):
        core.allow[(user, "ticket", 5)] = ORG
    async with (
        serve(settings) as node_a,
        serve(settings) as node_b,
        listening(node_a, make_token(sub="21", org=ORG)) as alice,
        listening(node_b, make_token(sub="22", org=ORG)) as bruno,
    ):
        for agent in (alice, bruno):
            assert (await agent.call("subscribe", {"kind": "ticket", "id": 5}))["ok"]
        answer = await alice.call("presence", {"ticket_id": 5, "state": "viewing"})
        assert answer["presence"]["viewers"] == [{"user_id": 21, "state": "viewing"}]
        await settle(bruno, [{"user_id": 21, "state": "viewing"}])

        await bruno.call("presence", {"ticket_id": 5, "state": "typing"})
        both = [{"user_id": 21, "state": "viewing"}, {"user_id": 22, "state": "typing"}]
        await settle(alice, both)  # collision: Alice sees Bruno replying

        # Agents are online for core's assignment, on whichever node they are.
        seen = await redis.zrange(agents_seen_key(ORG), 0, -1)
        assert set(seen) == {"21", "22"}
        assert (await bruno.call("status", {"status": "away"}))["ok"]
        status = await cast(Awaitable[str | None], redis.hget(agents_status_key(ORG), "22"))
        assert status == "away"

        await bruno.close()
        await settle(alice, [{"user_id": 21, "state": "viewing"}])
        await asyncio.sleep(0.1)
        assert await redis.zrange(agents_seen_key(ORG), 0, -1) == ["21"]


async def test_presence_needs_the_ticket_room_and_staff(
    app_url: str, core: FakeCore, clean_agent_keys: Any
) -> None:
    async with (
        listening(app_url, make_token(sub="21", org=ORG)) as alice,
        listening(app_url, make_token(sub="99", org=ORG, role="customer")) as carla,
    ):
        answer = await alice.call("presence", {"ticket_id": 5, "state": "viewing"})
        assert answer["error"]["code"] == "not_subscribed"
        answer = await carla.call("presence", {"ticket_id": 5, "state": "viewing"})
        assert answer["error"]["code"] == "forbidden"
        answer = await alice.call("presence", {"ticket_id": 5, "state": "dancing"})
        assert answer["error"]["code"] == "invalid_message"


async def test_typing_ends_by_itself(stream: str, core: FakeCore, clean_agent_keys: Any) -> None:
    settings = make_settings(
        stream,
        core_url=core.url,
        realtime_typing_ttl_seconds=0.5,
        realtime_presence_heartbeat_seconds=0.2,
    )
    core.allow[(21, "ticket", 6)] = ORG
    async with serve(settings) as url, listening(url, make_token(sub="21", org=ORG)) as alice:
        await alice.call("subscribe", {"kind": "ticket", "id": 6})
        await alice.call("presence", {"ticket_id": 6, "state": "typing"})
        await settle(alice, [{"user_id": 21, "state": "viewing"}])
