"""The webhook worker: events from the stream become deliveries, deliveries become requests.

Reading: a Redis consumer group on the events stream (XREADGROUP), so several workers share
the work and an entry is acknowledged only after its deliveries are committed; entries a dead
worker left unacknowledged are taken over (XAUTOCLAIM). Deliveries are unique per (endpoint,
event), so reading an entry twice is harmless.

Sending: a bounded thread pool does the HTTP requests, and only the HTTP requests; the main
thread claims due deliveries, signs them, and records every outcome. So the database is used
from one thread (one connection, SQLite-friendly, no cross-thread transactions in tests), a
slow receiver holds one pool slot for at most its timeout while the stream keeps being read,
and a per-endpoint cap keeps one failing receiver from taking every slot.
"""

import json
import os
import socket
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast
from uuid import UUID

import redis
import structlog
from django.db import close_old_connections, transaction
from django.utils import timezone

from helpdesk.webhooks import conf, selectors, transport
from helpdesk.webhooks.policy import RetryPolicy
from helpdesk.webhooks.services import (
    StreamEvent,
    deliveries_create,
    deliveries_purge,
    delivery_attempt_record,
    delivery_claim,
)
from helpdesk.webhooks.signing import signed_headers, signing_secrets
from helpdesk.webhooks.transport import SendResult
from helpdesk_shared.streams import STREAM_FIELD_EVENT

log = structlog.get_logger(__name__)

Entry = tuple[bytes, dict[bytes, bytes] | None]
Sender = Callable[..., SendResult]


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class WorkerConfig:
    stream: str
    group: str = "webhooks"
    consumer: str = field(default_factory=default_consumer_name)
    batch_size: int = 100
    concurrency: int = 8
    per_endpoint: int = 2
    timeout: float = 10.0
    # An entry unacknowledged this long belongs to a worker that died: take it over.
    claim_idle_ms: int = 60_000
    policy: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(frozen=True)
class _Job:
    delivery_id: int
    endpoint_id: int
    trigger: str
    started_at: datetime


def _parse(fields: dict[bytes, bytes]) -> StreamEvent:
    raw = fields[STREAM_FIELD_EVENT.encode()].decode()
    envelope = json.loads(raw)
    return StreamEvent(
        event_id=UUID(str(envelope["id"])),
        event_type=str(envelope["type"]),
        organization_id=int(envelope["organization_id"]),
        payload=raw,
    )


