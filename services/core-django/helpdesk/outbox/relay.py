"""The outbox relay: moves committed events to the Redis stream, in order, losing nothing.

Guarantees: at least once (a row is marked published only after Redis accepted it; a crash in
between publishes it again, and consumers de-duplicate on the event id), in order per partition
key, and safe with several relays at once: each locks its batch with ``FOR UPDATE SKIP LOCKED``
and publishes a key's rows only when no earlier unpublished row of that key is held by another
relay. On SQLite (local only) transactions are serialized, so one relay works at a time.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import redis
import structlog
from django.db import close_old_connections, transaction
from django.utils import timezone

from helpdesk.outbox.models import OutboxEvent
from helpdesk_shared.streams import STREAM_FIELD_EVENT, STREAM_FIELD_ORG, STREAM_FIELD_TYPE

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class _Row:
    id: int
    partition_key: str
    event_type: str
    organization_id: int
    payload: str


def _publishable(locked: list[_Row]) -> list[_Row]:
    """The locked rows that may go out now: per key, the unbroken run of oldest unpublished rows.

    A key whose oldest unpublished row is held by another relay (or that has a gap, a row in
    between held elsewhere) waits: publishing it now could overtake the other relay's rows.
    """
    if not locked:
        return []
    mine = {row.id for row in locked}
    keys = {row.partition_key for row in locked}
    pending = (
        OutboxEvent.objects.filter(
            published_at__isnull=True, partition_key__in=keys, id__lte=max(mine)
        )
        .order_by("id")
        .values_list("id", "partition_key")
    )
    allowed: set[int] = set()
    blocked: set[str] = set()
    for row_id, key in pending:
        if key in blocked:
            continue
        if row_id in mine:
            allowed.add(row_id)
        else:
            blocked.add(key)
    return [row for row in locked if row.id in allowed]


@dataclass
class Relay:
    client: "redis.Redis"
    stream: str
    maxlen: int = 100_000
    batch_size: int = 500

    def publish_batch(self) -> int:
        """Publish one batch; return how many events went out (0 when none could)."""
        if not OutboxEvent.objects.filter(published_at__isnull=True).exists():
            return 0  # idle: no transaction, no lock (SQLite would take its write lock)
        with transaction.atomic():
            locked = [
                _Row(*values)
                for values in OutboxEvent.objects.select_for_update(skip_locked=True)
                .filter(published_at__isnull=True)
                .order_by("id")
                .values_list("id", "partition_key", "event_type", "organization_id", "payload")[
                    : self.batch_size
                ]
            ]
            rows = _publishable(locked)
            if not rows:
                return 0
            pipe = self.client.pipeline(transaction=False)
            for row in rows:
                pipe.xadd(
                    self.stream,
                    {
                        STREAM_FIELD_EVENT: row.payload,
                        STREAM_FIELD_TYPE: row.event_type,
                        STREAM_FIELD_ORG: str(row.organization_id),
                    },
                    maxlen=self.maxlen,
                    approximate=True,
                )
            pipe.execute()
            OutboxEvent.objects.filter(id__in=[row.id for row in rows]).update(
                published_at=timezone.now()
            )
        log.debug("outbox.published", count=len(rows), last_id=rows[-1].id)
        return len(rows)

    def purge_published(self, *, older_than_hours: int) -> int:
        """Delete rows published long ago; the stream (and the audit trail) keep the history."""
        cutoff = timezone.now() - timedelta(hours=older_than_hours)
        deleted, _ = OutboxEvent.objects.filter(published_at__lt=cutoff).delete()
        return deleted


@dataclass
class Backoff:
    """Exponential back-off for retries while Redis or the database is away."""

    initial: float = 0.1
    cap: float = 5.0
    current: float = 0.0

    def next_delay(self) -> float:
        self.current = self.initial if self.current == 0 else min(self.current * 2, self.cap)
        return self.current

    def reset(self) -> None:
        self.current = 0.0


def run_forever(
    relay: Relay,
    *,
    wait_for_work: Callable[[float], None],
    should_stop: Callable[[], bool],
    idle_wait: float = 1.0,
    retention_hours: int = 72,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Publish until told to stop: drain, then wait for a wake-up (or ``idle_wait``)."""
    backoff = Backoff()
    next_purge = time.monotonic()
    while not should_stop():
        try:
            published = relay.publish_batch()
            if time.monotonic() >= next_purge:
                purged = relay.purge_published(older_than_hours=retention_hours)
                if purged:
                    log.info("outbox.purged", count=purged)
                next_purge = time.monotonic() + 3600
        except redis.RedisError as exc:
            delay = backoff.next_delay()
            log.warning("outbox.redis_unavailable", error=str(exc), retry_in_s=delay)
            sleep(delay)
            continue
        except Exception as exc:  # the database went away, or worse: keep trying, loudly
            delay = backoff.next_delay()
            log.error("outbox.publish_failed", error=str(exc), retry_in_s=delay, exc_info=True)
            close_old_connections()
            sleep(delay)
            continue
        backoff.reset()
        if published < relay.batch_size:
            wait_for_work(idle_wait)
