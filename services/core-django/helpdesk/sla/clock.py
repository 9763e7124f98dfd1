"""The two SLA clocks of a ticket, moved on a ``TicketSla`` in memory (the callers save).

Kept apart from the services so that every rule about when a clock runs, when it is due and
when it has breached is in one place, and the selectors' SQL mirrors of ``state_of`` can be
tested against it.

A clock runs while the ticket is new or open, its SLA is active and its metric is not done
(first response given / ticket solved). Stopping it adds the business time of the segment to
``consumed``; starting it projects the due and warning instants from what is left. A clock
breaches when it is still running after its due instant; a metric completed after its due
instant is breached too (``breached_at`` is the due instant, whoever noticed first).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from helpdesk.sla.business_time import (
    Calendar,
    add_business_time,
    business_time_between,
    calendar_from_json,
)
from helpdesk.sla.models import TicketSla
from helpdesk.tickets.models import Status

Metric = Literal["first_response", "resolution"]
METRICS: tuple[Metric, ...] = ("first_response", "resolution")
MetricState = Literal["ok", "warning", "breached", "paused", "met", "stopped", "none"]
State = Literal["ok", "warning", "breached", "paused", "met", "none"]

RUNNING_STATUSES = frozenset({Status.NEW, Status.OPEN})
PAUSED_STATUSES = frozenset({Status.PENDING, Status.ON_HOLD})
STOPPED_STATUSES = frozenset({Status.SOLVED, Status.CLOSED})

_DONE_FIELD: dict[Metric, str] = {
    "first_response": "first_responded_at",
    "resolution": "resolved_at",
}


@dataclass
class Clock:
    """One metric's columns of a ``TicketSla``, typed."""

    metric: Metric
    target_minutes: int | None
    consumed: timedelta
    running_since: datetime | None
    due_at: datetime | None
    warn_at: datetime | None
    warned_at: datetime | None
    breached_at: datetime | None
    breach_sent: bool
    done_at: datetime | None

    @property
    def target(self) -> timedelta | None:
        return None if self.target_minutes is None else timedelta(minutes=self.target_minutes)

    @property
    def running(self) -> bool:
        return self.running_since is not None


def read(sla: TicketSla, metric: Metric) -> Clock:
    def get(name: str) -> object:
        return getattr(sla, f"{metric}_{name}")

    return Clock(
        metric=metric,
        target_minutes=get("minutes"),  # type: ignore[arg-type]
        consumed=get("consumed"),  # type: ignore[arg-type]
        running_since=get("running_since"),  # type: ignore[arg-type]
        due_at=get("due_at"),  # type: ignore[arg-type]
        warn_at=get("warn_at"),  # type: ignore[arg-type]
        warned_at=get("warned_at"),  # type: ignore[arg-type]
        breached_at=get("breached_at"),  # type: ignore[arg-type]
        breach_sent=bool(get("breach_sent")),
        done_at=getattr(sla, _DONE_FIELD[metric]),
    )


def write(sla: TicketSla, clock: Clock) -> None:
    prefix = clock.metric
    setattr(sla, f"{prefix}_minutes", clock.target_minutes)
    setattr(sla, f"{prefix}_consumed", clock.consumed)
    setattr(sla, f"{prefix}_running_since", clock.running_since)
    setattr(sla, f"{prefix}_due_at", clock.due_at)
    setattr(sla, f"{prefix}_warn_at", clock.warn_at)
    setattr(sla, f"{prefix}_warned_at", clock.warned_at)
    setattr(sla, f"{prefix}_breached_at", clock.breached_at)
    setattr(sla, f"{prefix}_breach_sent", clock.breach_sent)
    setattr(sla, _DONE_FIELD[clock.metric], clock.done_at)


def calendar_of(sla: TicketSla) -> Calendar | None:
    snapshot = sla.calendar_snapshot
    return calendar_from_json(snapshot if isinstance(snapshot, dict) else None)


def warning_threshold(target: timedelta, share: float) -> timedelta:
    return timedelta(seconds=round(target.total_seconds() * share))


def consumed_at(clock: Clock, calendar: Calendar | None, at: datetime) -> timedelta:
    """Business time the clock has used up to ``at``."""
    if clock.running_since is None:
        return clock.consumed
    return clock.consumed + business_time_between(clock.running_since, at, calendar)


