"""The SLA side of ticket writes.

The ticket services call these inside their own transaction, holding the ticket's row lock,
with ``at`` the instant of the change. They only move the ticket's clocks and write its SLA
timeline; announcing warnings and breaches (``sla.warning``/``sla.breached``) is the
scheduler's job (``run_sla_scheduler``), so a ticket write never emits them.

Every hook also works for a ticket that has no SLA row yet (one created before SLAs existed):
its clocks start at ``at``.
"""

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction

from helpdesk.sla import clock
from helpdesk.sla.business_time import build_calendar, business_time_between, calendar_to_json
from helpdesk.sla.models import (
    BusinessCalendar,
    SlaEventKind,
    SlaPolicy,
    TicketSla,
    TicketSlaEvent,
)
from helpdesk.tickets.models import Ticket

# Holidays older than this are left out of a snapshot: its clocks never run before it is taken.
_SNAPSHOT_HOLIDAYS_FROM = timedelta(days=2)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _policy_for(*, organization_id: int, priority: str) -> SlaPolicy | None:
    return (
        SlaPolicy.objects.select_related("calendar")
        .filter(organization_id=organization_id, priority=priority)
        .first()
    )


def calendar_snapshot(calendar: BusinessCalendar | None, *, at: datetime) -> dict[str, Any] | None:
    """The calendar as a ticket keeps it: its zone, hours, and holidays from about ``at`` on."""
    if calendar is None:
        return None
    since = (at - _SNAPSHOT_HOLIDAYS_FROM).date()
    return calendar_to_json(
        build_calendar(
            time_zone=calendar.time_zone,
            weekly_hours=calendar.weekly_hours,
            holidays=calendar.holidays.filter(date__gte=since).values_list("date", flat=True),
        )
    )


def _apply_policy(sla: TicketSla, policy: SlaPolicy | None, *, at: datetime) -> None:
    sla.policy = policy
    sla.active = policy is not None
    if policy is None:
        sla.first_response_minutes = sla.resolution_minutes = None
        sla.calendar, sla.calendar_name, sla.calendar_snapshot = None, "", None
        return
    sla.first_response_minutes = policy.first_response_minutes
    sla.resolution_minutes = policy.resolution_minutes
    sla.warning_share = policy.warning_share
    sla.calendar = policy.calendar
    sla.calendar_name = policy.calendar.name if policy.calendar else ""
    sla.calendar_snapshot = calendar_snapshot(policy.calendar, at=at)


def _policy_detail(sla: TicketSla) -> dict[str, Any]:
    return {
        "priority": sla.priority,
        "policy_id": sla.policy_id,
        "first_response_minutes": sla.first_response_minutes,
        "resolution_minutes": sla.resolution_minutes,
        "calendar": sla.calendar_name or None,
        "first_response_due_at": _iso(sla.first_response_due_at),
        "resolution_due_at": _iso(sla.resolution_due_at),
    }


def _event(
    sla: TicketSla, kind: str, at: datetime, metric: str = "", **detail: Any
) -> TicketSlaEvent:
    return TicketSlaEvent(ticket_id=sla.ticket_id, kind=kind, metric=metric, at=at, detail=detail)


def _save(
    sla: TicketSla,
    events: list[TicketSlaEvent],
    *,
    at: datetime,
    insert: bool = False,
    log: bool | None = None,
) -> None:
    """Save the row and, for an active SLA (or when ``log`` says so), its timeline events."""
    sla.updated_at = at
    sla.save(force_insert=insert)
    if events and (sla.active if log is None else log):
        TicketSlaEvent.objects.bulk_create(events)


def _locked(ticket: Ticket) -> TicketSla | None:
    return TicketSla.objects.select_for_update().filter(ticket_id=ticket.pk).first()


@transaction.atomic(savepoint=False)
def sla_ticket_opened(*, ticket: Ticket, at: datetime) -> None:
    """Start the ticket's clocks under the policy of its organization and priority.

    Without a policy the ticket gets an inactive row (state "none"), which still records its
    first response, so that a policy applied later by a priority change does not wait for one.
    """
    sla = TicketSla(
        ticket=ticket,
        priority=ticket.priority,
        ticket_status=ticket.status,
        started_at=at,
    )
    _apply_policy(
        sla, _policy_for(organization_id=ticket.organization_id, priority=ticket.priority), at=at
    )
    if ticket.status in clock.PAUSED_STATUSES:
        sla.paused_since = at
    elif ticket.status in clock.STOPPED_STATUSES:
        sla.resolved_at = at
    clock.sync(sla, at)
    _save(sla, [_event(sla, SlaEventKind.STARTED, at, **_policy_detail(sla))], at=at, insert=True)


