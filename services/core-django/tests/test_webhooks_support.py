"""What the webhook tests share: a real HTTP receiver, a clock, events on a real stream.

A module of its own (named test_* so that it sits with the webhook tests; it holds no test).
"""

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import pytest
import redis

from helpdesk.accounts.models import Organization
from helpdesk.webhooks.policy import RetryPolicy
from helpdesk.webhooks.worker import WebhookWorker, WorkerConfig
from helpdesk_shared import Actor, Envelope, uuid7
from helpdesk_shared.streams import STREAM_FIELD_EVENT, STREAM_FIELD_ORG, STREAM_FIELD_TYPE


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    # When set, the answer waits until the test sets it (a receiver stuck until released).
    gate: threading.Event | None = None


class Receiver:
    """A webhook receiver on 127.0.0.1: records every request, answers from a script
    (then 200 once the script is used up)."""

    def __init__(self, *replies: Reply | int) -> None:
        self.requests: list[Received] = []
        self.script = [r if isinstance(r, Reply) else Reply(status=r) for r in replies]
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.requests.append(Received(self.path, dict(self.headers), body))
                    reply = receiver.script.pop(0) if receiver.script else Reply()
                time.sleep(reply.delay)
                if reply.gate is not None:
                    reply.gate.wait(10)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # the worker gave up waiting (a timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    """Receivers made in a test (``receivers.append(Receiver(...))``), closed after it."""
    made: list[Receiver] = []
    yield made
    for receiver in made:
        receiver.close()


def receiver_for(made: list[Receiver], *replies: Reply | int) -> Receiver:
    receiver = Receiver(*replies)
    made.append(receiver)
    return receiver


class Clock:
    """The worker's clock, moved by hand: backoff without sleeping."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    @property
    def timestamp(self) -> float:
        return self.now.timestamp()


def envelope(
    org: Organization, event_type: str = "ticket.created", *, audience: str = "all"
) -> Envelope:
    return Envelope(
        id=uuid7(),
        type=event_type,
        occurred_at=datetime.now(UTC),
        organization_id=org.pk,
        ticket_id=1,
        actor=Actor(kind="system"),
        audience=audience,  # type: ignore[arg-type]
        data={"number": 1, "subject": "The zip is stuck"},
    )


def publish(client: redis.Redis, stream: str, event: Envelope) -> bytes:
    """XADD as the outbox relay does."""
    fields: dict[Any, Any] = {
        STREAM_FIELD_EVENT: event.model_dump_json(),
        STREAM_FIELD_TYPE: event.type,
        STREAM_FIELD_ORG: str(event.organization_id),
    }
    return cast(bytes, client.xadd(stream, fields))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def group() -> str:
    return f"test-webhooks-{uuid.uuid4().hex[:8]}"


class Workers:
    """Makes workers on the test's stream and group, and closes them afterwards."""

    def __init__(self, client: redis.Redis, stream: str, group: str, clock: Clock) -> None:
        self.client, self.stream, self.group, self.clock = client, stream, group, clock
        self.made: list[WebhookWorker] = []

    def __call__(
        self,
        *,
        consumer: str = "worker-1",
        policy: RetryPolicy | None = None,
        allow_private: bool = True,
        **config: Any,
    ) -> WebhookWorker:
        worker = WebhookWorker(
            client=self.client,
            config=WorkerConfig(
                stream=self.stream,
                group=self.group,
                consumer=consumer,
                policy=policy or RetryPolicy(rand=lambda: 0.5),
                **config,
            ),
            clock=self.clock,
            allow_private=allow_private,
        )
        worker.ensure_group("0")
        self.made.append(worker)
        return worker


@pytest.fixture
def workers(redis_client: redis.Redis, stream: str, group: str, clock: Clock) -> Iterator[Workers]:
    made = Workers(redis_client, stream, group, clock)
    yield made
    for worker in made.made:
        worker.close()
