"""The stream reader rides out a Redis outage: it reconnects and misses nothing afterwards."""

import asyncio

from redis.asyncio import Redis

from tests.support import (
    RedisProcess,
    listening,
    make_settings,
    make_token,
    new_stream_name,
    publish,
    serve,
    ticket_created,
    wait_for_health,
)


async def test_reader_recovers_when_redis_comes_back(private_redis: RedisProcess) -> None:
    stream = new_stream_name()
    settings = make_settings(stream, redis_url=private_redis.url)
    publisher = Redis.from_url(private_redis.url, decode_responses=True)
    try:
        async with (
            serve(settings) as url,
            listening(url, make_token(org=1)) as org1,
        ):
            await publish(publisher, stream, ticket_created(organization_id=1, ticket_id=1))
            _, data = await org1.next_event()
            assert data["ticket_id"] == 1

            await private_redis.kill()
            report = await wait_for_health(url, 503)
            assert report["status"] == "unavailable"
            assert report["checks"]["redis"]["ok"] is False
            # Stay down long enough for the reader's back-off to grow past a few retries.
            await asyncio.sleep(1.5)

            await private_redis.start()
            # Published at once, most likely while the reader is still backing off: it must
            # continue from the last id it read, not from "now", to get this one.
            await publisher.connection_pool.disconnect()
            await publish(publisher, stream, ticket_created(organization_id=1, ticket_id=2))
            _, data = await org1.next_event(within=15)
            assert data["ticket_id"] == 2

            report = await wait_for_health(url, 200)
            assert report["checks"]["stream_reader"]["ok"] is True
            # The outage never touched the Socket.IO connection.
            assert org1.client.connected
            assert org1.events.empty()
    finally:
        await publisher.aclose()
