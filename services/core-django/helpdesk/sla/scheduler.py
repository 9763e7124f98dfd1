"""The SLA scheduler: announces each warning and breach once, when its instant has passed.

Every ``TicketSla`` row stores ``next_alert_at``, the earliest instant at which something of
it must be announced, under a partial index; the scheduler asks for the rows whose instant has
passed, handles each in a transaction of its own, and otherwise sleeps until the earliest
instant (capped, so tickets changed meanwhile are picked up soon enough).

Several schedulers may run at once: each locks the ticket's row with ``SKIP LOCKED`` (the same
row the ticket services lock, so events of one ticket keep their commit order in the outbox),
re-reads the SLA under the lock, and announces only what is still unannounced. An announcement
is written to the outbox in the transaction that marks it, so it exists exactly once.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import structlog
from django.db import close_old_connections, transaction
from django.utils import timezone

from helpdesk.outbox.relay import Backoff
from helpdesk.outbox.services import event_record
from helpdesk.sla import clock, events
from helpdesk.sla.models import SlaEventKind, TicketSla, TicketSlaEvent
from helpdesk.tickets.cache import ticket_lists_changed
from helpdesk.tickets.models import Ticket

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Alert:
    kind: Literal["warning", "breached"]
    metric: clock.Metric
    at: datetime  # the instant the threshold was passed
    due_at: datetime
    target_minutes: int
    elapsed_share: float


def take_due_alerts(sla: TicketSla, now: datetime) -> list[Alert]:
    """Mark what is due on ``sla`` as announced and return it. A breach supersedes a warning
    not yet announced (no warning after the fact)."""
    alerts: list[Alert] = []
    calendar = clock.calendar_of(sla)
    for metric in clock.METRICS:
        c = clock.read(sla, metric)
        if c.target_minutes is None:
            continue
        target = c.target_minutes * 60.0
        if c.running and c.breached_at is None and c.due_at is not None and c.due_at <= now:
            c.breached_at = c.due_at
        if c.breached_at is not None and not c.breach_sent:
            c.breach_sent = True
            c.warned_at = c.warned_at or c.breached_at
            share = clock.consumed_at(c, calendar, now).total_seconds() / target
            alerts.append(
                Alert("breached", metric, c.breached_at, c.breached_at, c.target_minutes, share)
            )
        elif (
            c.running
            and c.warned_at is None
            and c.warn_at is not None
            and c.due_at is not None
            and c.warn_at <= now
        ):
            c.warned_at = c.warn_at
            share = clock.consumed_at(c, calendar, now).total_seconds() / target
            alerts.append(Alert("warning", metric, c.warn_at, c.due_at, c.target_minutes, share))
        clock.write(sla, c)
    clock.refresh_schedule(sla)
    return alerts


@dataclass
class SlaScheduler:
    batch_size: int = 200

    def due_ticket_ids(self, now: datetime) -> list[int]:
        ids = (
            TicketSla.objects.filter(next_alert_at__lte=now)
            .order_by("next_alert_at")
            .values_list("ticket_id", flat=True)[: self.batch_size]
        )
        return list(ids)

    def next_alert_at(self) -> datetime | None:
        value: datetime | None = (
            TicketSla.objects.filter(next_alert_at__isnull=False)
            .order_by("next_alert_at")
            .values_list("next_alert_at", flat=True)
            .first()
        )
        return value

    def process(self, ticket_id: int, now: datetime) -> int:
        """Announce what is due on one ticket; 0 when another process holds it (next round)."""
        with transaction.atomic():
            ticket = Ticket.objects.select_for_update(skip_locked=True).filter(pk=ticket_id).first()
            if ticket is None:
                return 0
            sla = TicketSla.objects.select_for_update().filter(ticket_id=ticket_id).first()
            if sla is None or sla.next_alert_at is None or sla.next_alert_at > now:
                return 0  # handled meanwhile
            alerts = take_due_alerts(sla, now)
            for alert in alerts:
                event_record(
                    event=events.sla_alert(
                        kind=alert.kind,
                        ticket=ticket,
                        metric=alert.metric,
                        occurred_at=alert.at,
                        due_at=alert.due_at,
                        target_minutes=alert.target_minutes,
                        elapsed_share=alert.elapsed_share,
                    )
                )
            TicketSlaEvent.objects.bulk_create(
                [
                    TicketSlaEvent(
                        ticket_id=ticket_id,
                        kind=SlaEventKind.WARNING if a.kind == "warning" else SlaEventKind.BREACHED,
                        metric=a.metric,
                        at=a.at,
                        detail={
                            "due_at": a.due_at.isoformat(),
                            "target_minutes": a.target_minutes,
                            "elapsed_share": round(a.elapsed_share, 4),
                            "announced_at": now.isoformat(),
                        },
                    )
                    for a in alerts
                ]
            )
            sla.save(
                update_fields=[
                    *(
                        f"{m}_{f}"
                        for m in clock.METRICS
                        for f in ("warned_at", "breached_at", "breach_sent")
                    ),
                    "next_alert_at",
                    "next_breach_at",
                ]
            )
            if alerts:
                organization_id = ticket.organization_id
                transaction.on_commit(lambda: ticket_lists_changed(organization_id=organization_id))
        for alert in alerts:
            log.info(
                "sla.announced",
                kind=alert.kind,
                metric=alert.metric,
                ticket_id=ticket_id,
                at=alert.at.isoformat(),
            )
        return len(alerts)

    def run_once(self, now: datetime | None = None) -> int:
        """One pass over everything due now; returns how many events were written."""
        now = now or timezone.now()
        return sum(self.process(ticket_id, now) for ticket_id in self.due_ticket_ids(now))


def run_forever(
    scheduler: SlaScheduler,
    *,
    should_stop: Callable[[], bool],
    wait: Callable[[float], object],
    max_wait: float = 30.0,
    min_wait: float = 0.05,
    sleep: Callable[[float], object] = time.sleep,
) -> None:
    """Announce until told to stop; between passes, sleep until the next instant due."""
    backoff = Backoff()
    while not should_stop():
        try:
            now = timezone.now()
            due = scheduler.due_ticket_ids(now)
            written = sum(scheduler.process(ticket_id, now) for ticket_id in due)
            upcoming = scheduler.next_alert_at()
        except Exception as exc:  # the database went away, or worse: keep trying, loudly
            delay = backoff.next_delay()
            log.error("sla.scheduler_failed", error=str(exc), retry_in_s=delay, exc_info=True)
            close_old_connections()
            sleep(delay)
            continue
        backoff.reset()
        if len(due) >= scheduler.batch_size and written:
            continue  # more is due right now
        if upcoming is None:
            wait(max_wait)
        else:
            seconds = (upcoming - timezone.now()).total_seconds()
            wait(min(max(seconds, min_wait), max_wait))
