"""The events tickets emit, built from the shared schemas."""

from helpdesk.accounts.models import User
from helpdesk.tickets.models import Ticket
from helpdesk_kit.request_id import current_request_id
from helpdesk_shared import (
    Actor,
    FieldChange,
    TicketCreated,
    TicketCreatedData,
    TicketUpdated,
    TicketUpdatedData,
    uuid7,
)


def actor_of(user: User | None) -> Actor:
    if user is None:
        return Actor(kind="system")
    return Actor(kind="user", id=user.pk, role=user.role)  # type: ignore[arg-type]


def ticket_created(*, ticket: Ticket, actor: User | None) -> TicketCreated:
    return TicketCreated(
        id=uuid7(),
        occurred_at=ticket.created_at,
        organization_id=ticket.organization_id,
        ticket_id=ticket.pk,
        actor=actor_of(actor),
        request_id=current_request_id(),
        data=TicketCreatedData(
            number=ticket.number,
            subject=ticket.subject,
            description=ticket.description,
            status=ticket.status,  # type: ignore[arg-type]
            priority=ticket.priority,  # type: ignore[arg-type]
            channel=ticket.channel,  # type: ignore[arg-type]
            requester_id=ticket.requester_id,
            created_at=ticket.created_at,
        ),
    )


def ticket_updated(
    *, ticket: Ticket, actor: User | None, changes: list[FieldChange]
) -> TicketUpdated:
    return TicketUpdated(
        id=uuid7(),
        occurred_at=ticket.updated_at,
        organization_id=ticket.organization_id,
        ticket_id=ticket.pk,
        actor=actor_of(actor),
        request_id=current_request_id(),
        data=TicketUpdatedData(
            number=ticket.number,
            requester_id=ticket.requester_id,
            version=ticket.version,
            changes=changes,
        ),
    )
