"""``/health/`` (readiness: database and Redis) and ``/health/live`` (the process answers)."""

import time
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from helpdesk.common.redis import get_redis
from helpdesk_kit import health, metrics


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis() -> None:
    get_redis().ping()


def _run(check: Callable[[], None]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:  # a failed check is the answer, not an error
        return {
            "ok": False,
            "ms": round((time.perf_counter() - started) * 1000, 2),
            "error": f"{type(exc).__name__}: {exc}"[:300],
        }
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 2)}


@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    status, body = health.report({"database": _run(_database), "redis": _run(_redis)})
    return JsonResponse(body, status=status)


@require_GET
def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    body, content_type = metrics.exposition()
    return HttpResponse(body, content_type=content_type)
