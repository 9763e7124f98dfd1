"""A small in-process ASGI client for the tests.

Starlette's ``TestClient`` needs httpx, which is not among the dependencies; the ASGI protocol is
small enough to speak directly. It runs the lifespan like a server does (startup, the state
copied into each request, shutdown) and lets any exception that escapes the app propagate.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message

_ASGI = {"version": "3.0", "spec_version": "2.4"}


@dataclass(frozen=True)
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return json.loads(self.body)


class ASGIClient:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator["ASGIClient"]:
        to_app: asyncio.Queue[Message] = asyncio.Queue()
        from_app: asyncio.Queue[Message] = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": _ASGI, "state": self.state}

        async def run() -> None:
            await self.app(scope, to_app.get, from_app.put)

        task = asyncio.create_task(run())

        async def exchange(event: str) -> None:
            await to_app.put({"type": f"lifespan.{event}"})
            reply = asyncio.ensure_future(from_app.get())
            await asyncio.wait({reply, task}, return_when=asyncio.FIRST_COMPLETED)
            if not reply.done():
                reply.cancel()
                task.result()  # the app ended without answering: raise what it raised
                raise RuntimeError(f"the app ended during lifespan.{event}")
            message = reply.result()
            if message["type"] != f"lifespan.{event}.complete":
                raise RuntimeError(f"lifespan.{event} failed: {message.get('message')}")

        await exchange("startup")
        try:
            yield self
        finally:
            await exchange("shutdown")
            await task

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        json_body: Any = None,
    ) -> Response:
        header_list = {key.lower(): value for key, value in (headers or {}).items()}
        if json_body is not None:
            body = json.dumps(json_body).encode()
            header_list.setdefault("content-type", "application/json")
        if body:
            header_list["content-length"] = str(len(body))
        header_list.setdefault("host", "testserver")
        raw_path, _, query = path.partition("?")
        scope = {
            "type": "http",
            "asgi": _ASGI,
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": raw_path,
            "raw_path": raw_path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in header_list.items()],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            "state": dict(self.state),
        }
        incoming: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
        done = asyncio.Event()
        start: Message = {}
        chunks: list[bytes] = []

        async def receive() -> Message:
            if incoming:
                return incoming.pop(0)
            await done.wait()  # like a server: the client "disconnects" once answered
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    done.set()

        await self.app(scope, receive, send)
        assert start, "the app returned without starting a response"
        assert done.is_set(), "the app returned without finishing its response"
        return Response(
            status=start["status"],
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in start["headers"]],
            body=b"".join(chunks),
        )

    async def get(self, path: str, *, headers: Mapping[str, str] | None = None) -> Response:
        return await self.request("GET", path, headers=headers)
