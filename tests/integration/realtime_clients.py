"""Dashboard clients for the realtime tests: a python-socketio client that keeps its position
(``offset``) and reconnects with it, the way a dashboard is meant to use the service."""

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
import socketio

WAIT_S = 15.0


def bearer(user: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {user['token']}"}


async def realtime_token(http: httpx.AsyncClient, user: dict[str, Any]) -> str:
    response = await http.post("/api/v1/realtime/token", headers=bearer(user))
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


async def eventually(condition: Callable[[], bool], within: float = WAIT_S) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@dataclass
class Dashboard:
    """Records every message; reconnects by itself with ``last_event_id`` = its last offset."""

    url: str
    token: str
    tls: ssl.SSLContext | None
    reconnect: bool = False
    offset: str | None = None
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    control: list[tuple[str, Any]] = field(default_factory=list)
    client: Any = None

    def __post_init__(self) -> None:
        connector = aiohttp.TCPConnector(ssl=self.tls) if self.tls else aiohttp.TCPConnector()
        self.client = socketio.AsyncClient(
            reconnection=self.reconnect,
            reconnection_delay=0.2,
            reconnection_delay_max=1.0,
            http_session=aiohttp.ClientSession(connector=connector),
        )
        self.client.on("*", self._on_any)

    async def _auth(self) -> dict[str, Any]:
        auth: dict[str, Any] = {"token": self.token}
        if self.offset is not None:
            auth["last_event_id"] = self.offset
        return auth

    async def _on_any(self, name: str, data: Any = None) -> None:
        if isinstance(data, dict) and name in {"ready", "resync"}:
            self.offset = data["offset"]
        if name in {"ready", "resync", "error", "reconnect", "token.expiring", "token.expired"}:
            self.control.append((name, data))
            return
        if isinstance(data, dict) and "offset" in data:
            self.offset = data["offset"]
        self.events.append((name, data))

    def readies(self) -> list[dict[str, Any]]:
        return [data for name, data in self.control if name == "ready"]

    async def connect(self) -> None:
        count = len(self.readies())
        await self.client.connect(
            self.url, auth=self._auth, transports=["websocket"], wait_timeout=10
        )
        await eventually(lambda: len(self.readies()) > count)

    def ticket_ids(self, name: str = "ticket.created") -> list[int]:
        return [data["ticket_id"] for event, data in self.events if event == name]

    def event_ids(self) -> list[str]:
        return [data["id"] for _, data in self.events]

    async def call(self, event: str, data: Any) -> Any:
        return await self.client.call(event, data, timeout=10)

    async def close(self) -> None:
        if self.client.connected:
            await self.client.disconnect()
        await self.client.eio.http.close()


@contextlib.asynccontextmanager
async def dashboard(
    url: str, token: str, tls: ssl.SSLContext | None, *, reconnect: bool = False
) -> AsyncIterator[Dashboard]:
    board = Dashboard(url, token, tls, reconnect=reconnect)
    await board.connect()
    try:
        yield board
    finally:
        await board.close()


async def create_ticket(
    http: httpx.AsyncClient, user: dict[str, Any], subject: str = "Realtime test"
) -> dict[str, Any]:
    response = await http.post(
        "/api/v1/tickets/",
        json={"subject": subject, "description": "Sent while someone watches."},
        headers=bearer(user),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())
