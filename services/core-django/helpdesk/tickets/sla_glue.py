"""How ticket lists and pages read the SLA engine's state (filter, sort by time to breach)."""

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet

from helpdesk.tickets.models import Ticket


def sla_row_fields() -> dict[str, Any]:
    """``sla_state`` and ``sla_due`` (the next breach instant) as columns of list rows."""
    from helpdesk.sla.selectors import sla_row_annotations

    fields = sla_row_annotations()
    return {"sla_state": fields["sla_state"], "sla_due": fields["sla_next_breach_at"]}


def sla_row_public(row: dict[str, Any]) -> None:
    row["sla_due_at"] = row.pop("sla_due", None)


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
