"""The worker's loops outlive a Redis outage: they are started again, with back-off."""

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from app.worker import __main__ as worker


async def test_a_loop_that_loses_redis_is_started_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "BACKOFF_MAX_SECONDS", 0.01)
    starts = 0

    async def loop() -> None:
        nonlocal starts
        starts += 1
        if starts < 3:
            raise RedisConnectionError("Connection closed by server.")

    await asyncio.wait_for(worker.resilient("triage", loop, asyncio.Event()), timeout=10)
    assert starts == 3


async def test_a_stopped_worker_does_not_start_its_loop_again() -> None:
    stop = asyncio.Event()
    starts = 0

    async def loop() -> None:
        nonlocal starts
        starts += 1
        stop.set()
        raise RedisConnectionError("gone")

    await asyncio.wait_for(worker.resilient("training", loop, stop), timeout=10)
    assert starts == 1
