"""How ticket lists and pages read the SLA engine's state (filter, sort by time to breach)."""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from helpdesk.tickets.models import Ticket


def sla_row_fields() -> tuple[str, ...]:
    """The SLA columns list rows carry (``sla_row_public`` turns them into the row's state)."""
    from helpdesk.sla.selectors import SLA_ROW_COLUMNS

    return SLA_ROW_COLUMNS


def sla_row_public(row: dict[str, Any], now: datetime) -> None:
    """Replace a row's SLA columns by ``sla_state`` and ``sla_due_at`` (the next breach)."""
    from helpdesk.sla.selectors import SLA_ROW_COLUMNS, sla_state_of_row

    row["sla_state"] = sla_state_of_row(row, now)
    row["sla_due_at"] = row["sla__next_breach_at"]
    for column in SLA_ROW_COLUMNS:
        del row[column]


def tickets_with_sla_state(tickets: QuerySet[Ticket], states: Iterable[str]) -> QuerySet[Ticket]:
    from helpdesk.sla.selectors import tickets_with_sla_state as engine

    return engine(tickets, list(states))


def sla_brief(ticket: Ticket) -> dict[str, Any]:
    """The state and the next breach instant, for the ticket's page (the timeline has more)."""
    from helpdesk.sla.models import TicketSla
    from helpdesk.sla.selectors import sla_state

    try:  # select_related("sla") by ticket_detail: no query
        sla: TicketSla | None = ticket.sla
    except TicketSla.DoesNotExist:
        sla = None
    return {
        "state": sla_state(ticket=ticket),
        "next_breach_at": sla.next_breach_at if sla else None,
    }


def seconds_until_sla_changes(ticket: Ticket) -> int:
    """How long the ticket's SLA state shown now stays true by itself (a large number when no
    clock runs): its next warning or due instant still ahead."""
    from helpdesk.sla.models import TicketSla

    try:
        sla: TicketSla | None = ticket.sla
    except TicketSla.DoesNotExist:
        sla = None
    if sla is None or not sla.active:
        return 86_400
    now = timezone.now()
    ahead = [
        instant
        for instant in (
            sla.first_response_warn_at,
            sla.first_response_due_at,
            sla.resolution_warn_at,
            sla.resolution_due_at,
        )
        if instant is not None and instant > now
    ]
    return int((min(ahead) - now).total_seconds()) if ahead else 86_400
