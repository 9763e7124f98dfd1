"""Pure ASGI middleware shared by the FastAPI and Socket.IO services.

For every HTTP request: accept or make the request id, bind it to the context (so every log line
and event of the request carries it), return it in ``X-Request-ID``, record the metrics and write
one access log line. Pure ASGI rather than Starlette's ``BaseHTTPMiddleware``: it adds no task
per request and works under any ASGI app.
"""

import time
from collections.abc import Callable, MutableMapping
from typing import Any

import structlog

from helpdesk_kit import metrics
from helpdesk_kit.request_id import HEADER, accept_or_new, bind_request_id

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[..., Any]

_HEADER_LOWER = HEADER.lower().encode()
log = structlog.get_logger("access")


def route_template(scope: Scope) -> str:
    """The matched route's template (``/ai/v1/models/{id}``), never the raw path.

    Metric labels must stay few; a raw path would make one series per ticket.
    """
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "<unmatched>"


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        route_of: Callable[[Scope], str] = route_template,
        quiet_paths: frozenset[str] = frozenset({"/health/live", "/metrics"}),
    ) -> None:
        self.app = app
        self.route_of = route_of
        self.quiet_paths = quiet_paths

    async def __call__(
        self, scope: Scope, receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        incoming = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == _HEADER_LOWER), None
        )
        request_id = accept_or_new(incoming)
        bind_request_id(request_id)
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != _HEADER_LOWER
                ]
                headers.append((_HEADER_LOWER, request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            method = scope.get("method", "GET")
            metrics.observe(method, self.route_of(scope), status, elapsed)
            if scope["path"] not in self.quiet_paths:
                log.info(
                    "request",
                    method=method,
                    path=scope["path"],
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                )
            bind_request_id(None)
