"""Every error answer in the kit shape, through routes this module adds to a real app."""

from typing import Any

import pytest
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from app.config import Settings
from app.main import create_app
from tests.asgi import ASGIClient, Response
from tests.logs import json_lines

KIT_SHAPE = {"code", "message", "details", "request_id"}


class Ticket(BaseModel):
    subject: str = Field(min_length=3)
    priority: int


def add_test_routes(app: FastAPI) -> FastAPI:
    @app.post("/test/tickets")
    async def create_ticket(ticket: Ticket) -> Ticket:
        return ticket

    @app.get("/test/search")
    async def search(limit: int = 10) -> dict[str, int]:
        return {"limit": limit}

    @app.get("/test/conflict")
    async def conflict() -> None:
        raise HTTPException(409, detail="The ticket changed meanwhile.")

    @app.get("/test/teapot")
    async def teapot() -> None:
        raise HTTPException(418)

    @app.get("/test/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    return app


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return add_test_routes(create_app(settings))


def assert_kit_shape(response: Response, status: int, code: str) -> dict[str, Any]:
    assert response.status == status
    assert response.header("content-type") == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == KIT_SHAPE
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    assert body["request_id"] == response.header("x-request-id")
    return body


async def test_unknown_path_is_404(client: ASGIClient) -> None:
    response = await client.get("/no/such/path", headers={"X-Request-ID": "req-404"})

    body = assert_kit_shape(response, 404, "not_found")
    assert body["request_id"] == "req-404"
    assert body["message"] == "Nothing is here."  # as the core and the gateway say it
    assert body["details"] == {}


async def test_wrong_method_is_405(client: ASGIClient) -> None:
    response = await client.request("DELETE", "/health/live")

    assert_kit_shape(response, 405, "method_not_allowed")
    assert response.header("allow") == "GET"


async def test_invalid_body_is_422_with_field_details(client: ASGIClient) -> None:
    response = await client.request(
        "POST", "/test/tickets", json_body={"subject": "x", "priority": "high"}
    )

    body = assert_kit_shape(response, 422, "validation_error")
    assert set(body["details"]) == {"subject", "priority"}
    assert body["details"]["subject"] == ["String should have at least 3 characters"]
    assert all(isinstance(m, str) for msgs in body["details"].values() for m in msgs)


async def test_invalid_query_parameter_is_422(client: ASGIClient) -> None:
    response = await client.get("/test/search?limit=many")

    body = assert_kit_shape(response, 422, "validation_error")
    assert list(body["details"]) == ["limit"]


async def test_missing_body_is_422(client: ASGIClient) -> None:
    response = await client.request("POST", "/test/tickets")

    body = assert_kit_shape(response, 422, "validation_error")
    assert body["details"] == {"non_field_errors": ["Field required"]}


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"subject": "hello", ', "parse_error"),  # cut short
        (b"subject=hello&priority=1", "parse_error"),  # not JSON at all
        (b"\x80\x81 not UTF-8", "bad_request"),  # FastAPI: "There was an error parsing the body"
    ],
)
async def test_malformed_json_is_400_not_500(client: ASGIClient, raw: bytes, code: str) -> None:
    response = await client.request(
        "POST", "/test/tickets", body=raw, headers={"Content-Type": "application/json"}
    )

    body = assert_kit_shape(response, 400, code)
    assert body["details"] == {}


async def test_http_exception_keeps_status_and_message(client: ASGIClient) -> None:
    conflict = await client.get("/test/conflict")
    teapot = await client.get("/test/teapot")

    assert assert_kit_shape(conflict, 409, "conflict")["message"] == "The ticket changed meanwhile."
    assert assert_kit_shape(teapot, 418, "i_m_a_teapot")["message"] == "I'm a Teapot"


async def test_unhandled_exception_is_500_logged_and_not_leaked(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    # The app is built here, once capsys holds stdout, for the log lines to land in it.
    async with ASGIClient(add_test_routes(create_app(settings))).lifespan() as client:
        response = await client.get("/test/boom", headers={"X-Request-ID": "req-boom-1"})

    body = assert_kit_shape(response, 500, "internal_error")
    assert body["request_id"] == "req-boom-1"
    assert "secret" not in response.text
    assert "hunter2" not in response.text

    lines = json_lines(capsys.readouterr().out)
    [error] = [line for line in lines if line.get("event") == "unhandled_exception"]
    assert error["level"] == "error"
    assert error["request_id"] == "req-boom-1"
    assert error["path"] == "/test/boom"
    assert "Traceback" in error["exception"]
    assert "RuntimeError: secret internals" in error["exception"]
    # Logged once: Starlette's re-raise does not reach the server to be logged again.
    assert sum("Traceback" in str(line.get("exception", "")) for line in lines) == 1
    [access] = [line for line in lines if line.get("event") == "request"]
    assert access["status"] == 500
    assert access["request_id"] == "req-boom-1"
