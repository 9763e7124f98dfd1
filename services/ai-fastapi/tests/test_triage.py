"""The triage consumer against real Redis and a real HTTP server standing in for core."""

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import AnyHttpUrl
from redis.asyncio import Redis

from app.config import Settings
from app.ml.classifier import CategoryModel, Classifier
from app.ml.defaults import load_or_train
from app.ml.language import LanguageModel
from app.ml.store import LocalArtifactStore
from app.worker.triage import TriageConsumer, http_poster
from helpdesk_shared.ids import uuid7
from helpdesk_shared.triage import TRIAGE_PATH
from tests.conftest import SERVICE_TOKEN


class FakeCore:
    """Answers each POST with the next status of ``statuses`` (then 200), records the bodies."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.received: list[tuple[str, str, dict[str, Any]]] = []
        core = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                core.received.append((self.path, self.headers["Authorization"], body))
                status = core.statuses.pop(0) if core.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def core() -> Iterator[FakeCore]:
    fake = FakeCore()
    yield fake
    fake.server.shutdown()


@pytest.fixture
def triage_settings(settings: Settings, core: FakeCore) -> Settings:
    return settings.model_copy(update={"CORE_URL": AnyHttpUrl(core.url)})


@pytest.fixture
async def redis(triage_settings: Settings) -> Any:
    client = Redis.from_url(str(triage_settings.REDIS_URL))
    yield client
    async for key in client.scan_iter(match=f"{triage_settings.AI_KEY_PREFIX}*"):
        await client.delete(key)
    await client.aclose()


def consumer(redis: Redis, settings: Settings, name: str = "c1") -> TriageConsumer:
    bundle = load_or_train(LocalArtifactStore(settings.AI_MODEL_DIR))
    classifier = Classifier(bundle, LanguageModel(settings.AI_LANGUAGES), 0.5)

    async def default_model(organization_id: int) -> CategoryModel | None:
        return None

    made = TriageConsumer(
        redis, settings, classifier, default_model, http_poster(settings), consumer=name
    )

    async def no_wait(seconds: float) -> None:
        await asyncio.sleep(0)

    made.sleep = no_wait
    return made


def envelope(kind: str, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": str(uuid7()),
        "type": kind,
        "occurred_at": datetime.now(UTC).isoformat(),
        "organization_id": 5,
        "ticket_id": 42,
        "actor": {"kind": "user", "id": 9, "role": "customer"},
        "request_id": "req-triage-1",
        "data": data,
        **extra,
    }


def ticket_created(subject: str, description: str) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return envelope(
        "ticket.created",
        {
            "number": 1,
            "subject": subject,
            "description": description,
            "status": "new",
            "priority": "normal",
            "channel": "api",
            "requester_id": 9,
            "created_at": now,
        },
    )


def comment_created(body: str, *, from_customer: bool, audience: str = "all") -> dict[str, Any]:
    data = {
        "comment_id": 3,
        "number": 1,
        "author_id": 9,
        "public": audience == "all",
        "body": body,
        "created_at": datetime.now(UTC).isoformat(),
        "from_customer": from_customer,
    }
    return envelope("comment.created", data, audience=audience)


async def publish(redis: Redis, settings: Settings, event: dict[str, Any]) -> None:
    await redis.xadd(
        settings.EVENTS_STREAM,
        {"event": json.dumps(event), "type": event["type"], "org": str(event["organization_id"])},
    )


async def pending(redis: Redis, settings: Settings) -> int:
    info = await redis.xpending(settings.EVENTS_STREAM, settings.AI_TRIAGE_GROUP)
    return int(info["pending"])


async def start(made: TriageConsumer) -> None:
    await made.redis.xgroup_create(made.stream, made.group, id="0", mkstream=True)


async def test_a_new_ticket_is_triaged_and_acknowledged(
    redis: Redis, triage_settings: Settings, core: FakeCore
) -> None:
    made = consumer(redis, triage_settings)
    await start(made)
    event = ticket_created("Parcel lost", "My order never arrived, tracking stuck for a week.")
    await publish(redis, triage_settings, event)

    await made.read_new(asyncio.Event())

    assert len(core.received) == 1
    path, authorization, verdict = core.received[0]
    assert path == TRIAGE_PATH
    assert authorization == f"Bearer {SERVICE_TOKEN}"
    assert verdict["event_id"] == event["id"]
    assert (verdict["organization_id"], verdict["ticket_id"]) == (5, 42)
    assert verdict["category"]["label"] == "shipping_delivery"
    assert verdict["language"]["label"] == "en"
    assert verdict["model_id"] == "default"
    assert await pending(redis, triage_settings) == 0


async def test_core_errors_are_retried_and_permanent_refusals_acknowledged(
    redis: Redis, triage_settings: Settings, core: FakeCore
) -> None:
    made = consumer(redis, triage_settings)
    await start(made)
    core.statuses = [503, 429, 200, 400]
    await publish(redis, triage_settings, ticket_created("Refund", "Where is my refund?"))
    await publish(redis, triage_settings, ticket_created("Invoice", "Wrong VAT on invoice"))

    await made.read_new(asyncio.Event())

    assert [body["ticket_id"] for _, _, body in core.received] == [42, 42, 42, 42]
    assert len({body["event_id"] for _, _, body in core.received[:3]}) == 1
    assert await pending(redis, triage_settings) == 0


async def test_customer_replies_are_retriaged_with_the_subject_and_others_skipped(
    redis: Redis, triage_settings: Settings, core: FakeCore
) -> None:
    made = consumer(redis, triage_settings)
    await start(made)
    await publish(redis, triage_settings, ticket_created("Cannot log in", "Password rejected"))
    await publish(redis, triage_settings, comment_created("Still locked out!", from_customer=True))
    await publish(redis, triage_settings, comment_created("Looking into it", from_customer=False))
    await publish(
        redis,
        triage_settings,
        comment_created("internal note", from_customer=True, audience="staff"),
    )
    await publish(redis, triage_settings, {"type": "ticket.updated", "organization_id": 5})

    await made.read_new(asyncio.Event())

    assert len(core.received) == 2
    assert await pending(redis, triage_settings) == 0


async def test_after_a_crash_pending_entries_are_claimed_and_triaged(
    redis: Redis, triage_settings: Settings, core: FakeCore
) -> None:
    settings = triage_settings.model_copy(update={"AI_TRIAGE_CLAIM_IDLE_SECONDS": 0.01})
    dead = consumer(redis, settings, name="dead")
    await start(dead)
    await publish(redis, settings, ticket_created("Refund", "Where is my money?"))
    await dead._read(">")  # read, then died before acknowledging
    assert await pending(redis, settings) == 1
    await asyncio.sleep(0.05)

    await consumer(redis, settings, name="alive").claim_abandoned(asyncio.Event())

    assert len(core.received) == 1
    assert await pending(redis, settings) == 0


async def test_a_restarted_consumer_first_finishes_its_own_pending_entries(
    redis: Redis, triage_settings: Settings, core: FakeCore
) -> None:
    made = consumer(redis, triage_settings, name="same")
    await start(made)
    await publish(redis, triage_settings, ticket_created("Refund", "Where is my money?"))
    await made._read(">")

    await consumer(redis, triage_settings, name="same").drain_own_pending(asyncio.Event())

    assert len(core.received) == 1
    assert await pending(redis, triage_settings) == 0