@transaction.atomic(savepoint=False)
def sla_ticket_status_changed(*, ticket: Ticket, old: str, new: str, at: datetime) -> None:
    """Pending and on hold pause both clocks; new and open run them again, which pushes the
    due instants by the business time spent paused; solved and closed stop them (resolution
    is met, or breached if late); reopening a solved ticket runs them on from where they were.
    """
    sla = _locked(ticket)
    if sla is None:
        sla_ticket_opened(ticket=ticket, at=at)
        return
    events: list[TicketSlaEvent] = []
    sla.ticket_status = new
    if new in clock.PAUSED_STATUSES and sla.paused_since is None:
        sla.paused_since = at
        events.append(_event(sla, SlaEventKind.PAUSED, at, status=new, previous_status=old))
    elif new not in clock.PAUSED_STATUSES and sla.paused_since is not None:
        if new in clock.RUNNING_STATUSES:
            paused_for = business_time_between(sla.paused_since, at, clock.calendar_of(sla))
            resumed = _event(
                sla,
                SlaEventKind.RESUMED,
                at,
                status=new,
                previous_status=old,
                paused_since=_iso(sla.paused_since),
                # how far the due instants move: the business time that passed while paused
                paused_business_seconds=int(paused_for.total_seconds()),
            )
            events.append(resumed)
        sla.paused_since = None
    resolving = new in clock.STOPPED_STATUSES and sla.resolved_at is None
    if resolving:
        sla.resolved_at = at
    elif new not in clock.STOPPED_STATUSES and sla.resolved_at is not None:
        sla.resolved_at = None
        events.append(_event(sla, SlaEventKind.REOPENED, at, status=new, previous_status=old))
    clock.sync(sla, at)
    if resolving:
        events.append(_completion_event(sla, "resolution", SlaEventKind.RESOLVED, at, status=new))
    for event in events:
        if event.kind == SlaEventKind.RESUMED:
            event.detail.update(
                first_response_due_at=_iso(sla.first_response_due_at),
                resolution_due_at=_iso(sla.resolution_due_at),
            )
    _save(sla, events, at=at)


def _completion_event(
    sla: TicketSla, metric: clock.Metric, kind: str, at: datetime, **detail: Any
) -> TicketSlaEvent:
    done = clock.read(sla, metric)
    if done.target_minutes is None:
        return _event(sla, kind, at, metric, **detail)
    return _event(
        sla,
        kind,
        at,
        metric,
        outcome="breached" if done.breached_at is not None else "met",
        business_seconds=int(done.consumed.total_seconds()),
        target_minutes=done.target_minutes,
        **detail,
    )


@transaction.atomic(savepoint=False)
def sla_first_response(*, ticket: Ticket, at: datetime) -> None:
    """The first public reply by staff: the first-response clock stops (later ones: no-op)."""
    sla = _locked(ticket)
    if sla is None:
        sla_ticket_opened(ticket=ticket, at=at)
        sla = _locked(ticket)
        assert sla is not None
    if sla.first_responded_at is not None:
        return
    sla.first_responded_at = at
    clock.sync(sla, at)
    event = _completion_event(sla, "first_response", SlaEventKind.FIRST_RESPONSE, at)
    _save(sla, [event], at=at)


@transaction.atomic(savepoint=False)
def sla_ticket_priority_changed(*, ticket: Ticket, at: datetime) -> None:
    """Apply the policy of the ticket's new priority, keeping the business time already used.

    The new targets count from the ticket's start, not from the change: a ticket that has used
    3 business hours and moves to a 2-hour first-response target has breached it at once.
    A priority without a policy makes the SLA inactive (state "none").
    """
    sla = _locked(ticket)
    if sla is None:
        sla_ticket_opened(ticket=ticket, at=at)
        return
    policy = _policy_for(organization_id=ticket.organization_id, priority=ticket.priority)
    was_active, old_priority = sla.active, sla.priority
    if policy is None and not was_active:
        sla.priority = ticket.priority
        _save(sla, [], at=at)
        return
    clock.rebase(sla, at, lambda row: _apply_policy(row, policy, at=at))
    sla.priority = ticket.priority
    kind = SlaEventKind.POLICY_CHANGED if was_active else SlaEventKind.STARTED
    detail = {**_policy_detail(sla), "previous_priority": old_priority}
    # Logged also when the SLA becomes inactive: the timeline says why the clocks stopped.
    _save(sla, [_event(sla, kind, at, **detail)], at=at, log=True)
