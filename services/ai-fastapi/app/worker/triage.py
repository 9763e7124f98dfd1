"""The triage consumer: classifies new tickets and new customer messages, tells core.

A consumer group (``AI_TRIAGE_GROUP``) on ``EVENTS_STREAM``, created at the stream's start so
that nothing published before the first run is missed. It takes ``ticket.created``, and
``comment.created`` written by the customer to everyone (``from_customer`` and audience "all")
to triage again; other entries are acknowledged unread. Each verdict is POSTed to core's
``TRIAGE_PATH`` with the service credential; core is idempotent per ``event_id`` and decides
what to apply (its thresholds, routing, the audit trail).

Delivery: an entry is acknowledged only once core has answered 2xx, or with a permanent 4xx
(logged; anything but 408/429). Connection errors, 5xx, 408 and 429 are retried with a
growing pause (0.5 s doubling up to 30 s), holding back the entries behind it, which keeps the
order per ticket. After a restart, this consumer's own pending entries come first; entries of a
consumer that died are claimed (XAUTOCLAIM) once idle for ``AI_TRIAGE_CLAIM_IDLE_SECONDS``.

A comment event carries no subject, so the ticket's subject is remembered (30 days) from its
``ticket.created`` and read back for a re-triage.
"""

import asyncio
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from typing import cast

import structlog
from pydantic import ValidationError
from redis.asyncio import Redis

from app.config import Settings
from app.ml.classifier import CategoryModel, Classifier
from app.worker.training import consumer_name, ensure_group
from helpdesk_shared.events import CommentCreated, Envelope, TicketCreated, parse_event
from helpdesk_shared.streams import STREAM_FIELD_EVENT, STREAM_FIELD_TYPE
from helpdesk_shared.triage import TRIAGE_PATH, Prediction, TriageVerdict

log = structlog.stdlib.get_logger(__name__)

TRIAGED_TYPES = {b"ticket.created", b"comment.created"}
SUBJECT_TTL_SECONDS = 30 * 24 * 3600
BACKOFF_START, BACKOFF_MAX = 0.5, 30.0
READ_COUNT = 32


class Retry(Exception):
    """Core could not take the verdict now; the same entry is tried again later."""


Poster = Callable[[TriageVerdict, str | None], Awaitable[int]]
ModelFor = Callable[[int], Awaitable[CategoryModel | None]]


def http_poster(settings: Settings) -> Poster:
    url = str(settings.CORE_URL).rstrip("/") + TRIAGE_PATH
    token = settings.HELPDESK_SERVICE_TOKEN.get_secret_value()

    def post(body: bytes, request_id: str | None) -> int:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        if request_id:
            headers["X-Request-ID"] = request_id
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 (CORE_URL is http(s), checked by Settings)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    async def send(verdict: TriageVerdict, request_id: str | None) -> int:
        body = verdict.model_dump_json().encode()
        try:
            return await asyncio.to_thread(post, body, request_id)
        except (urllib.error.URLError, OSError) as exc:
            raise Retry(f"core unreachable: {exc}") from exc

    return send


