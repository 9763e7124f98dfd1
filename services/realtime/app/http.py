"""The little plain HTTP this service answers besides Socket.IO: health, metrics, and 404s.

Plain ASGI rather than a framework: three fixed routes do not justify one, and the Socket.IO
ASGI app hands every non-Socket.IO request here (``other_asgi_app``).
"""

import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Final

from helpdesk_kit.errors import error_body
from helpdesk_kit.health import readiness
from helpdesk_kit.metrics import exposition
from helpdesk_kit.request_id import current_request_id

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Check = Callable[[], Awaitable[object]]

HEALTH: Final = "/health/"
LIVE: Final = "/health/live"
METRICS: Final = "/metrics"
ROUTES: Final = frozenset({HEALTH, LIVE, METRICS})
SOCKETIO_ROUTE: Final = "/socket.io/"
UNMATCHED: Final = "<unmatched>"
_READ_METHODS: Final = frozenset({"GET", "HEAD"})


def route_of(scope: Scope) -> str:
    """The metrics label of a request: a fixed set, never the raw path."""
    path: str = scope.get("path", "")
    if path == SOCKETIO_ROUTE.rstrip("/") or path.startswith(SOCKETIO_ROUTE):
        return SOCKETIO_ROUTE
    return path if path in ROUTES else UNMATCHED


class HttpRoutes:
    def __init__(self, checks: Mapping[str, Check]) -> None:
        self._checks = checks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            # A WebSocket to anything but /socket.io/: closing before accepting answers 403.
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path not in ROUTES:
            await _error(send, method, 404, "not_found", f"No route for {path}.")
            return
        if method not in _READ_METHODS:
            await _error(
                send,
                method,
                405,
                "method_not_allowed",
                f"{method} is not allowed here.",
                [(b"allow", b"GET, HEAD")],
            )
            return
        if path == LIVE:
            # Liveness: the event loop answers. Dependencies are readiness's business.
            await _json(send, method, 200, {"status": "ok"})
        elif path == HEALTH:
            status, report = await readiness(self._checks)
            await _json(send, method, status, report)
        else:
            payload, content_type = exposition()
            await _respond(send, method, 200, payload, content_type.encode())


async def _error(
    send: Send,
    method: str,
    status: int,
    code: str,
    message: str,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """The kit's error shape, with the request id the middleware bound for this request."""
    body = error_body(code, message, current_request_id())
    await _json(send, method, status, body, extra_headers)


async def _json(
    send: Send,
    method: str,
    status: int,
    body: Any,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    payload = json.dumps(body, separators=(",", ":")).encode()
    await _respond(send, method, status, payload, b"application/json", extra_headers)


async def _respond(
    send: Send,
    method: str,
    status: int,
    payload: bytes,
    content_type: bytes,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(payload)).encode()),
        (b"cache-control", b"no-store"),
        *(extra_headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else payload})