def stop(clock: Clock, calendar: Calendar | None, at: datetime) -> None:
    """End the running segment at ``at``; a clock past its due instant has breached there."""
    if clock.running_since is None:
        return
    clock.consumed = consumed_at(clock, calendar, at)
    if clock.due_at is not None and at > clock.due_at and clock.breached_at is None:
        clock.breached_at = clock.due_at
    clock.running_since = clock.due_at = clock.warn_at = None


def start(clock: Clock, calendar: Calendar | None, at: datetime, share: float) -> None:
    """Run the clock from ``at``: project the due and warning instants from what is left."""
    target = clock.target
    if clock.running_since is not None or target is None:
        return
    clock.running_since = at
    left = target - clock.consumed
    if left > timedelta(0):
        clock.due_at = add_business_time(at, left, calendar)
    else:  # already over (a tighter policy, or breached before a pause): due when it was
        clock.due_at = clock.breached_at or at
    to_warning = warning_threshold(target, share) - clock.consumed
    clock.warn_at = add_business_time(at, max(to_warning, timedelta(0)), calendar)


def should_run(sla: TicketSla, clock: Clock) -> bool:
    return (
        sla.active
        and clock.target_minutes is not None
        and sla.ticket_status in RUNNING_STATUSES
        and clock.done_at is None
    )


def sync(sla: TicketSla, at: datetime) -> None:
    """Start or stop each clock as the row's status, activity and completions now say."""
    calendar = calendar_of(sla)
    for metric in METRICS:
        clock = read(sla, metric)
        if clock.running and not should_run(sla, clock):
            stop(clock, calendar, at)
        elif not clock.running and should_run(sla, clock):
            start(clock, calendar, at, sla.warning_share)
        write(sla, clock)
    refresh_schedule(sla)


def refresh_schedule(sla: TicketSla) -> None:
    """Recompute ``next_breach_at`` (lists) and ``next_alert_at`` (the scheduler)."""
    breach: list[datetime] = []
    alert: list[datetime] = []
    if not sla.active:  # nothing runs, nothing is announced
        sla.next_breach_at = sla.next_alert_at = None
        return
    for metric in METRICS:
        clock = read(sla, metric)
        if clock.running and clock.due_at is not None:
            breach.append(clock.due_at)
            if clock.breached_at is None:
                alert.append(clock.due_at)
            if clock.warned_at is None and clock.warn_at is not None:
                alert.append(clock.warn_at)
        if clock.breached_at is not None and not clock.breach_sent:
            alert.append(clock.breached_at)
    sla.next_breach_at = min(breach, default=None)
    sla.next_alert_at = min(alert, default=None)


def rebase(sla: TicketSla, at: datetime, apply: Callable[[TicketSla], None]) -> None:
    """Swap the policy snapshot at ``at``, keeping the business time already used.

    Running clocks are stopped under the old snapshot and restarted under the new one. An open
    metric's warning and breach are forgotten when the new target leaves room for them again
    (and will be announced anew if reached); a completed metric keeps its outcome.
    """
    calendar = calendar_of(sla)
    for metric in METRICS:
        clock = read(sla, metric)
        stop(clock, calendar, at)
        write(sla, clock)
    apply(sla)
    for metric in METRICS:
        clock = read(sla, metric)
        target = clock.target
        if clock.done_at is None and target is not None:
            if clock.consumed < target:
                clock.breached_at, clock.breach_sent = None, False
            if clock.consumed < warning_threshold(target, sla.warning_share):
                clock.warned_at = None
        write(sla, clock)
    sync(sla, at)


def metric_state(sla: TicketSla, clock: Clock, now: datetime) -> MetricState:
    if not sla.active or clock.target_minutes is None:
        return "none"
    if clock.breached_at is not None or (
        clock.running and clock.due_at is not None and clock.due_at < now
    ):
        return "breached"
    if clock.done_at is not None:
        return "met"
    if clock.running:
        return "warning" if clock.warn_at is not None and clock.warn_at <= now else "ok"
    return "paused" if sla.paused_since is not None else "stopped"


def state_of(sla: TicketSla | None, now: datetime) -> State:
    """The ticket's overall SLA state; ``helpdesk.sla.selectors`` says the same in SQL."""
    if sla is None or not sla.active:
        return "none"
    states = [metric_state(sla, read(sla, metric), now) for metric in METRICS]
    if "breached" in states:
        return "breached"
    if sla.paused_since is not None:
        return "paused"
    if not any(read(sla, metric).running for metric in METRICS):
        return "met"
    return "warning" if "warning" in states else "ok"
