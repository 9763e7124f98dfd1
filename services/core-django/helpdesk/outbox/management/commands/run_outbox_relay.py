"""``manage.py run_outbox_relay``: the process that moves outbox rows to the Redis stream."""

import signal
import time
from types import FrameType
from typing import Any

import psycopg
import redis
import structlog
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, connection

from helpdesk.accounts.services import api_tokens_sync
from helpdesk.common.redis import get_redis
from helpdesk.outbox.relay import Relay, run_forever
from helpdesk_shared import OUTBOX_NOTIFY_CHANNEL

log = structlog.get_logger(__name__)


class _PostgresWaker:
    """Sleeps until a transaction that wrote outbox rows commits (LISTEN/NOTIFY), or a timeout.

    A dedicated autocommit connection: notifications arrive only outside transactions.
    If it breaks, the relay still works: it falls back to waiting out the timeout.
    """

    def __init__(self) -> None:
        self._conn: psycopg.Connection[Any] | None = None

    def _connect(self) -> psycopg.Connection[Any]:
        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        conn = psycopg.connect(**params, autocommit=True)
        conn.execute(f"LISTEN {OUTBOX_NOTIFY_CHANNEL}")
        return conn

    def __call__(self, timeout: float) -> None:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = self._connect()
            for _ in self._conn.notifies(timeout=timeout, stop_after=1):
                pass
        except psycopg.Error as exc:
            log.warning("outbox.listen_failed", error=str(exc))
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            time.sleep(timeout)


def _sync_api_tokens() -> None:
    """Republish API-token records for the other services (a Redis that lost its data, or
    missed a revocation, is made whole). Best effort: publishing on each change goes on."""
    try:
        count = api_tokens_sync()
    except (redis.RedisError, DatabaseError) as exc:
        log.warning("tokens.sync_failed", error=str(exc))
        return
    log.info("tokens.synced", tokens=count)


class Command(BaseCommand):
    help = "Publish committed outbox events to the Redis stream, in order, until stopped."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument(
            "--idle-wait",
            type=float,
            default=None,
            help="Seconds to wait for new work when idle (default: 1 on PostgreSQL, which "
            "wakes on commit anyway; 0.05 on SQLite, which can only poll).",
        )
        parser.add_argument("--retention-hours", type=int, default=72)

    def handle(self, *args: Any, **options: Any) -> None:
        stopping = False

        def stop(signum: int, _frame: FrameType | None) -> None:
            nonlocal stopping
            log.info("outbox.relay_stopping", signal=signal.Signals(signum).name)
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

        postgres = connection.vendor == "postgresql"
        idle_wait = options["idle_wait"] or (1.0 if postgres else 0.05)
        relay = Relay(
            client=get_redis(),
            stream=settings.EVENTS_STREAM,
            maxlen=settings.EVENTS_STREAM_MAXLEN,
            batch_size=options["batch_size"],
        )
        log.info("outbox.relay_started", stream=relay.stream, database=connection.vendor)
        _sync_api_tokens()
        run_forever(
            relay,
            wait_for_work=_PostgresWaker() if postgres else time.sleep,
            should_stop=lambda: stopping,
            idle_wait=idle_wait,
            retention_hours=options["retention_hours"],
        )
        log.info("outbox.relay_stopped")
