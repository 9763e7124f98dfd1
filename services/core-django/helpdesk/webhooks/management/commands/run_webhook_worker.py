"""``manage.py run_webhook_worker``: delivers the events organizations subscribed to.

Long-running; stops on SIGTERM or SIGINT after finishing the requests in flight. Run one or
several (they share the stream through a consumer group, and claim deliveries one by one).
``--once`` reads what is on the stream, sends what is due and exits: for tests and cron-like use.
"""

import signal
from types import FrameType
from typing import Any

import structlog
from django.conf import settings
from django.core.management.base import BaseCommand

from helpdesk.common.redis import get_redis
from helpdesk.webhooks import policy
from helpdesk.webhooks.worker import (
    WebhookWorker,
    WorkerConfig,
    default_consumer_name,
    run_forever,
)

log = structlog.get_logger(__name__)


class Command(BaseCommand):
    help = "Deliver subscribed events to webhook endpoints: signed, retried, logged."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="One pass, then exit.")
        parser.add_argument("--stream", default=None, help="Default: settings.EVENTS_STREAM.")
        parser.add_argument("--group", default="webhooks", help="The Redis consumer group.")
        parser.add_argument(
            "--consumer", default=None, help="This worker's name in the group (host-pid)."
        )
        parser.add_argument("--concurrency", type=int, default=8, help="Requests at once.")
        parser.add_argument(
            "--per-endpoint", type=int, default=2, help="Requests at once to one endpoint."
        )
        parser.add_argument("--timeout", type=float, default=10.0, help="Seconds per request.")
        parser.add_argument("--max-attempts", type=int, default=policy.DEFAULT_MAX_ATTEMPTS)
        parser.add_argument(
            "--disable-after",
            type=int,
            default=policy.DEFAULT_DISABLE_AFTER,
            help="Disable an endpoint after this many deliveries in a row failed for good.",
        )
        parser.add_argument(
            "--backoff-base", type=float, default=policy.DEFAULT_BACKOFF_BASE_SECONDS
        )
        parser.add_argument("--backoff-cap", type=float, default=policy.DEFAULT_BACKOFF_CAP_SECONDS)
        parser.add_argument("--batch-size", type=int, default=100, help="Stream entries per read.")
        parser.add_argument(
            "--block-ms", type=int, default=1000, help="Longest wait for new entries when idle."
        )
        parser.add_argument(
            "--claim-idle-ms",
            type=int,
            default=60_000,
            help="Take over entries another consumer left unacknowledged this long.",
        )
        parser.add_argument("--retention-days", type=int, default=30, help="Delivery log kept.")
        parser.add_argument(
            "--start-id",
            default="$",
            help="Where a new consumer group starts: $ (new events) or 0 (the whole stream).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        config = WorkerConfig(
            stream=options["stream"] or settings.EVENTS_STREAM,
            group=options["group"],
            consumer=options["consumer"] or default_consumer_name(),
            batch_size=options["batch_size"],
            concurrency=max(1, options["concurrency"]),
            per_endpoint=max(1, options["per_endpoint"]),
            timeout=options["timeout"],
            claim_idle_ms=options["claim_idle_ms"],
            policy=policy.RetryPolicy(
                max_attempts=max(1, options["max_attempts"]),
                disable_after=max(1, options["disable_after"]),
                backoff_base=options["backoff_base"],
                backoff_cap=options["backoff_cap"],
            ),
        )
        worker = WebhookWorker(client=get_redis(), config=config)
        worker.ensure_group(options["start_id"])
        log.info(
            "webhooks.worker_started",
            stream=config.stream,
            group=config.group,
            consumer=config.consumer,
            concurrency=config.concurrency,
            allow_private_networks=worker.allow_private,
        )
        if options["once"]:
            try:
                worker.run_once()
            finally:
                worker.close()
            return

        stopping = False

        def stop(signum: int, _frame: FrameType | None) -> None:
            nonlocal stopping
            log.info("webhooks.worker_stopping", signal=signal.Signals(signum).name)
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        run_forever(
            worker,
            should_stop=lambda: stopping,
            block_ms=min(options["block_ms"], 4000),  # below the Redis client's 5 s read timeout
            retention_days=options["retention_days"],
        )
        log.info("webhooks.worker_stopped")
