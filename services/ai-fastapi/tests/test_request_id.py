"""The request id: a sane incoming one is kept, anything else replaced, and it is in the logs."""

import re

import pytest

from app.config import Settings
from app.main import create_app
from tests.asgi import ASGIClient
from tests.conftest import wait_for_models
from tests.logs import json_lines

FRESH_ID = re.compile(r"[0-9a-f]{32}")


async def test_valid_incoming_id_is_echoed(client: ASGIClient) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": "gw-2024.11:abc_DEF-9"})

    assert response.header("x-request-id") == "gw-2024.11:abc_DEF-9"


async def test_id_is_made_when_none_comes(client: ASGIClient) -> None:
    response = await client.get("/health/live")

    assert FRESH_ID.fullmatch(response.header("x-request-id") or "")


@pytest.mark.parametrize(
    "incoming",
    ["has spaces in it", "x" * 300, 'quote"and\\backslash', "-starts-with-a-dash", ""],
)
async def test_invalid_incoming_id_is_replaced(client: ASGIClient, incoming: str) -> None:
    response = await client.get("/no/such/path", headers={"X-Request-ID": incoming})

    returned = response.header("x-request-id")
    assert returned != incoming
    assert FRESH_ID.fullmatch(returned or "")
    assert response.json()["request_id"] == returned


async def test_access_log_line_carries_the_id(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    # The app is built here, once capsys holds stdout, for the log lines to land in it.
    async with ASGIClient(create_app(settings)).lifespan() as client:
        await wait_for_models(client)
        kept = await client.get("/health/", headers={"X-Request-ID": "req-log-1"})
        made = await client.get("/health/")

    lines = json_lines(capsys.readouterr().out)
    access = {line["request_id"]: line for line in lines if line.get("event") == "request"}
    assert kept.header("x-request-id") == "req-log-1"
    for response in (kept, made):
        line = access[response.header("x-request-id") or ""]
        assert line["service"] == "ai"
        assert line["logger"] == "access"
        assert line["method"] == "GET"
        assert line["path"] == "/health/"
        assert line["status"] == response.status == 200
        assert isinstance(line["duration_ms"], float)
