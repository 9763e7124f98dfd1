"""The stream reader on its own, against the real Redis, with a plain emit callback."""

import asyncio
import time
from typing import Any

from redis.asyncio import Redis

from app.stream import StreamReader
from tests.support import REDIS_URL, WAIT_S, publish, ticket_created


async def wait_alive(reader: StreamReader) -> None:
    deadline = time.monotonic() + WAIT_S
    while not reader.is_alive():
        assert time.monotonic() < deadline, "the reader never completed a read"
        await asyncio.sleep(0.02)


async def test_reader_emits_to_the_org_room_and_stops_cleanly(redis: Redis, stream: str) -> None:
    emitted: asyncio.Queue[tuple[str, dict[str, Any], str]] = asyncio.Queue()

    async def emit(event: str, data: dict[str, Any], room: str) -> None:
        await emitted.put((event, data, room))

    # RESP3 replies have another shape than RESP2 ones; the reader takes both.
    resp3 = Redis.from_url(REDIS_URL, decode_responses=True, protocol=3)
    reader = StreamReader(resp3, stream, emit, block_ms=200)
    try:
        print("start", flush=True)
        reader.start()
        await wait_alive(reader)
        print("alive", flush=True)
        entry_id = await publish(redis, stream, ticket_created(organization_id=4, ticket_id=44))
        print("published", entry_id, flush=True)
        event, data, room = await asyncio.wait_for(emitted.get(), WAIT_S)
        print("got", flush=True)
        assert (event, room, data["ticket_id"]) == ("ticket.created", "org:4", 44)
        assert reader.last_id == entry_id
    finally:
        print("stopping", reader.last_id, flush=True)
        await reader.stop()
        print("stopped", flush=True)
        await resp3.aclose()
        print("closed", flush=True)
    assert not reader.is_alive()
    print("end of test", flush=True)
