"""Reads of tickets, always scoped to what the caller may see."""

from django.db.models import QuerySet

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
