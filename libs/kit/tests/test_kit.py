"""The shared plumbing: request ids, the error shape, readiness, metrics, logs and Sentry."""

import asyncio
import json
from typing import Any

import pytest
import sentry_sdk
from pydantic import BaseModel, ValidationError

from helpdesk_kit import health, metrics
from helpdesk_kit.asgi import RequestContextMiddleware
from helpdesk_kit.errors import error_body, pydantic_details
from helpdesk_kit.logging import configure_logging
from helpdesk_kit.request_id import accept_or_new, bind_request_id, current_request_id
from helpdesk_kit.sentry import init_sentry


@pytest.mark.parametrize("good", ["abc", "gw-1234", "Req_1.2:3", "a" * 128])
def test_plain_request_ids_are_kept(good: str) -> None:
    assert accept_or_new(good) == good


@pytest.mark.parametrize("bad", [None, "", "a b", "a" * 129, "x\ny", "-leading", "é"])
def test_other_request_ids_are_replaced(bad: str | None) -> None:
    made = accept_or_new(bad)
    assert made != bad
    assert len(made) == 32


def test_error_body_has_the_one_shape() -> None:
    body = error_body("validation_error", "Bad.", "rid-1", {"subject": ("required",)})
    assert body == {
        "code": "validation_error",
        "message": "Bad.",
        "details": {"subject": ["required"]},
        "request_id": "rid-1",
    }


def test_pydantic_errors_become_field_details() -> None:
    class Item(BaseModel):
        name: str
        tags: list[int]

    with pytest.raises(ValidationError) as caught:
        Item.model_validate({"tags": [1, "x"]})
    errors = [{**e, "loc": ("body", *e["loc"])} for e in caught.value.errors()]
    assert set(pydantic_details(errors)) == {"name", "tags.1"}


async def test_readiness_reports_each_check_and_fails_on_any() -> None:
    async def ok() -> None:
        return None

    async def broken() -> None:
        raise ConnectionError("refused")

    async def slow() -> None:
        await asyncio.sleep(5)

    status, body = await health.readiness({"a": ok}, 0.2)
    assert (status, body["status"], body["checks"]["a"]["ok"]) == (200, "ok", True)

    status, body = await health.readiness({"a": ok, "b": broken, "c": slow}, 0.2)
    assert status == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["b"] == {
        "ok": False,
        "ms": body["checks"]["b"]["ms"],
        "error": "ConnectionError: refused",
    }
    assert body["checks"]["c"]["error"] == "timeout"


def _http_scope(path: str, headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": path, "headers": headers or []}


async def test_asgi_middleware_returns_the_request_id_and_counts_the_route(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("kit-test")
    seen: list[str | None] = []

    class Route:
        path = "/things/{id}"

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["route"] = Route()
        seen.append(current_request_id())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    wrapped = RequestContextMiddleware(app)
    await wrapped(_http_scope("/things/7", [(b"x-request-id", b"kit-rid-1")]), receive, send)
    assert seen == ["kit-rid-1"]
    assert (b"x-request-id", b"kit-rid-1") in sent[0]["headers"]
    assert current_request_id() is None  # unbound after the request
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["request_id"] == "kit-rid-1"
    assert line["service"] == "kit-test"
    assert line["status"] == 204
    body, _ = metrics.exposition()
    assert b'http_requests_total{method="GET",route="/things/{id}",status="204"}' in body


def test_c23_log_lines_are_json_with_the_bound_request_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import structlog

    configure_logging("kit-test")
    bind_request_id("bound-42")
    try:
        structlog.get_logger("x").warning("something", ticket=3)
    finally:
        bind_request_id(None)
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["event"] == "something"
    assert line["request_id"] == "bound-42"
    assert line["level"] == "warning"
    assert line["ticket"] == 3


def test_c21_log_file_rotation_is_configured_when_a_path_is_given(tmp_path: Any) -> None:
    import logging
    import logging.handlers

    configure_logging("kit-test", log_file=str(tmp_path / "app.log"))
    try:
        rotating = [
            h
            for h in logging.getLogger().handlers
            if isinstance(h, logging.handlers.RotatingFileHandler)
        ]
        assert {h.maxBytes for h in rotating} == {15 * 1024 * 1024}
        assert {h.backupCount for h in rotating} == {10}
        assert {h.level for h in rotating} == {logging.NOTSET, logging.ERROR}
    finally:
        configure_logging("kit-test")


def test_c20_sentry_is_off_without_a_dsn_and_tags_the_request_id_with_one() -> None:
    assert init_sentry(None, service="kit-test", environment="local") is False
    captured: list[dict[str, Any]] = []

    class Capture(sentry_sdk.transport.Transport):
        def capture_envelope(self, envelope: Any) -> None:
            for item in envelope.items:
                if item.type == "event":
                    captured.append(item.payload.json)

    assert init_sentry("https://public@sentry.invalid/1", service="kit-test", environment="local")
    sentry_sdk.get_client().transport = Capture()
    bind_request_id("sentry-rid")
    try:
        sentry_sdk.capture_message("hello")
        sentry_sdk.flush()
    finally:
        bind_request_id(None)
        sentry_sdk.init(dsn=None)
    assert captured
    assert captured[0]["tags"]["request_id"] == "sentry-rid"
    assert captured[0]["tags"]["service"] == "kit-test"
