"""The events tickets emit, built from the shared schemas.

Every envelope carries its routing (``audience``, queue, requester, the requester's sharing
company), so that realtime and webhooks route without knowing each payload.
"""

from typing import Any

from helpdesk.accounts.models import User
from helpdesk.tickets.models import Attachment, Comment, Ticket
from helpdesk_kit.request_id import current_request_id
from helpdesk_shared import (
    Actor,
    AttachmentRef,
    CommentCreated,
    CommentCreatedData,
    FieldChange,
    TicketCreated,
    TicketCreatedData,
    TicketMerged,
    TicketMergedData,
    TicketUpdated,
    TicketUpdatedData,
    uuid7,
)

AI_ACTOR = Actor(kind="ai")
SYSTEM_ACTOR = Actor(kind="system")


def actor_of(user: User | Actor | None) -> Actor:
    if user is None:
        return SYSTEM_ACTOR
    if isinstance(user, Actor):
        return user
    return Actor(kind="user", id=user.pk, role=user.role)  # type: ignore[arg-type]


def _routing(ticket: Ticket) -> dict[str, Any]:
    requester: User = ticket.requester
    return {
        "id": uuid7(),
        "organization_id": ticket.organization_id,
        "ticket_id": ticket.pk,
        "queue_id": ticket.queue_id,
        "requester_id": ticket.requester_id,
        "company_id": requester.shared_company_id,
        "request_id": current_request_id(),
    }


def ticket_created(
    *, ticket: Ticket, actor: User | Actor | None, tags: list[str] | None = None
) -> TicketCreated:
    return TicketCreated(
        **_routing(ticket),
        occurred_at=ticket.created_at,
        actor=actor_of(actor),
        data=TicketCreatedData(
            number=ticket.number,
            subject=ticket.subject,
            description=ticket.description,
            status=ticket.status,  # type: ignore[arg-type]
            priority=ticket.priority,  # type: ignore[arg-type]
            channel=ticket.channel,  # type: ignore[arg-type]
            requester_id=ticket.requester_id,
            created_at=ticket.created_at,
            queue_id=ticket.queue_id,
            assignee_id=ticket.assignee_id,
            category=ticket.category,
            tags=tags or [],
        ),
    )


def ticket_updated(
    *, ticket: Ticket, actor: User | Actor | None, changes: list[FieldChange]
) -> TicketUpdated:
    return TicketUpdated(
        **_routing(ticket),
        occurred_at=ticket.updated_at,
        actor=actor_of(actor),
        data=TicketUpdatedData(
            number=ticket.number,
            requester_id=ticket.requester_id,
            version=ticket.version,
            changes=changes,
        ),
    )


def comment_created(
    *,
    ticket: Ticket,
    comment: Comment,
    attachments: list[Attachment],
    actor: User | Actor | None,
    from_customer: bool,
) -> CommentCreated:
    return CommentCreated(
        **_routing(ticket),
        occurred_at=comment.created_at,
        actor=actor_of(actor),
        audience="all" if comment.public else "staff",
        data=CommentCreatedData(
            comment_id=comment.pk,
            number=ticket.number,
            author_id=comment.author_id,
            public=comment.public,
            body=comment.body,
            attachments=[
                AttachmentRef(id=a.pk, name=a.name, size=a.size, content_type=a.content_type)
                for a in attachments
            ],
            created_at=comment.created_at,
            from_customer=from_customer,
        ),
    )


def ticket_merged(*, source: Ticket, target: Ticket, actor: User | None) -> TicketMerged:
    return TicketMerged(
        **_routing(source),
        occurred_at=source.updated_at,
        actor=actor_of(actor),
        data=TicketMergedData(
            number=source.number, into_ticket_id=target.pk, into_number=target.number
        ),
    )
