"""The platform as real processes: PostgreSQL, Redis, nginx, core, relay, ai and realtime.

Nothing is mocked here. Each session gets its own PostgreSQL database (dropped at the end) and
its own redis-server on a free port, so that a test can stop Redis and start it again.
"""

import json
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import socketio

from tools.stack import Config, RedisServer, Stack, free_port, nginx_binary, prepare_core

SERVER_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/helpdesk")


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    name = f"helpdesk_it_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(SERVER_URL.rsplit("/", 1)[0] + "/postgres", autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    yield SERVER_URL.rsplit("/", 1)[0] + f"/{name}"
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(port=free_port(), workdir=tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stack(
    database_url: str, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    if nginx_binary() is None:
        pytest.fail("nginx is required for the integration tests (make test installs it)")
    run_dir = tmp_path_factory.mktemp("stack")
    cfg = Config(
        run_dir=run_dir,
        redis_url=redis_server.url,
        secret_key=secrets.token_urlsafe(64),
        realtime_secret=secrets.token_urlsafe(48),
        database_url=database_url,
        core_port=free_port(),
        ai_port=free_port(),
        realtime_port=free_port(),
        gateway_port=free_port(),
        events_stream=f"it:events:{uuid.uuid4().hex[:8]}",
    )
    prepare_core(cfg, demo_output=run_dir / "demo.json")
    running = Stack(cfg)
    try:
        running.start()
        yield running
    finally:
        running.stop()
        for name in ("core", "relay", "ai", "realtime", "gateway"):
            path = running.log_path(name)
            if path.exists() and os.environ.get("IT_SHOW_LOGS"):
                print(f"--- {name} ---\n{path.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def demo(stack: Stack) -> dict[str, Any]:
    return dict(json.loads((stack.cfg.run_dir / "demo.json").read_text()))


@pytest.fixture(scope="session")
def gateway(stack: Stack) -> str:
    url = stack.cfg.url("gateway")
    assert url is not None
    return url


@pytest.fixture
async def http(gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway, timeout=10) as client:
        yield client


def log_path(stack: Stack, name: str) -> Path:
    return stack.log_path(name)


async def connect_socket(
    gateway: str, http: httpx.AsyncClient, api_token: str
) -> tuple[socketio.AsyncClient, list[dict[str, Any]]]:
    """A dashboard connection through the gateway, collecting every ticket.created it gets."""
    response = await http.post(
        "/api/v1/realtime/token", headers={"Authorization": f"Bearer {api_token}"}
    )
    assert response.status_code == 201, response.text
    received: list[dict[str, Any]] = []
    client = socketio.AsyncClient(reconnection=False)

    @client.on("ticket.created")  # type: ignore[untyped-decorator]
    async def on_ticket_created(envelope: dict[str, Any]) -> None:
        received.append(envelope)

    await client.connect(
        gateway,
        auth={"token": response.json()["token"]},
        transports=["websocket"],
        wait_timeout=10,
    )
    return client, received
