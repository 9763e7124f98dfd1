"""Writes to tickets. Each one commits its change and its event together (the outbox)."""

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from helpdesk.accounts.models import Organization, User
from helpdesk.outbox.services import event_record
from helpdesk.tickets import events
from helpdesk.tickets.cache import ticket_lists_changed
from helpdesk.tickets.models import Channel, Priority, Ticket
from helpdesk_shared import Envelope


def _emit(event: Envelope) -> None:
    """Every ticket write ends here: its event joins the transaction (the outbox), and once
    the transaction commits, cached ticket lists of the organization are invalidated."""
    event_record(event=event)
    organization_id = event.organization_id
    transaction.on_commit(lambda: ticket_lists_changed(organization_id=organization_id))


def _next_ticket_number(*, organization_id: int) -> int:
    """Hand out the organization's next number. The UPDATE locks the organization's row until
    commit, so concurrent creations queue here and numbers never repeat or skip backwards."""
    Organization.objects.filter(pk=organization_id).update(
        last_ticket_number=F("last_ticket_number") + 1
    )
    number: int = Organization.objects.values_list("last_ticket_number", flat=True).get(
        pk=organization_id
    )
    return number


def ticket_create(
    *,
    requester: User,
    subject: str,
    description: str,
    priority: str = Priority.NORMAL,
    channel: str = Channel.WEB,
    actor: User | None = None,
) -> Ticket:
    """Open a ticket for ``requester`` in their organization and emit ``ticket.created``."""
    if requester.organization_id is None:
        raise ValueError("The requester belongs to no organization.")
    with transaction.atomic():
        now = timezone.now()
        ticket = Ticket.objects.create(
            organization_id=requester.organization_id,
            number=_next_ticket_number(organization_id=requester.organization_id),
            subject=subject,
            description=description,
            priority=priority,
            channel=channel,
            requester=requester,
            created_at=now,
            updated_at=now,
        )
        _emit(events.ticket_created(ticket=ticket, actor=actor or requester))
    return ticket
