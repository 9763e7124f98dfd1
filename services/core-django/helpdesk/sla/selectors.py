"""Reads of SLAs: a ticket's state and timeline, and SLA filters and ordering for ticket lists.

The state a ticket shows is computed from its stored instants and the current time, never
stored: a ticket turns from "ok" to "warning" to "breached" as time passes, whether or not the
scheduler has announced it yet. ``tickets_with_sla_state`` says in SQL what ``clock.state_of``
says in Python (tests hold them to each other).
"""

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Final

from django.db.models import Case, CharField, F, Q, QuerySet, Value, When
from django.utils import timezone

from helpdesk.sla import clock
from helpdesk.sla.models import BusinessCalendar, SlaPolicy, TicketSla, TicketSlaEvent
from helpdesk.tickets.models import Ticket

SLA_STATES: Final = ("ok", "warning", "breached", "paused", "met", "none")


def sla_calendar_list(*, organization_id: int) -> QuerySet[BusinessCalendar]:
    return (
        BusinessCalendar.objects.filter(organization_id=organization_id)
        .prefetch_related("holidays")
        .order_by("name", "id")
    )


def sla_policy_list(*, organization_id: int) -> QuerySet[SlaPolicy]:
    most_urgent_first = ("urgent", "high", "normal", "low")
    order = Case(
        *(When(priority=p, then=Value(i)) for i, p in enumerate(most_urgent_first)),
        default=Value(9),
    )
    return (
        SlaPolicy.objects.filter(organization_id=organization_id)
        .select_related("calendar")
        .order_by(order, "id")
    )


def _sla_of(ticket: Ticket) -> TicketSla | None:
    try:
        return ticket.sla
    except TicketSla.DoesNotExist:
        return None


def sla_state(*, ticket: Ticket, now: datetime | None = None) -> str:
    """ "ok" | "warning" | "breached" | "paused" | "met" | "none" (no policy applies).

    Reads ``ticket.sla``: with ``select_related("sla")`` on a list, no query per ticket.
    """
    return clock.state_of(_sla_of(ticket), now or timezone.now())


# --- ticket lists ----------------------------------------------------------------------------


def _state_q(now: datetime) -> dict[str, Q]:
    """Each state as a filter on tickets, mirroring ``clock.state_of``. Written without
    negations, which SQL over a LEFT JOIN would wrap in NULL checks an index cannot use."""
    active = Q(sla__active=True)
    breached = active & (
        Q(sla__first_response_breached_at__isnull=False)
        | Q(sla__resolution_breached_at__isnull=False)
        | Q(sla__first_response_due_at__lt=now)
        | Q(sla__resolution_due_at__lt=now)
    )
    in_time = (
        active
        & Q(sla__first_response_breached_at__isnull=True)
        & Q(sla__resolution_breached_at__isnull=True)
        & (Q(sla__first_response_due_at__isnull=True) | Q(sla__first_response_due_at__gte=now))
        & (Q(sla__resolution_due_at__isnull=True) | Q(sla__resolution_due_at__gte=now))
    )
    unpaused = in_time & Q(sla__paused_since__isnull=True)
    some_clock_runs = Q(sla__first_response_running_since__isnull=False) | Q(
        sla__resolution_running_since__isnull=False
    )
    past_warning = Q(sla__first_response_warn_at__lte=now) | Q(sla__resolution_warn_at__lte=now)
    before_warning = (
        Q(sla__first_response_warn_at__isnull=True) | Q(sla__first_response_warn_at__gt=now)
    ) & (Q(sla__resolution_warn_at__isnull=True) | Q(sla__resolution_warn_at__gt=now))
    return {
        "breached": breached,
        "paused": in_time & Q(sla__paused_since__isnull=False),
        "met": unpaused
        & Q(sla__first_response_running_since__isnull=True)
        & Q(sla__resolution_running_since__isnull=True),
        "warning": unpaused & some_clock_runs & past_warning,
        "ok": unpaused & some_clock_runs & before_warning,
        "none": Q(sla__isnull=True) | Q(sla__active=False),
    }


