"""Sentry, when a DSN is set: an unhandled error is reported once, with the request id."""

from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from app.config import Settings
from app.main import create_app
from tests.asgi import ASGIClient


class Recorder(Transport):
    """Keeps the events instead of sending them anywhere."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        for item in envelope.items:
            if item.type == "event" and item.payload.json is not None:
                self.events.append(item.payload.json)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    sentry_sdk.get_global_scope().set_client(None)  # Sentry off again for the other tests


async def test_unhandled_error_reported_once_with_request_id(
    settings: Settings, recorder: Recorder
) -> None:
    # A DSN that is never reached: the transport is swapped for the recorder right after init.
    app = create_app(settings.model_copy(update={"SENTRY_DSN": "https://key@sentry.invalid/1"}))
    sentry_sdk.get_client().transport = recorder

    @app.get("/test/boom/{n}")
    async def boom(n: int) -> None:
        raise RuntimeError(f"boom {n}")

    async with ASGIClient(app).lifespan() as client:
        failed = await client.get("/test/boom/7", headers={"X-Request-ID": "sentry-1"})
        missing = await client.get("/no/such/path")
        invalid = await client.get("/test/boom/seven")

    assert (failed.status, missing.status, invalid.status) == (500, 404, 422)
    [event] = recorder.events  # not the 4xx, and not a second copy from the logging integration
    assert event["tags"]["request_id"] == "sentry-1"
    assert event["tags"]["service"] == "ai"
    assert event["environment"] == settings.ENVIRONMENT
    assert event["transaction"] == "/test/boom/{n}"
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
