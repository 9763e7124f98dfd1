"""The plain HTTP routes: liveness, readiness, metrics, and the error shape for the rest."""

import json

import aiohttp
import pytest
from redis.asyncio import Redis

from tests.support import http_get, listening, make_token, publish, ticket_created


async def test_liveness(app_url: str) -> None:
    status, headers, body = await http_get(f"{app_url}/health/live")
    assert status == 200
    assert json.loads(body) == {"status": "ok"}
    assert headers["X-Request-ID"]


async def test_readiness_checks_redis_and_the_reader(app_url: str) -> None:
    status, _, body = await http_get(f"{app_url}/health/")
    report = json.loads(body)
    assert status == 200
    assert report["status"] == "ok"
    assert report["checks"]["redis"]["ok"] is True
    assert report["checks"]["stream_reader"]["ok"] is True


async def test_metrics_expose_realtime_and_http_metrics(
    app_url: str, redis: Redis, stream: str
) -> None:
    async with listening(app_url, make_token(org=1)) as org1:
        await publish(redis, stream, ticket_created(organization_id=1, ticket_id=9))
        await org1.next_event()
        status, headers, body = await http_get(f"{app_url}/metrics")
    text = body.decode()
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    for name in (
        "realtime_connected_clients",
        'realtime_events_emitted_total{type="ticket.created"}',
        "realtime_event_delay_seconds_bucket",
        "realtime_rooms",
        'realtime_deliveries_total{path="live"}',
        "http_requests_total",
    ):
        assert name in text, name


async def test_unknown_path_is_404_in_the_error_shape(app_url: str) -> None:
    status, headers, body = await http_get(f"{app_url}/nope/../../etc")
    error = json.loads(body)
    assert status == 404
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["code"] == "not_found"
    assert error["details"] == {}
    assert error["request_id"] == headers["X-Request-ID"]


async def test_request_id_is_echoed(app_url: str) -> None:
    _, headers, body = await http_get(f"{app_url}/missing", {"X-Request-ID": "edge-42.a:b"})
    assert headers["X-Request-ID"] == "edge-42.a:b"
    assert json.loads(body)["request_id"] == "edge-42.a:b"


async def test_unsafe_request_id_is_replaced(app_url: str) -> None:
    _, headers, _ = await http_get(f"{app_url}/health/live", {"X-Request-ID": "a b\tc"})
    assert headers["X-Request-ID"] not in {"", "a b\tc"}


async def test_other_methods_are_405(app_url: str) -> None:
    status, headers, body = await http_get(f"{app_url}/metrics", method="POST")
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"
    assert json.loads(body)["code"] == "method_not_allowed"


async def test_websocket_to_an_unknown_path_is_refused(app_url: str) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await session.ws_connect(f"{app_url.replace('http', 'ws')}/nope")
    assert caught.value.status == 403


async def test_log_lines_are_json_with_the_request_id(
    app_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await http_get(f"{app_url}/nope", {"X-Request-ID": "trace-me-1"})
    async with listening(app_url, make_token(org=1)):
        pass
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    access = [r for r in records if r.get("event") == "request" and r.get("path") == "/nope"]
    assert access
    assert access[0]["request_id"] == "trace-me-1"
    assert access[0]["service"] == "realtime"
    connected = [r for r in records if r.get("event") == "client_connected"]
    assert connected
    assert connected[0]["organization_id"] == 1
    assert connected[0]["request_id"]
