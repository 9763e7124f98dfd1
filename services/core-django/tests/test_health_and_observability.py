"""Health endpoints, request ids and metrics: what ops and the gateway rely on."""

import json
from collections.abc import Iterator

import pytest
from django.test import Client, override_settings

from helpdesk.common.redis import get_redis


@pytest.fixture
def fresh_redis_pool() -> Iterator[None]:
    get_redis.cache_clear()
    yield
    get_redis.cache_clear()


@pytest.mark.django_db
def test_c09_ready_when_database_and_redis_answer(fresh_redis_pool: None) -> None:
    response = Client().get("/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True


@pytest.mark.django_db
@override_settings(REDIS_URL="redis://127.0.0.1:1/0")
def test_c09_not_ready_when_redis_is_unreachable(fresh_redis_pool: None) -> None:
    response = Client().get("/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is False
    assert "Connection" in body["checks"]["redis"]["error"]


def test_liveness_touches_no_dependency() -> None:
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        assert Client().get("/health/live").json() == {"status": "ok"}


def test_a_valid_request_id_is_kept_and_returned() -> None:
    response = Client().get("/health/live", HTTP_X_REQUEST_ID="gw-1234abcd")
    assert response["X-Request-ID"] == "gw-1234abcd"


@pytest.mark.parametrize("bad", ["has spaces", "x" * 300, "line\nbreak", "<script>"])
def test_an_unsafe_request_id_is_replaced(bad: str) -> None:
    response = Client().get("/health/live", HTTP_X_REQUEST_ID=bad)
    assert response["X-Request-ID"] != bad
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_c23_access_log_line_is_json_with_the_request_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    Client().get("/api/v1/tickets/", HTTP_X_REQUEST_ID="trace-me-42")
    lines = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    access = [line for line in lines if line.get("event") == "request"]
    assert access, lines
    assert access[-1]["request_id"] == "trace-me-42"
    assert access[-1]["status"] == 401
    assert access[-1]["service"] == "core"


@pytest.mark.django_db
def test_c26_metrics_count_requests_by_route_template_and_status() -> None:
    Client().get("/api/v1/tickets/12345/")
    text = Client().get("/metrics").content.decode()
    assert (
        'http_requests_total{method="GET",route="/api/v1/tickets/<int:number>/",status="401"}'
        in text
    )
    assert "http_request_duration_seconds_bucket" in text


@pytest.mark.django_db
def test_c13_api_responses_are_private_and_not_stored() -> None:
    assert Client().get("/api/v1/tickets/")["Cache-Control"] == "private, no-store"
    assert not Client().get("/health/live").has_header("Cache-Control")


@pytest.mark.django_db
def test_c47_database_queries_are_timed_and_slow_ones_logged(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from django.db import connection

    from helpdesk.common.middleware import DatabaseTimingMiddleware

    def view(request: object) -> object:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT pg_sleep(0.06)")
            else:
                cursor.execute("SELECT 1")
        from django.http import HttpResponse

        return HttpResponse("ok")

    DatabaseTimingMiddleware(view)(object())  # type: ignore[arg-type]
    text = Client().get("/metrics").content.decode()
    assert "db_query_duration_seconds_bucket" in text
    if connection.vendor == "postgresql":
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
        slow = [x for x in lines if x.get("event") == "slow_query"]
        assert slow
        assert slow[0]["duration_ms"] >= 50
        assert "pg_sleep" in slow[0]["sql"]


@override_settings(REDIS_POOL_SIZE=7)
def test_c02_redis_connections_come_from_one_pool_per_process_sized_by_env(
    fresh_redis_pool: None,
) -> None:
    client = get_redis()
    assert get_redis() is client
    assert client.connection_pool.max_connections == 7


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/health/live", "/health/"])
def test_c27_probes_by_ip_address_are_answered_despite_allowed_hosts(
    path: str, fresh_redis_pool: None
) -> None:
    """A load balancer probes a task at its private IP, never in ALLOWED_HOSTS."""
    with override_settings(ALLOWED_HOSTS=["helpdesk.example.com"]):
        assert Client().get(path, HTTP_HOST="10.0.1.5:8000").status_code == 200
        assert Client().get("/api/v1/me", HTTP_HOST="10.0.1.5:8000").status_code == 400
