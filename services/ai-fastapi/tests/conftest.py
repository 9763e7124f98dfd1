"""Fixtures: an app built by ``create_app`` and a client that runs its lifespan.

The tests talk to the real Redis at ``REDIS_URL`` (default ``redis://127.0.0.1:6379/0``).
"""

import socket
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from tests.asgi import ASGIClient


@pytest.fixture
def settings() -> Settings:
    # REDIS_URL and the rest come from the environment; never a log file or Sentry in tests.
    return Settings(LOG_FILE=None, SENTRY_DSN=None, LOG_LEVEL="INFO")


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[ASGIClient]:
    async with ASGIClient(app).lifespan() as client:
        yield client


@pytest.fixture
def closed_port() -> int:
    """A local port where nothing listens (bound, read, released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
