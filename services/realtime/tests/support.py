"""Helpers the tests share: tokens, events, a real server on a free port, real clients."""

import asyncio
import contextlib
import json
import shutil
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import aiohttp
import jwt
import socketio
import uvicorn
from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT

from app.config import Settings
from app.main import create_app
from helpdesk_shared import (
    REALTIME_TOKEN_AUDIENCE,
    REALTIME_TOKEN_ISSUER,
    Actor,
    CommentCreated,
    CommentCreatedData,
    Envelope,
    TicketCreated,
    TicketCreatedData,
    uuid7,
)
from helpdesk_shared.access import ROOM_ACCESS_PATH, RoomAccess, RoomAccessRequest
from helpdesk_shared.streams import (
    STREAM_FIELD_EVENT,
    STREAM_FIELD_ORG,
    STREAM_FIELD_TYPE,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
SECRET = "test-realtime-secret-0123456789-abcdefghij"
WAIT_S = 10.0


# Tokens ---------------------------------------------------------------------------------------


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": REALTIME_TOKEN_ISSUER,
        "aud": REALTIME_TOKEN_AUDIENCE,
        "sub": "7",
        "org": 1,
        "role": "agent",
        "iat": now,
        "exp": now + 300,
    }
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not None}


def make_token(secret: str = SECRET, algorithm: str = "HS256", **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), secret, algorithm=algorithm)


# Events ---------------------------------------------------------------------------------------


def ticket_created(
    organization_id: int, ticket_id: int, subject: str = "Printer on fire", requester_id: int = 99
) -> TicketCreated:
    now = datetime.now(UTC)
    return TicketCreated(
        id=uuid7(),
        occurred_at=now,
        organization_id=organization_id,
        ticket_id=ticket_id,
        actor=Actor(kind="user", id=7, role="agent"),
        request_id="req-test",
        data=TicketCreatedData(
            number=ticket_id,
            subject=subject,
            description="It is on fire.",
            status="new",
            priority="high",
            channel="web",
            requester_id=requester_id,
            created_at=now - timedelta(milliseconds=5),
        ),
    )


async def publish(redis: Redis, stream: str, event: Envelope) -> str:
    """XADD an envelope the way the outbox relay does: the JSON plus type and org beside it."""
    fields: dict[FieldT, EncodableT] = {
        STREAM_FIELD_EVENT: event.model_dump_json(),
        STREAM_FIELD_TYPE: event.type,
        STREAM_FIELD_ORG: str(event.organization_id),
    }
    return str(await redis.xadd(stream, fields))


# The app under uvicorn -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


SERVICE_TOKEN = "test-service-token-0123456789"


def make_settings(stream: str, redis_url: str = REDIS_URL, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "realtime_token_secret": SECRET,
        "events_stream": stream,
        "environment": "local",
        "log_level": "INFO",
        "helpdesk_service_token": SERVICE_TOKEN,
        # Keys of the test's own, so tests never see each other's registry or presence.
        "realtime_key_prefix": f"{stream}:rt:",
    }
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def serve(settings: Settings, *, wait_ready: bool = True) -> AsyncIterator[str]:
    """Run the real app under uvicorn in this event loop; yield its base URL.

    With ``wait_ready`` it returns only once ``/health/`` says 200, i.e. the stream reader has
    found its start position, so an event published afterwards is certain to be emitted.
    """
    port = free_port()
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan="on",
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT_S
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped before it started")
            assert time.monotonic() < deadline, "uvicorn did not start"
            await asyncio.sleep(0.02)
        if wait_ready:
            await wait_for_health(url, 200)
        yield url
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT_S)


async def http_get(
    url: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, headers=headers) as response,
    ):
        return response.status, dict(response.headers), await response.read()


