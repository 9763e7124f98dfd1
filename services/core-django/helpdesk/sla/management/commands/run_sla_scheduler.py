"""``manage.py run_sla_scheduler``: the process that announces SLA warnings and breaches."""

import signal
import threading
from types import FrameType
from typing import Any

import structlog
from django.core.management.base import BaseCommand
from django.db import connection

from helpdesk.sla.scheduler import SlaScheduler, run_forever

log = structlog.get_logger(__name__)


class Command(BaseCommand):
    help = "Emit sla.warning and sla.breached events (through the outbox) when they fall due."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch-size", type=int, default=200)
        parser.add_argument(
            "--max-wait",
            type=float,
            default=30.0,
            help="Longest sleep between passes in seconds; the scheduler otherwise sleeps "
            "until the next warning or breach is due.",
        )
        parser.add_argument(
            "--once",
            action="store_true",
            help="Announce what is due now, then exit (for tests and cron-style runs).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        scheduler = SlaScheduler(batch_size=options["batch_size"])
        if options["once"]:
            written = scheduler.run_once()
            log.info("sla.scheduler_pass", events=written)
            self.stdout.write(f"{written} SLA events written\n")
            return

        stopped = threading.Event()

        def stop(signum: int, _frame: FrameType | None) -> None:
            log.info("sla.scheduler_stopping", signal=signal.Signals(signum).name)
            stopped.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info("sla.scheduler_started", database=connection.vendor)
        run_forever(
            scheduler,
            should_stop=stopped.is_set,
            wait=stopped.wait,
            max_wait=options["max_wait"],
            sleep=stopped.wait,
        )
        log.info("sla.scheduler_stopped")
