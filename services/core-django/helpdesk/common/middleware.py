"""The first middleware of every request: request id, access log line, HTTP metrics.

The id comes from the gateway's ``X-Request-ID`` (or is made here); it is bound to the context
so every log line and every event written during the request carries it, and it is returned in
the response. The access line replaces gunicorn's, which cannot see the id.
"""

import time
from collections.abc import Callable
from typing import Any

import structlog
from django.db import connection
from django.http import HttpRequest, HttpResponse
from prometheus_client import Histogram

from helpdesk.common import health
from helpdesk_kit import metrics
from helpdesk_kit.request_id import HEADER, accept_or_new, bind_request_id

log = structlog.get_logger("access")
_QUIET = frozenset({"/health/live", "/metrics"})
_HEALTH = frozenset({"/health/", "/health/live"})
_META_KEY = "HTTP_" + HEADER.upper().replace("-", "_")


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = accept_or_new(request.META.get(_META_KEY))
        request.request_id = request_id  # type: ignore[attr-defined]
        bind_request_id(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[HEADER] = request_id
            elapsed = time.perf_counter() - started
            match = request.resolver_match
            if match is not None and match.route:
                route = f"/{match.route}"
            else:  # answered before URL resolution (health) or by no route at all
                route = request.path if request.path in _HEALTH else "<unmatched>"
            metrics.observe(request.method or "GET", route, response.status_code, elapsed)
            if request.path not in _QUIET:
                log.info(
                    "request",
                    method=request.method,
                    path=request.path,
                    status=response.status_code,
                    duration_ms=round(elapsed * 1000, 2),
                )
            return response
        finally:
            bind_request_id(None)


class PrivateApiCacheMiddleware:
    """API responses carry a user's data: never cacheable by a shared cache (seed C13).

    The seed's ``Cache-Control: public`` for dynamic content would let a CDN or proxy serve one
    user's tickets to another; a view that really answers the same for everyone may still set
    its own header.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith("/api/") and not response.has_header("Cache-Control"):
            response["Cache-Control"] = "private, no-store"
        return response


_DB_QUERY_SECONDS = Histogram(
    "db_query_duration_seconds",
    "Time of each database query made while answering a request",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
SLOW_QUERY_SECONDS = 0.05  # seed C47: queries should stay under 50 ms; slower ones are logged


class DatabaseTimingMiddleware:
    """Times every query of a request (seed C47): a histogram, and a log line when slow."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with connection.execute_wrapper(_timed_query):
            return self.get_response(request)


def _timed_query(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
) -> Any:
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        elapsed = time.perf_counter() - started
        _DB_QUERY_SECONDS.observe(elapsed)
        if elapsed > SLOW_QUERY_SECONDS:
            log.warning("slow_query", duration_ms=round(elapsed * 1000, 2), sql=sql[:500])


class HealthCheckMiddleware:
    """Answers ``/health/`` and ``/health/live`` before anything checks the Host header.

    Load balancers and orchestrators probe a task by its IP address, which is not (and should
    not be) in ALLOWED_HOSTS; without this, every probe would get a 400 and no task would ever
    turn healthy. These answers carry no user data and take no input.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "GET":
            if request.path == "/health/live":
                return health.live(request)
            if request.path == "/health/":
                return health.ready(request)
        return self.get_response(request)