class WebhookWorker:
    def __init__(
        self,
        *,
        client: "redis.Redis",
        config: WorkerConfig,
        clock: Callable[[], datetime] = timezone.now,
        send: Sender = transport.post,
        allow_private: bool | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self.clock = clock
        self.send = send
        self.allow_private = (
            conf.allow_private_networks() if allow_private is None else allow_private
        )
        self.pool = ThreadPoolExecutor(config.concurrency, thread_name_prefix="webhook-send")
        self.in_flight: dict[Future[SendResult], _Job] = {}
        self._own_pending_read = False
        self._next_claim = 0.0

    # --- the stream -> deliveries ------------------------------------------------------------

    def ensure_group(self, start_id: str = "$") -> None:
        """Create the consumer group (and the stream) unless it exists.

        ``$``: a new group starts with the events published from now on, not with the whole
        retained history (which would deliver days-old events to every endpoint).
        """
        try:
            self.client.xgroup_create(
                self.config.stream, self.config.group, start_id, mkstream=True
            )
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _read(self, start: str, block_ms: int | None) -> list[Entry]:
        reply = self.client.xreadgroup(
            self.config.group,
            self.config.consumer,
            {self.config.stream: start},
            count=self.config.batch_size,
            block=block_ms,
        )
        entries: list[Entry] = []
        for _stream, items in cast(list[tuple[bytes, list[Entry]]], reply or []):
            entries.extend(items)
        return entries

    def _claim_abandoned(self) -> list[Entry]:
        reply = cast(
            list[Any],
            self.client.xautoclaim(
                self.config.stream,
                self.config.group,
                self.config.consumer,
                min_idle_time=self.config.claim_idle_ms,
                start_id="0-0",
                count=self.config.batch_size,
            ),
        )
        entries = cast(list[Entry], reply[1])
        if entries:
            log.info("webhooks.entries_claimed", count=len(entries))
        return entries

    def consume(self, *, block_ms: int | None) -> int:
        """Turn a batch of entries into deliveries, then acknowledge them; how many entries.

        First what this consumer name left unacknowledged (a restart), then, now and then,
        what dead consumers left, else new entries, waiting up to ``block_ms`` for them.
        """
        entries: list[Entry] = []
        if not self._own_pending_read:
            entries = self._read("0", None)
            self._own_pending_read = len(entries) < self.config.batch_size
        if not entries and time.monotonic() >= self._next_claim:
            entries = self._claim_abandoned()
            if len(entries) < self.config.batch_size:
                self._next_claim = time.monotonic() + self.config.claim_idle_ms / 2000
        if not entries:
            entries = self._read(">", block_ms)
        if entries:
            self._handle(entries)
        return len(entries)

    def _handle(self, entries: list[Entry]) -> None:
        events: list[StreamEvent] = []
        for entry_id, fields in entries:
            if not fields:
                continue  # trimmed from the stream while pending: nothing left to deliver
            try:
                events.append(_parse(fields))
            except (KeyError, ValueError, TypeError, UnicodeDecodeError) as exc:
                # A malformed entry would otherwise come back forever; the relay never
                # writes one, so say so loudly and move on.
                log.error("webhooks.bad_entry", entry_id=entry_id.decode(), error=str(exc))
        with transaction.atomic():
            matched = deliveries_create(
                events=events, max_attempts=self.config.policy.max_attempts, now=self.clock()
            )
        # Only now: a crash before this line leaves the entries pending, to be read again.
        self.client.xack(self.config.stream, self.config.group, *[e[0] for e in entries])
        if matched:
            log.debug("webhooks.deliveries_queued", entries=len(entries), deliveries=matched)

    # --- deliveries -> HTTP ------------------------------------------------------------------

    def dispatch(self) -> int:
        """Claim due deliveries for the free pool slots and start sending them; how many."""
        free = self.config.concurrency - len(self.in_flight)
        if free <= 0:
            return 0
        busy = Counter(job.endpoint_id for job in self.in_flight.values())
        now = self.clock()
        saturated = {e for e, n in busy.items() if n >= self.config.per_endpoint}
        lease_until = now + timedelta(seconds=self.config.timeout + 60)
        started = 0
        candidates = selectors.deliveries_due(now=now, limit=free * 4, exclude_endpoints=saturated)
        for delivery in candidates:
            if started >= free or busy[delivery.endpoint_id] >= self.config.per_endpoint:
                continue
            # Claim it by pushing its due time forward, unless another worker did first. If
            # this worker dies mid-send, the delivery is due again when the lease ends.
            if not delivery_claim(delivery=delivery, lease_until=lease_until):
                continue
            endpoint = delivery.endpoint
            body = delivery.payload.encode()
            headers = signed_headers(
                keys=signing_secrets(endpoint, now=now),
                msg_id=str(delivery.event_id),
                timestamp=int(now.timestamp()),
                body=body,
            )
            future = self.pool.submit(
                self.send,
                endpoint.url,
                body,
                headers,
                timeout=self.config.timeout,
                allow_private=self.allow_private,
            )
            self.in_flight[future] = _Job(delivery.pk, endpoint.pk, delivery.next_trigger, now)
            busy[endpoint.pk] += 1
            started += 1
        return started

    def collect(self, *, timeout: float | None = 0) -> int:
        """Record the outcome of finished sends (waiting up to ``timeout`` for one)."""
        if not self.in_flight:
            return 0
        done, _ = wait(list(self.in_flight), timeout=timeout, return_when=FIRST_COMPLETED)
        for future in done:
            job = self.in_flight.pop(future)
            result = future.result()  # transport.post never raises
            delivery = delivery_attempt_record(
                delivery_id=job.delivery_id,
                trigger=job.trigger,
                started_at=job.started_at,
                result=result,
                policy=self.config.policy,
                now=self.clock(),
            )
            log.info(
                "webhooks.attempt",
                delivery_id=job.delivery_id,
                endpoint_id=job.endpoint_id,
                status_code=result.status_code,
                error=result.error or None,
                duration_ms=result.duration_ms,
                outcome=delivery.status if delivery else "deleted",
            )
        return len(done)

    def drain(self) -> None:
        """Send everything due now, until nothing is due or in flight (``--once``, shutdown)."""
        while True:
            self.dispatch()
            if not self.in_flight:
                return
            self.collect(timeout=None)

    def finish_in_flight(self) -> None:
        while self.in_flight:
            self.collect(timeout=None)

    def run_once(self) -> None:
        """Read what is on the stream now, and send what is due; nothing blocks."""
        while self.consume(block_ms=None):
            pass
        self.drain()

    # --- housekeeping --------------------------------------------------------------------------

    def purge(self, *, retention_days: int) -> int:
        return deliveries_purge(older_than=self.clock() - timedelta(days=retention_days))

    def forget_idle_consumers(self, *, idle_ms: int = 86_400_000) -> None:
        """Drop consumers of the group idle for a day with nothing pending (restarted workers
        each have a name of their own, and would pile up in XINFO)."""
        consumers = cast(
            list[dict[str, Any]], self.client.xinfo_consumers(self.config.stream, self.config.group)
        )
        for consumer in consumers:
            name = consumer["name"]
            name = name.decode() if isinstance(name, bytes) else str(name)
            if (
                name != self.config.consumer
                and not consumer["pending"]
                and consumer["idle"] > idle_ms
            ):
                self.client.xgroup_delconsumer(self.config.stream, self.config.group, name)

    def close(self) -> None:
        self.finish_in_flight()
        self.pool.shutdown(wait=True)


@dataclass
class _Backoff:
    initial: float = 0.1
    cap: float = 5.0
    current: float = 0.0

    def next_delay(self) -> float:
        self.current = self.initial if self.current == 0 else min(self.current * 2, self.cap)
        return self.current


def run_forever(
    worker: WebhookWorker,
    *,
    should_stop: Callable[[], bool],
    block_ms: int = 1000,
    retention_days: int = 30,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Work until told to stop, then finish the requests in flight (at most one timeout)."""
    backoff = _Backoff()
    next_housekeeping = time.monotonic()
    try:
        while not should_stop():
            try:
                worker.collect(timeout=0)
                worker.dispatch()
                # While requests are in flight, come back soon to record them.
                worker.consume(block_ms=100 if worker.in_flight else block_ms)
                if time.monotonic() >= next_housekeeping:
                    purged = worker.purge(retention_days=retention_days)
                    if purged:
                        log.info("webhooks.purged", count=purged)
                    worker.forget_idle_consumers()
                    next_housekeeping = time.monotonic() + 3600
            except redis.RedisError as exc:
                if isinstance(exc, redis.ResponseError) and "NOGROUP" in str(exc):
                    # The stream (and its group) was deleted: start again from new events.
                    log.warning("webhooks.group_missing", stream=worker.config.stream)
                    worker.ensure_group()
                    continue
                delay = backoff.next_delay()
                log.warning("webhooks.redis_unavailable", error=str(exc), retry_in_s=delay)
                sleep(delay)
                continue
            except Exception as exc:  # the database went away, or worse: keep trying, loudly
                delay = backoff.next_delay()
                log.error("webhooks.worker_failed", error=str(exc), retry_in_s=delay, exc_info=True)
                close_old_connections()
                sleep(delay)
                continue
            backoff.current = 0.0
    finally:
        worker.close()
