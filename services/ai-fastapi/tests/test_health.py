"""Readiness against the real Redis, liveness, and the Redis pool's life."""

import asyncio
import time

import pytest
from pydantic import RedisDsn
from redis.asyncio import Redis

from app.config import Settings
from app.main import create_app
from app.ml.serving import Models
from tests.asgi import ASGIClient
from tests.conftest import wait_for_models


async def test_ready_when_redis_answers(client: ASGIClient) -> None:
    response = await client.get("/health/")

    assert response.status == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["redis"]["ok"] is True
    assert isinstance(body["checks"]["redis"]["ms"], float)
    assert body["checks"]["models"]["ok"] is True


async def test_not_ready_until_the_default_models_are_loaded(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def still_loading(self: Models) -> None:
        await asyncio.sleep(3600)

    monkeypatch.setattr(Models, "load_defaults", still_loading)
    client = ASGIClient(create_app(settings))
    async with client.lifespan():
        response = await client.get("/health/")

    assert response.status == 503
    assert response.json()["checks"]["models"]["ok"] is False
    assert response.json()["checks"]["redis"]["ok"] is True


async def test_unavailable_when_redis_does_not_answer(closed_port: int) -> None:
    settings = Settings(
        REDIS_URL=RedisDsn(f"redis://127.0.0.1:{closed_port}/0"), REDIS_SOCKET_TIMEOUT=0.5
    )
    async with ASGIClient(create_app(settings)).lifespan() as client:
        started = time.perf_counter()
        response = await client.get("/health/")
        elapsed = time.perf_counter() - started

    assert response.status == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"]["ok"] is False
    assert "ConnectionError" in body["checks"]["redis"]["error"]
    assert elapsed < 1.5


async def test_live_touches_no_dependency(closed_port: int) -> None:
    settings = Settings(
        REDIS_URL=RedisDsn(f"redis://127.0.0.1:{closed_port}/0"), REDIS_SOCKET_TIMEOUT=0.5
    )
    async with ASGIClient(create_app(settings)).lifespan() as client:
        response = await client.get("/health/live")

    assert response.status == 200
    assert response.json() == {"status": "ok"}


async def test_one_bounded_pool_closed_at_shutdown(settings: Settings) -> None:
    settings = settings.model_copy(update={"REDIS_POOL_SIZE": 3})
    watcher = Redis.from_url(str(settings.REDIS_URL))
    try:
        client = ASGIClient(create_app(settings))
        async with client.lifespan():
            await wait_for_models(client)
            assert (await client.get("/health/")).status == 200
            redis = client.state["redis"]
            assert redis.connection_pool.max_connections == 3
            connection_id = str(await redis.client_id())
            assert connection_id in {c["id"] for c in await watcher.client_list()}

        assert connection_id not in {c["id"] for c in await watcher.client_list()}
    finally:
        await watcher.aclose()