def tickets_with_sla_state(
    tickets: QuerySet[Ticket], states: str | Iterable[str], *, now: datetime | None = None
) -> QuerySet[Ticket]:
    """Only the tickets whose SLA is in ``states`` (one state, or any of several), each one of
    ``SLA_STATES`` (ValueError otherwise)."""
    wanted = [states] if isinstance(states, str) else list(states)
    unknown = [state for state in wanted if state not in SLA_STATES]
    if unknown:
        raise ValueError(f"Unknown SLA state {unknown[0]!r}; one of {', '.join(SLA_STATES)}.")
    by_state = _state_q(now or timezone.now())
    condition = Q(pk__in=[])
    for state in wanted:
        condition |= by_state[state]
    return tickets.filter(condition)


def sla_row_annotations(*, now: datetime | None = None) -> dict[str, Any]:
    """``sla_state`` and ``sla_next_breach_at`` as expressions on tickets, for ``.values(...,
    **sla_row_annotations())`` or ``.annotate(**sla_row_annotations())``."""
    states = _state_q(now or timezone.now())
    order = ("none", "breached", "paused", "met", "warning")
    return {
        "sla_state": Case(
            *(When(states[name], then=Value(name)) for name in order),
            default=Value("ok"),
            output_field=CharField(),
        ),
        "sla_next_breach_at": F("sla__next_breach_at"),
    }


# The columns ``sla_state_of_row`` reads, as ``values()`` names on tickets.
SLA_ROW_COLUMNS: Final = (
    "sla__active",
    "sla__paused_since",
    "sla__first_response_running_since",
    "sla__first_response_due_at",
    "sla__first_response_warn_at",
    "sla__first_response_breached_at",
    "sla__resolution_running_since",
    "sla__resolution_due_at",
    "sla__resolution_warn_at",
    "sla__resolution_breached_at",
    "sla__next_breach_at",
)


def sla_state_of_row(row: dict[str, Any], now: datetime) -> str:
    """The state of a ``values(*SLA_ROW_COLUMNS)`` row: ``_state_q``, case for case, in Python.

    A list page computes the state of its 50 rows here rather than in SQL: the CASE over ten
    columns cost more to build and plan on every request than this costs to run (tests hold the
    three — this, the SQL and ``clock.state_of`` — to each other)."""
    if not row["sla__active"]:  # no SLA row (NULL), or an inactive one
        return "none"
    fr_due, res_due = row["sla__first_response_due_at"], row["sla__resolution_due_at"]
    if (
        row["sla__first_response_breached_at"] is not None
        or row["sla__resolution_breached_at"] is not None
        or (fr_due is not None and fr_due < now)
        or (res_due is not None and res_due < now)
    ):
        return "breached"
    if row["sla__paused_since"] is not None:
        return "paused"
    if (
        row["sla__first_response_running_since"] is None
        and row["sla__resolution_running_since"] is None
    ):
        return "met"
    fr_warn, res_warn = row["sla__first_response_warn_at"], row["sla__resolution_warn_at"]
    if (fr_warn is not None and fr_warn <= now) or (res_warn is not None and res_warn <= now):
        return "warning"
    return "ok"


def tickets_annotate_sla(
    *, tickets: QuerySet[Ticket], now: datetime | None = None
) -> QuerySet[Ticket]:
    """Adds ``sla_state`` and ``sla_next_breach_at`` to each ticket."""
    return tickets.annotate(**sla_row_annotations(now=now))


