"""The platform as real processes: PostgreSQL, Redis, nginx, core, relay, ai and realtime.

Nothing is mocked here. Each session gets its own PostgreSQL database (dropped at the end) and
its own redis-server on a free port, so that a test can stop Redis and start it again.
"""

import json
import os
import secrets
import ssl
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import httpx
import psycopg
import pytest
import socketio

from tools.stack import (
    Config,
    GatewaySettings,
    RedisServer,
    Stack,
    free_port,
    gateway_available,
    prepare_core,
)

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
    if not gateway_available():
        pytest.fail(
            "nginx with brotli is required for the integration tests (make test installs it)"
        )
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
        # Two realtime nodes behind the gateway: every test sees the multi-node setup.
        extra_realtime_ports=(free_port(),),
        gateway_port=free_port(),
        gateway_tls_port=free_port(),
        # These tests measure delivery, not the limiter: test_gateway.py checks the seed's
        # limits on a gateway of its own.
        gateway=GatewaySettings(api_rate="1000r/s", api_burst=1000),
        events_stream=f"it:events:{uuid.uuid4().hex[:8]}",
        # The realtime tests open many connections per demo user, some on a node they kill.
        extra_env={"REALTIME_MAX_CONNECTIONS_PER_USER": "200"},
    )
    prepare_core(cfg, demo_output=run_dir / "demo.json")
    running = Stack(cfg)
    try:
        running.start()
        yield running
    finally:
        running.stop()
        for name in running.specs:  # the process names
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


@pytest.fixture(scope="session")
def tls_context(stack: Stack) -> ssl.SSLContext:
    """Trusts the gateway's self-signed certificate, and nothing else: TLS is verified."""
    return ssl.create_default_context(cafile=str(stack.cfg.tls_dir / "cert.pem"))


@pytest.fixture
async def http(gateway: str, tls_context: ssl.SSLContext) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway, timeout=10, verify=tls_context) as client:
        yield client


def socket_client(tls_context: ssl.SSLContext) -> socketio.AsyncClient:
    """A Socket.IO client that verifies the gateway's certificate."""
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls_context))
    return socketio.AsyncClient(reconnection=False, http_session=session)


async def close_socket(client: socketio.AsyncClient) -> None:
    await client.disconnect()
    await client.eio.http.close()


async def connect_socket(
    gateway: str, http: httpx.AsyncClient, api_token: str, tls_context: ssl.SSLContext
) -> tuple[socketio.AsyncClient, list[dict[str, Any]]]:
    """A dashboard connection through the gateway, collecting every ticket event it gets."""
    response = await http.post(
        "/api/v1/realtime/token", headers={"Authorization": f"Bearer {api_token}"}
    )
    assert response.status_code == 201, response.text
    received: list[dict[str, Any]] = []
    client = socket_client(tls_context)

    async def collect(envelope: dict[str, Any]) -> None:
        received.append(envelope)

    client.on("ticket.created", collect)
    client.on("ticket.updated", collect)

    await client.connect(
        gateway,
        auth={"token": response.json()["token"]},
        transports=["websocket"],
        wait_timeout=10,
    )
    return client, received
