"""Reads of tickets, always scoped to what the caller may see."""

from typing import Any

from django.db.models import F, QuerySet

from helpdesk.accounts.models import Role, User
from helpdesk.tickets.models import Ticket


def ticket_list_visible(*, user: User) -> QuerySet[Ticket]:
    """Agents, admins and bots see their organization's tickets; customers only their own."""
    if user.organization_id is None:
        return Ticket.objects.none()
    tickets = Ticket.objects.filter(organization_id=user.organization_id).select_related(
        "organization"
    )
    if user.role == Role.CUSTOMER:
        tickets = tickets.filter(requester=user)
    return tickets


TICKET_ROW_FIELDS = (
    "id",
    "number",
    "subject",
    "description",
    "status",
    "priority",
    "channel",
    "requester_id",
    "version",
    "created_at",
    "updated_at",
)


def ticket_rows_visible(*, user: User) -> QuerySet[Ticket, dict[str, Any]]:
    """The same tickets as plain rows, in the API's shape (``TicketPublicSerializer``).

    Lists are the hottest read of the dashboard: rows skip building a model instance and a
    serializer field by field for each ticket, which was most of a list request's time.
    """
    rows: QuerySet[Ticket, dict[str, Any]] = ticket_list_visible(user=user).values(
        *TICKET_ROW_FIELDS, org_slug=F("organization__slug")
    )
    return rows


def ticket_row_public(row: dict[str, Any]) -> dict[str, Any]:
    row["organization"] = row.pop("org_slug")
    return row