async def wait_for_health(url: str, status: int, within: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    last: tuple[int, bytes] | None = None
    while time.monotonic() < deadline:
        code, _, body = await http_get(f"{url}/health/")
        last = (code, body)
        if code == status:
            parsed: dict[str, Any] = json.loads(body)
            return parsed
        await asyncio.sleep(0.1)
    raise AssertionError(f"/health/ never answered {status}; last answer: {last}")


# Socket.IO clients ---------------------------------------------------------------------------


# Messages of the service itself, kept apart from the events a test waits for.
CONTROL = frozenset({"ready", "resync", "error", "reconnect", "token.expiring", "token.expired"})


@dataclass
class Listener:
    """A real Socket.IO client that records what it receives.

    ``events`` gets the helpdesk events (and presence); the service's own messages go to
    ``control`` (``ready``, ``resync``, ``error``, ...). ``connect`` returns once ``ready``
    came, i.e. once the connection is in its rooms.
    """

    client: Any = field(default_factory=lambda: socketio.AsyncClient(reconnection=False))
    events: asyncio.Queue[tuple[str, Any]] = field(default_factory=asyncio.Queue)
    control: asyncio.Queue[tuple[str, Any]] = field(default_factory=asyncio.Queue)
    connect_errors: list[Any] = field(default_factory=list)
    ready: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.client.on("*", self._on_any)
        self.client.on("connect_error", self._on_connect_error)

    async def _on_any(self, event: str, data: Any) -> None:
        if event == "ready":
            self.ready.append(data)
        await (self.control if event in CONTROL else self.events).put((event, data))

    async def _on_connect_error(self, data: Any) -> None:
        self.connect_errors.append(data)

    async def connect(self, url: str, auth: Any, *, wait_ready: bool = True) -> None:
        await self.client.connect(url, auth=auth, wait_timeout=WAIT_S, transports=["websocket"])
        if wait_ready:
            await self.next_control("ready")

    async def next_control(self, name: str, within: float = WAIT_S) -> Any:
        """The next service message named ``name`` (others before it are dropped)."""
        deadline = time.monotonic() + within
        while True:
            event, data = await asyncio.wait_for(
                self.control.get(), max(deadline - time.monotonic(), 0.01)
            )
            if event == name:
                return data

    async def call(self, event: str, data: Any) -> Any:
        return await self.client.call(event, data, timeout=WAIT_S)

    async def next_event(self, within: float = WAIT_S) -> tuple[str, Any]:
        return await asyncio.wait_for(self.events.get(), within)

    async def close(self) -> None:
        if self.client.connected:
            await self.client.disconnect()


@contextlib.asynccontextmanager
async def listening(url: str, token: str, **auth: Any) -> AsyncIterator[Listener]:
    listener = Listener()
    await listener.connect(url, {"token": token, **auth})
    try:
        yield listener
    finally:
        await listener.close()


# A private Redis server ------------------------------------------------------------------------


class RedisProcess:
    """A ``redis-server`` of our own, on a fixed port, that a test may kill and restart."""

    def __init__(self, binary: str, port: int, workdir: Path) -> None:
        self.binary = binary
        self.port = port
        self.workdir = workdir
        self.url = f"redis://127.0.0.1:{port}/0"
        self._proc: asyncio.subprocess.Process | None = None

    @classmethod
    def find_binary(cls) -> str | None:
        return shutil.which("redis-server")

    async def start(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            self.binary,
            *("--port", str(self.port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--dir", str(self.workdir)),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        client = Redis.from_url(self.url)
        deadline = time.monotonic() + WAIT_S
        try:
            while True:
                try:
                    await cast(Awaitable[bool], client.ping())
                    return
                except Exception:  # refused until it listens
                    if time.monotonic() > deadline or self._proc.returncode is not None:
                        raise
                    await asyncio.sleep(0.05)
        finally:
            await client.aclose()

    async def kill(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()
            await asyncio.wait_for(self._proc.wait(), WAIT_S)
        self._proc = None


def new_stream_name() -> str:
    return f"test:events:{uuid.uuid4()}"


def comment_created(
    organization_id: int,
    ticket_id: int,
    *,
    public: bool,
    body: str,
    requester_id: int = 99,
    company_id: int | None = None,
) -> CommentCreated:
    """A reply (public) or an internal note, routed as core routes it."""
    now = datetime.now(UTC)
    return CommentCreated(
        id=uuid7(),
        occurred_at=now,
        organization_id=organization_id,
        ticket_id=ticket_id,
        actor=Actor(kind="user", id=7, role="agent"),
        audience="all" if public else "staff",
        requester_id=requester_id,
        company_id=company_id,
        data=CommentCreatedData(
            comment_id=ticket_id * 100 + (1 if public else 2),
            number=ticket_id,
            author_id=7,
            public=public,
            body=body,
            created_at=now,
        ),
    )


# Core, as far as room access goes ------------------------------------------------------------


@dataclass
class FakeCore:
    """A real HTTP server playing core's room-access endpoint (helpdesk_shared.access).

    ``allow[(user_id, kind, id)] = organization_id``; anything else is refused. Requests are
    recorded, and a wrong service credential gets 401 as core would answer it.
    """

    allow: dict[tuple[int, str, int], int] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        if headers.get(b"authorization") != f"Bearer {SERVICE_TOKEN}".encode():
            await _send_json(send, 401, {"code": "authentication_failed"})
            return
        if scope["path"] != ROOM_ACCESS_PATH or scope["method"] != "POST":
            await _send_json(send, 404, {"code": "not_found"})
            return
        request = RoomAccessRequest.model_validate_json(body)
        self.requests.append(request.model_dump())
        org = self.allow.get((request.user_id, request.kind, request.id))
        answer = (
            RoomAccess(allowed=True, organization_id=org, number=request.id)
            if org is not None
            else RoomAccess(allowed=False, reason="not yours")
        )
        await _send_json(send, 200, answer.model_dump())


async def _send_json(send: Any, status: int, body: Any) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": payload})


@contextlib.asynccontextmanager
async def serving_core(core: FakeCore) -> AsyncIterator[FakeCore]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(core, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        core.url = f"http://127.0.0.1:{port}"
        yield core
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT_S)


async def delete_keys(redis: Redis, pattern: str) -> None:
    keys = [key async for key in redis.scan_iter(match=pattern, count=500)]
    if keys:
        await redis.delete(*keys)
