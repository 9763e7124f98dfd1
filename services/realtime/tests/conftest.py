"""Fixtures: the shared Redis at 127.0.0.1:6379 with a stream of each test's own, and servers."""

from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import cast

import pytest
from redis.asyncio import Redis

from app.config import Settings
from tests.support import (
    REDIS_URL,
    FakeCore,
    RedisProcess,
    delete_keys,
    free_port,
    make_settings,
    new_stream_name,
    serve,
    serving_core,
)


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        await cast(Awaitable[bool], client.ping())
    except Exception as exc:
        pytest.fail(f"these tests need the real Redis at {REDIS_URL}: {exc}")
    yield client
    await client.aclose()


@pytest.fixture
async def stream(redis: Redis) -> AsyncIterator[str]:
    """A stream name no other test (or service) uses, deleted afterwards with its keys."""
    name = new_stream_name()
    yield name
    await redis.delete(name)
    await delete_keys(redis, f"{name}:*")


@pytest.fixture
async def core() -> AsyncIterator[FakeCore]:
    async with serving_core(FakeCore()) as running:
        yield running


@pytest.fixture
def settings(stream: str, core: FakeCore) -> Settings:
    return make_settings(stream, core_url=core.url)


@pytest.fixture
async def app_url(settings: Settings) -> AsyncIterator[str]:
    async with serve(settings) as url:
        yield url


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[RedisProcess]:
    binary = RedisProcess.find_binary()
    if binary is None:
        pytest.skip("no redis-server binary on PATH")
    server = RedisProcess(binary, free_port(), tmp_path)
    await server.start()
    yield server
    await server.kill()
