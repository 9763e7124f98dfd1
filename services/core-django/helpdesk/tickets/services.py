"""Writes to tickets. Each one commits its change and its event together (the outbox)."""

from collections.abc import Mapping

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from helpdesk.accounts.models import Organization, User
from helpdesk.outbox.services import event_record
from helpdesk.tickets import events
from helpdesk.tickets.cache import ticket_lists_changed
from helpdesk.tickets.models import ALLOWED_TRANSITIONS, Channel, Priority, Ticket
from helpdesk_shared import Envelope, FieldChange


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


EDITABLE_FIELDS = ("subject", "status", "priority")


class StaleTicketError(Exception):
    """The caller changed a version of the ticket that is no longer the current one."""

    def __init__(self, ticket: Ticket) -> None:
        super().__init__(f"ticket {ticket.pk} is at version {ticket.version}")
        self.ticket = ticket


class InvalidTransitionError(ValueError):
    def __init__(self, old: str, new: str) -> None:
        self.allowed = sorted(ALLOWED_TRANSITIONS[old])
        allowed = ", ".join(self.allowed) or "nothing: it is final"
        super().__init__(f"A {old} ticket cannot become {new}; it can become {allowed}.")


def ticket_update(
    *,
    ticket_id: int,
    actor: User,
    changes: Mapping[str, str],
    expected_version: int | None = None,
) -> Ticket:
    """Change a ticket's fields and emit ``ticket.updated`` with each field's old and new value.

    ``expected_version`` is the version the caller's view showed (``If-Match``): if the ticket
    moved on since, nothing is written and ``StaleTicketError`` carries the current ticket, so
    two agents cannot silently overwrite each other. Setting a field to its current value is
    not a change: no new version, no event.
    """
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket_id)
        if expected_version is not None and ticket.version != expected_version:
            raise StaleTicketError(ticket)
        diffs: list[FieldChange] = []
        for field in EDITABLE_FIELDS:
            if field not in changes or changes[field] == getattr(ticket, field):
                continue
            old, new = getattr(ticket, field), changes[field]
            if field == "status" and new not in ALLOWED_TRANSITIONS[old]:
                raise InvalidTransitionError(old, new)
            setattr(ticket, field, new)
            diffs.append(FieldChange(field=field, old=old, new=new))
        if not diffs:
            return ticket
        ticket.version += 1
        ticket.updated_at = timezone.now()
        ticket.save(update_fields=[*(d.field for d in diffs), "version", "updated_at"])
        _emit(events.ticket_updated(ticket=ticket, actor=actor, changes=diffs))
    return ticket
