"""Fixtures: an app built by ``create_app`` and a client that runs its lifespan.

The tests talk to the real Redis at ``REDIS_URL`` (default ``redis://127.0.0.1:6379/0``), each
under a key prefix and an events stream of its own, deleted afterwards (with the API token
records it wrote). The default models are trained once per session into a shared folder.
"""

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from redis import Redis as SyncRedis

from app.config import Settings
from app.main import create_app
from helpdesk_shared.tokens import ApiTokenRecord, Scope, api_token_key
from tests.asgi import ASGIClient

SERVICE_TOKEN = "test-service-credential-" + secrets.token_hex(8)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ai-models")


@pytest.fixture
def key_prefix() -> str:
    return f"test:ai:{secrets.token_hex(6)}:"


@pytest.fixture
def settings(model_dir: Path, key_prefix: str) -> Settings:
    # REDIS_URL and the rest come from the environment; never a log file or Sentry in tests.
    return Settings(
        LOG_FILE=None,
        SENTRY_DSN=None,
        LOG_LEVEL="INFO",
        AI_MODEL_DIR=model_dir,
        AI_KEY_PREFIX=key_prefix,
        EVENTS_STREAM=f"{key_prefix}events",
        HELPDESK_SERVICE_TOKEN=SecretStr(SERVICE_TOKEN),
        AI_RATE_LIMIT="1000/second",
    )


@pytest.fixture
def sync_redis(settings: Settings) -> Iterator[SyncRedis]:
    redis = SyncRedis.from_url(str(settings.REDIS_URL))
    yield redis
    for key in redis.scan_iter(match=f"{settings.AI_KEY_PREFIX}*", count=1000):
        redis.delete(key)
    redis.close()


class MakeToken(Protocol):
    def __call__(
        self,
        *,
        organization_id: int = 1,
        scopes: tuple[Scope, ...] = ("ai:classify", "ai:train"),
        role: str = "bot",
        expires_in: timedelta | None = timedelta(hours=1),
    ) -> str: ...


@pytest.fixture
def make_token(sync_redis: SyncRedis) -> Iterator[MakeToken]:
    """Writes an API token record into Redis as core does; removes them all afterwards."""
    written: list[str] = []

    def make(
        *,
        organization_id: int = 1,
        scopes: tuple[Scope, ...] = ("ai:classify", "ai:train"),
        role: str = "bot",
        expires_in: timedelta | None = timedelta(hours=1),
    ) -> str:
        token = secrets.token_urlsafe(32)
        expires_at = datetime.now(UTC) + expires_in if expires_in is not None else None
        record = ApiTokenRecord.model_validate(
            {
                "organization_id": organization_id,
                "user_id": 7,
                "role": role,
                "scopes": list(scopes),
                "expires_at": expires_at,
            }
        )
        sync_redis.set(api_token_key(token), record.model_dump_json(), ex=3600)
        written.append(api_token_key(token))
        return token

    yield make
    if written:
        sync_redis.delete(*written)


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


async def wait_for_models(client: ASGIClient, seconds: float = 60) -> None:
    models = client.state["models"]
    for _ in range(int(seconds * 20)):
        if models.classifier is not None or models.load_error:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("default models not loaded")


@pytest.fixture
async def client(app: FastAPI, sync_redis: SyncRedis) -> AsyncIterator[ASGIClient]:
    async with ASGIClient(app).lifespan() as client:
        await wait_for_models(client)
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def closed_port() -> int:
    """A local port where nothing listens (bound, read, released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