class TriageConsumer:
    def __init__(
        self,
        redis: Redis,
        settings: Settings,
        classifier: Classifier,
        model_for: ModelFor,
        poster: Poster,
        consumer: str | None = None,
    ) -> None:
        self.redis = redis
        self.stream = settings.EVENTS_STREAM
        self.group = settings.AI_TRIAGE_GROUP
        self.prefix = settings.AI_KEY_PREFIX
        self.idle_ms = int(settings.AI_TRIAGE_CLAIM_IDLE_SECONDS * 1000)
        self.classifier = classifier
        self.model_for = model_for
        self.poster = poster
        self.consumer = consumer or consumer_name()
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def run(self, stop: asyncio.Event) -> None:
        await ensure_group(self.redis, self.stream, self.group)
        await self.drain_own_pending(stop)
        while not stop.is_set():
            await self.claim_abandoned(stop)
            await self.read_new(stop, block_ms=2000)

    async def drain_own_pending(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            entries = await self._read("0")
            if not entries:
                return
            await self._handle_all(entries, stop)

    async def claim_abandoned(self, stop: asyncio.Event) -> None:
        start = "0-0"
        while not stop.is_set():
            next_start, entries, *_ = await self.redis.xautoclaim(
                self.stream, self.group, self.consumer, self.idle_ms, start, count=READ_COUNT
            )
            await self._handle_all(entries, stop)
            start = next_start.decode() if isinstance(next_start, bytes) else str(next_start)
            if start == "0-0":
                return

    async def read_new(self, stop: asyncio.Event, block_ms: int | None = None) -> int:
        entries = await self._read(">", block_ms)
        await self._handle_all(entries, stop)
        return len(entries)

    async def _read(
        self, start: str, block_ms: int | None = None
    ) -> list[tuple[bytes, dict[bytes, bytes]]]:
        read = await self.redis.xreadgroup(
            self.group, self.consumer, {self.stream: start}, count=READ_COUNT, block=block_ms
        )
        return cast(list[tuple[bytes, dict[bytes, bytes]]], read[0][1]) if read else []

    async def _handle_all(
        self, entries: list[tuple[bytes, dict[bytes, bytes]]], stop: asyncio.Event
    ) -> None:
        for entry_id, fields in entries:
            pause = BACKOFF_START
            while True:
                try:
                    await self.handle(fields)
                    break
                except Retry as exc:
                    log.warning(
                        "triage_retry", entry=entry_id.decode(), reason=str(exc), pause=pause
                    )
                    if stop.is_set():
                        return  # left pending: the next start takes it again
                    await self.sleep(pause)
                    pause = min(pause * 2, BACKOFF_MAX)
            await self.redis.xack(self.stream, self.group, entry_id)

    async def handle(self, fields: dict[bytes, bytes]) -> None:
        """Triage one stream entry; return normally when it may be acknowledged."""
        if fields.get(STREAM_FIELD_TYPE.encode()) not in TRIAGED_TYPES or not fields:
            return
        try:
            event = parse_event(fields[STREAM_FIELD_EVENT.encode()])
        except (KeyError, ValidationError, ValueError) as exc:
            log.error("triage_unreadable_event", error=str(exc)[:300])
            return
        text = await self._text(event)
        if text is None or event.ticket_id is None:
            return
        subject, body = text
        category = await self.model_for(event.organization_id)
        result = self.classifier.classify(subject, body, category)
        verdict = TriageVerdict(
            event_id=event.id,
            organization_id=event.organization_id,
            ticket_id=event.ticket_id,
            **{
                head: Prediction(label=result[head]["label"], confidence=result[head]["confidence"])
                for head in ("category", "priority", "sentiment", "language")
            },
            model_id=result["model"]["id"],
            model_version=result["model"]["version"],
        )
        status = await self.poster(verdict, event.request_id)
        if 200 <= status < 300:
            log.info("triaged", event_id=str(event.id), ticket_id=event.ticket_id, type=event.type)
        elif status in (408, 429) or status >= 500:
            raise Retry(f"core answered {status}")
        else:
            log.error("triage_rejected", event_id=str(event.id), status=status)

    async def _text(self, event: Envelope) -> tuple[str, str] | None:
        key = f"{self.prefix}ticket-subject:{event.ticket_id}"
        if isinstance(event, TicketCreated):
            await self.redis.set(key, event.data.subject, ex=SUBJECT_TTL_SECONDS)
            return event.data.subject, event.data.description
        if isinstance(event, CommentCreated):
            if not event.data.from_customer or event.audience != "all" or not event.data.body:
                return None
            subject = await self.redis.get(key)
            return (subject.decode() if subject else ""), event.data.body
        return None