def tickets_by_time_to_breach(*, tickets: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """Soonest (or longest overdue) breach first; tickets with no running clock last."""
    return tickets.order_by(F("sla__next_breach_at").asc(nulls_last=True), "id")


# --- the timeline ----------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _seconds(value: timedelta) -> int:
    return int(value.total_seconds())


def _metric_timeline(sla: TicketSla, metric: clock.Metric, now: datetime) -> dict[str, Any]:
    c = clock.read(sla, metric)
    state = clock.metric_state(sla, c, now)
    used = clock.consumed_at(c, clock.calendar_of(sla), now)
    target = c.target
    return {
        "state": state,
        "target_minutes": c.target_minutes,
        "running": c.running,
        "due_at": _iso(c.due_at),
        "warning_at": _iso(c.warn_at),
        "completed_at": _iso(c.done_at),
        "warned_at": _iso(c.warned_at),
        "breached_at": _iso(c.breached_at),
        "elapsed_business_seconds": _seconds(used),
        "remaining_business_seconds": _seconds(target - used) if target is not None else None,
        "elapsed_share": round(used / target, 4) if target else None,
        "explanation": _explain(sla, c, state, used),
    }


def _duration(value: timedelta) -> str:
    """Business durations in hours and minutes ("a day" would mean 24 or 8 hours?)."""
    hours, minutes = divmod(max(int(value.total_seconds()) // 60, 0), 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{minutes} min"


def _explain(sla: TicketSla, c: clock.Clock, state: str, used: timedelta) -> str:
    if c.target is None:
        return "No SLA policy applies to this ticket's priority."
    budget = f"{_duration(used)} of {_duration(c.target)} business time used"
    hours = f"counted in the {sla.calendar_name} calendar" if sla.calendar_name else "24/7"
    if state == "met":
        return f"Met at {_iso(c.done_at)}: {budget} ({hours})."
    if state == "breached":
        return f"Breached at {_iso(c.breached_at or c.due_at)}: {budget} ({hours})."
    if state == "paused":
        return (
            f"Paused since {_iso(sla.paused_since)} while the ticket is {sla.ticket_status}: "
            f"{budget}; the due time moves on when it runs again ({hours})."
        )
    if state == "stopped":
        return f"Stopped: the ticket is {sla.ticket_status} without it; {budget}."
    due = f"due {_iso(c.due_at)}"
    if state == "warning":
        return f"Running, past its warning point: {budget}, {due} ({hours})."
    return f"Running: {budget}, {due} ({hours})."


def sla_timeline(*, ticket: Ticket, now: datetime | None = None) -> dict[str, Any]:
    """Everything that explains the ticket's SLA state: the policy it runs under, each clock
    with its due, warning and completion instants and business time used, and what happened
    to the clocks in order."""
    now = now or timezone.now()
    sla = TicketSla.objects.filter(ticket_id=ticket.pk).first()
    events = [
        {"kind": e.kind, "metric": e.metric or None, "at": _iso(e.at), "detail": e.detail}
        for e in TicketSlaEvent.objects.filter(ticket_id=ticket.pk).order_by("at", "id")
    ]
    if sla is None:
        return {
            "number": ticket.number,
            "state": "none",
            "policy": None,
            "ticket_status": ticket.status,
            "started_at": None,
            "paused_since": None,
            "next_breach_at": None,
            "metrics": {},
            "events": events,
        }
    policy = None
    if sla.active:
        snapshot = sla.calendar_snapshot if isinstance(sla.calendar_snapshot, dict) else None
        policy = {
            "id": sla.policy_id,
            "priority": sla.priority,
            "first_response_minutes": sla.first_response_minutes,
            "resolution_minutes": sla.resolution_minutes,
            "warning_share": sla.warning_share,
            "calendar": (
                {
                    "id": sla.calendar_id,
                    "name": sla.calendar_name,
                    "time_zone": snapshot["time_zone"],
                    "weekly_hours": snapshot["weekly_hours"],
                    "holidays": snapshot["holidays"],
                }
                if snapshot
                else None
            ),
        }
    return {
        "number": ticket.number,
        "state": clock.state_of(sla, now),
        "policy": policy,
        "ticket_status": sla.ticket_status,
        "started_at": _iso(sla.started_at),
        "paused_since": _iso(sla.paused_since),
        "next_breach_at": _iso(sla.next_breach_at),
        "metrics": (
            {metric: _metric_timeline(sla, metric, now) for metric in clock.METRICS}
            if sla.active
            else {}
        ),
        "events": events,
    }
