"""Replay: after a reconnect, every missed event for the connection's rooms, in order, once."""

import asyncio
from typing import Any

from redis.asyncio import Redis

from app.config import Settings
from tests.support import (
    Listener,
    listening,
    make_settings,
    make_token,
    publish,
    serve,
    ticket_created,
)


def ids(events: list[tuple[str, Any]]) -> list[int]:
    return [data["ticket_id"] for _, data in events]


async def drain(listener: Listener, count: int) -> list[tuple[str, Any]]:
    return [await listener.next_event() for _ in range(count)]


async def test_every_event_carries_its_offset_and_ready_gives_the_position(
    app_url: str, redis: Redis, stream: str
) -> None:
    async with listening(app_url, make_token(org=1)) as agent:
        assert agent.ready[0]["replayed"] == 0
        entry_id = await publish(redis, stream, ticket_created(organization_id=1, ticket_id=1))
        _, data = await agent.next_event()
        assert data["offset"] == entry_id


async def test_reconnect_replays_what_was_missed_from_memory_then_live(
    app_url: str, redis: Redis, stream: str
) -> None:
    token = make_token(sub="7", org=1)
    async with listening(app_url, token) as agent:
        await publish(redis, stream, ticket_created(organization_id=1, ticket_id=1))
        _, first = await agent.next_event()
    # Away: three for us, one for another organization.
    for ticket, org in ((2, 1), (3, 2), (4, 1), (5, 1)):
        await publish(redis, stream, ticket_created(organization_id=org, ticket_id=ticket))
    async with listening(app_url, token, last_event_id=first["offset"]) as back:
        assert back.ready[0]["replayed"] == 3
        await publish(redis, stream, ticket_created(organization_id=1, ticket_id=6))
        assert ids(await drain(back, 4)) == [2, 4, 5, 6]
        await asyncio.sleep(0.2)
        assert back.events.empty()


async def test_replay_reads_redis_when_memory_does_not_reach_back(
    settings: Settings, redis: Redis, stream: str
) -> None:
    """Events written before this process started are not in its memory: XRANGE."""
    first = await publish(redis, stream, ticket_created(organization_id=1, ticket_id=1))
    for ticket in range(2, 8):
        await publish(redis, stream, ticket_created(organization_id=1, ticket_id=ticket))
    async with (
        serve(settings) as url,
        listening(url, make_token(org=1), last_event_id=first) as agent,
    ):
        assert agent.ready[0]["replayed"] == 6
        assert ids(await drain(agent, 6)) == [2, 3, 4, 5, 6, 7]


async def test_reconnecting_while_events_flow_loses_and_repeats_nothing(
    app_url: str, redis: Redis, stream: str
) -> None:
    token = make_token(sub="7", org=1)
    total = 400
    published = asyncio.Event()

    async def produce() -> None:
        for ticket in range(1, total + 1):
            await publish(redis, stream, ticket_created(organization_id=1, ticket_id=ticket))
            if ticket % 20 == 0:
                await asyncio.sleep(0.005)
        published.set()

    seen: list[int] = []
    producer = asyncio.create_task(produce())
    offset: str | None = None
    for _ in range(6):  # connect, take some, drop, come back with the last offset
        auth: dict[str, Any] = {} if offset is None else {"last_event_id": offset}
        async with listening(app_url, token, **auth) as agent:
            if offset is None:
                offset = agent.ready[0]["offset"]
            for _ in range(25):
                try:
                    _, data = await agent.next_event(within=2)
                except TimeoutError:
                    break
                seen.append(data["ticket_id"])
                offset = data["offset"]
    await producer
    async with listening(app_url, token, last_event_id=offset) as agent:
        while not seen or seen[-1] < total:
            _, data = await agent.next_event()
            seen.append(data["ticket_id"])
        await asyncio.sleep(0.2)
        assert agent.events.empty()
    first = seen[0]
    assert seen == list(range(first, total + 1))


async def test_too_old_a_position_gets_resync(stream: str, core: Any, redis: Redis) -> None:
    settings = make_settings(stream, core_url=core.url, realtime_replay_max_age_seconds=1)
    old = await publish(redis, stream, ticket_created(organization_id=1, ticket_id=1))
    await asyncio.sleep(1.1)
    async with serve(settings) as url:
        agent = Listener()
        await agent.connect(url, {"token": make_token(), "last_event_id": old}, wait_ready=False)
        try:
            resync = await agent.next_control("resync")
            assert resync["reason"] == "too_old"
            ready = await agent.next_control("ready")
            assert ready["offset"] == resync["offset"]
        finally:
            await agent.close()


async def test_trimmed_and_unknown_and_invalid_positions_get_resync(
    settings: Settings, redis: Redis, stream: str
) -> None:
    first = await publish(redis, stream, ticket_created(organization_id=1, ticket_id=1))
    for ticket in range(2, 6):
        await publish(redis, stream, ticket_created(organization_id=1, ticket_id=ticket))
    await redis.xtrim(stream, maxlen=2, approximate=False)
    cases = {first: "trimmed", "99999999999999-0": "unknown_offset", "yesterday": "invalid_offset"}
    async with serve(settings) as app_url:
        for position, reason in cases.items():
            await expect_resync(app_url, position, reason)


async def expect_resync(app_url: str, position: str, reason: str) -> None:
    agent = Listener()
    await agent.connect(
        app_url, {"token": make_token(), "last_event_id": position}, wait_ready=False
    )
    try:
        assert (await agent.next_control("resync"))["reason"] == reason
        assert agent.events.empty()
    finally:
        await agent.close()
