"""The stream reader on its own, against the real Redis, with a plain emit callback."""

import asyncio
import json
import time

from redis.asyncio import Redis

from app.entries import Entry
from app.stream import StreamReader
from tests.support import REDIS_URL, WAIT_S, publish, ticket_created


async def wait_alive(reader: StreamReader) -> None:
    deadline = time.monotonic() + WAIT_S
    while not reader.is_alive():
        assert time.monotonic() < deadline, "the reader never completed a read"
        await asyncio.sleep(0.02)


async def test_reader_emits_to_the_org_room_and_stops_cleanly(redis: Redis, stream: str) -> None:
    emitted: asyncio.Queue[Entry] = asyncio.Queue()

    # RESP3 replies have another shape than RESP2 ones; the reader takes both.
    resp3 = Redis.from_url(REDIS_URL, decode_responses=True, protocol=3)
    reader = StreamReader(resp3, stream, emitted.put_nowait, block_ms=200)
    try:
        reader.start()
        await wait_alive(reader)
        entry_id = await publish(redis, stream, ticket_created(organization_id=4, ticket_id=44))
        entry = await asyncio.wait_for(emitted.get(), WAIT_S)
        assert entry.type == "ticket.created"
        assert entry.rooms == {"staff:org:4", "staff:ticket:44", "user:99", "ticket:44"}
        payload = json.loads(entry.packet[1:])
        assert payload[0] == "ticket.created"
        assert payload[1]["offset"] == entry_id
        assert payload[1]["ticket_id"] == 44
        assert reader.last_id == entry_id
        assert reader.entries_after((0, 0)) == [entry]
    finally:
        await reader.stop()
        await resp3.aclose()
    assert not reader.is_alive()


async def test_stop_is_prompt_right_after_a_batch(redis: Redis, stream: str) -> None:
    """Regression: on Python 3.11 one cancel can be lost inside redis-py (see ``stop``).

    Stopping right after an emission is when the reader is sending its next XREAD, the moment
    the cancellation could be swallowed; the reader must still end well within its block time.
    """
    emitted: asyncio.Queue[Entry] = asyncio.Queue()

    for _ in range(25):
        client = Redis.from_url(REDIS_URL, decode_responses=True)
        reader = StreamReader(client, stream, emitted.put_nowait, block_ms=5_000)
        try:
            reader.start()
            await wait_alive(reader)
            await publish(redis, stream, ticket_created(organization_id=1, ticket_id=1))
            await asyncio.wait_for(emitted.get(), WAIT_S)
            started = time.monotonic()
            await reader.stop()
            assert time.monotonic() - started < 2.0
            assert not reader.is_alive()
        finally:
            await client.aclose()
