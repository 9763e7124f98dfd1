"""Writes to tickets. Each one commits its change and its event together (the outbox), and the
event also becomes the ticket's history (``AuditEntry``): the stream and the history never
disagree."""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import redis
import structlog
from django.contrib.postgres.search import SearchVector
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import Count, Q, Value
from django.utils import timezone

from helpdesk.accounts.models import Availability, Organization, Role, User
from helpdesk.common.redis import get_redis
from helpdesk.outbox.services import event_record
from helpdesk.tickets import events
from helpdesk.tickets.cache import ticket_lists_changed
from helpdesk.tickets.models import (
    ALLOWED_TRANSITIONS,
    AssignmentStrategy,
    Attachment,
    AuditEntry,
    Channel,
    Comment,
    Macro,
    Priority,
    Queue,
    Status,
    Tag,
    Ticket,
    TicketLink,
    TriageCorrection,
)
from helpdesk_shared import (
    Actor,
    CommentCreated,
    Envelope,
    FieldChange,
    TicketCreated,
    TicketMerged,
    TicketUpdated,
)
from helpdesk_shared.presence import PRESENCE_TTL_SECONDS, agents_seen_key
from helpdesk_shared.triage import TriageVerdict

log = structlog.get_logger(__name__)

OPEN_STATUSES = (Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD)


# --- Events, history and caches ---------------------------------------------------------------


def _audit_rows(event: Envelope) -> list[AuditEntry]:
    common: dict[str, Any] = {
        "ticket_id": event.ticket_id,
        "event_id": event.id,
        "event_type": event.type,
        "actor_kind": event.actor.kind,
        "actor_id": event.actor.id,
        "actor_role": event.actor.role or "",
        "request_id": event.request_id or "",
        "at": event.occurred_at,
    }
    if isinstance(event, TicketUpdated):
        return [
            AuditEntry(**common, field=c.field, old=c.old, new=c.new) for c in event.data.changes
        ]
    if isinstance(event, TicketCreated):
        return [AuditEntry(**common, field="status", old=None, new=event.data.status)]
    if isinstance(event, CommentCreated):
        kind = "reply" if event.data.public else "note"
        return [AuditEntry(**common, field=kind, old=None, new=str(event.data.comment_id))]
    if isinstance(event, TicketMerged):
        return [
            AuditEntry(**common, field="merged_into", old=None, new=str(event.data.into_number))
        ]
    return []


def _emit(event: Envelope) -> None:
    """Every ticket write ends here: its event joins the transaction (the outbox) and the
    ticket's history, and once the transaction commits, cached lists and counters of the
    organization are invalidated."""
    event_record(event=event)
    AuditEntry.objects.bulk_create(_audit_rows(event))
    organization_id = event.organization_id
    transaction.on_commit(lambda: ticket_lists_changed(organization_id=organization_id))


def _search_document(subject: Any, description: Any, replies: Any) -> Any:
    return (
        SearchVector(subject, weight="A", config="simple")
        + SearchVector(description, weight="B", config="simple")
        + SearchVector(replies, weight="C", config="simple")
    )


def _refresh_search(ticket_id: int) -> None:
    """Keep the ticket's search document current (PostgreSQL): subject, description and public
    replies. Internal notes are left out, so searching never reveals one to a customer."""
    if connection.vendor != "postgresql":
        return
    replies = " ".join(
        Comment.objects.filter(ticket_id=ticket_id, public=True).values_list("body", flat=True)
    )
    Ticket.objects.filter(pk=ticket_id).update(
        search_vector=_search_document("subject", "description", Value(replies))
    )


def _new_search_document(*, subject: str, description: str) -> Any:
    """A new ticket's search document, written with its INSERT (it has no replies yet)."""
    if connection.vendor != "postgresql":
        return None
    return _search_document(Value(subject), Value(description), Value(""))


# --- Creating -----------------------------------------------------------------------------


def _next_ticket_number(*, organization_id: int) -> int:
    """Hand out the organization's next number. The UPDATE locks the organization's row until
    commit, so concurrent creations queue here and numbers never repeat or skip backwards."""
    table = connection.ops.quote_name(Organization._meta.db_table)
    with connection.cursor() as cursor:  # one statement: UPDATE ... RETURNING
        cursor.execute(
            f"UPDATE {table} SET last_ticket_number = last_ticket_number + 1"  # noqa: S608
            " WHERE id = %s RETURNING last_ticket_number",
            [organization_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise Organization.DoesNotExist(organization_id)
    return int(row[0])


def tags_resolve(*, organization_id: int, names: Iterable[str]) -> list[Tag]:
    wanted = sorted({name.strip().lower() for name in names if name.strip()})
    existing = {
        t.name: t for t in Tag.objects.filter(organization_id=organization_id, name__in=wanted)
    }
    missing = [Tag(organization_id=organization_id, name=n) for n in wanted if n not in existing]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {
            t.name: t for t in Tag.objects.filter(organization_id=organization_id, name__in=wanted)
        }
    return [existing[n] for n in wanted]


def ticket_create(
    *,
    requester: User,
    subject: str,
    description: str,
    priority: str = Priority.NORMAL,
    channel: str = Channel.WEB,
    actor: User | None = None,
    queue: Queue | None = None,
    category: str = "",
    tags: Sequence[str] = (),
    assignee: User | None = None,
    due_at: datetime | None = None,
) -> Ticket:
    """Open a ticket for ``requester`` in their organization and emit ``ticket.created``.

    A ticket filed into a queue with automatic assignment gets an agent at once.
    """
    if requester.organization_id is None:
        raise ValueError("The requester belongs to no organization.")
    with transaction.atomic():
        now = timezone.now()
        if assignee is None and queue is not None:
            assignee = _assignee_pick(queue)
        ticket = Ticket.objects.create(
            organization_id=requester.organization_id,
            number=_next_ticket_number(organization_id=requester.organization_id),
            subject=subject,
            description=description,
            priority=priority,
            channel=channel,
            requester=requester,
            queue=queue,
            category=category,
            assignee=assignee,
            due_at=due_at,
            created_at=now,
            updated_at=now,
            search_vector=_new_search_document(subject=subject, description=description),
        )
        tag_rows = tags_resolve(organization_id=ticket.organization_id, names=tags)
        if tag_rows:
            ticket.tags.set(tag_rows)
        ticket.tag_names = [t.name for t in tag_rows]  # type: ignore[attr-defined]  # the answer's
        _sla().sla_ticket_opened(ticket=ticket, at=now)
        _emit(
            events.ticket_created(
                ticket=ticket, actor=actor or requester, tags=[t.name for t in tag_rows]
            )
        )
    return ticket


# --- Changing -----------------------------------------------------------------------------

EDITABLE_FIELDS = (
    "subject",
    "status",
    "priority",
    "category",
    "queue",
    "assignee",
    "tags",
    "due_at",
)


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


class TicketClosedError(ValueError):
    """Closed and merged tickets are final: a follow-up is a new ticket."""


def _text(value: Any) -> str | None:
    """A field's value as the history shows it."""
    if value is None:
        return None
    if isinstance(value, Queue | User):
        return str(value.pk)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ",".join(value)
    return str(value)


def _lock(ticket_id: int, expected_version: int | None) -> Ticket:
    ticket = (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("requester__company")
        .get(pk=ticket_id)
    )
    if expected_version is not None and ticket.version != expected_version:
        raise StaleTicketError(ticket)
    return ticket


def _apply_changes(
    ticket: Ticket, changes: Mapping[str, Any], *, actor: User | Actor | None, now: datetime
) -> list[FieldChange]:
    """Set the fields that really change, checking the status transition; returns the diffs."""
    diffs: list[FieldChange] = []
    for field in EDITABLE_FIELDS:
        if field not in changes:
            continue
        new = changes[field]
        if field == "tags":
            old_tags = sorted(ticket.tags.values_list("name", flat=True))
            rows = tags_resolve(organization_id=ticket.organization_id, names=new)
            new_tags = [t.name for t in rows]
            if new_tags != old_tags:
                ticket.tags.set(rows)
                diffs.append(FieldChange(field="tags", old=_text(old_tags), new=_text(new_tags)))
            continue
        old = getattr(ticket, field)
        if old == new:
            continue
        if field == "status":
            if new not in ALLOWED_TRANSITIONS[old]:
                raise InvalidTransitionError(old, new)
            if new == Status.SOLVED:
                ticket.solved_at = now
            elif old == Status.SOLVED:
                ticket.solved_at = None
        setattr(ticket, field, new)
        diffs.append(FieldChange(field=field, old=_text(old), new=_text(new)))
    return diffs


def ticket_update(
    *,
    ticket_id: int,
    actor: User | Actor | None,
    changes: Mapping[str, Any],
    expected_version: int | None = None,
) -> Ticket:
    """Change a ticket's fields and emit ``ticket.updated`` with each field's old and new value.

    ``expected_version`` is the version the caller's view showed (``If-Match``): if the ticket
    moved on since, nothing is written and ``StaleTicketError`` carries the current ticket, so
    two agents cannot silently overwrite each other. Setting a field to its current value is
    not a change: no new version, no event. Moving a ticket into a queue with automatic
    assignment assigns it; an agent overriding the AI's category or priority is recorded as a
    correction (training data).
    """
    with transaction.atomic():
        ticket = _lock(ticket_id, expected_version)
        if ticket.status == Status.CLOSED:
            if changes.get("status", Status.CLOSED) != Status.CLOSED:
                raise InvalidTransitionError(ticket.status, changes["status"])
            if set(changes) - {"tags", "status"}:
                raise TicketClosedError("This ticket is closed; open a new one to follow up.")
        now = timezone.now()
        before = {"status": ticket.status, "priority": ticket.priority}
        changes = dict(changes)
        if (
            "queue" in changes
            and changes["queue"] is not None
            and changes["queue"] != ticket.queue
            and "assignee" not in changes
            and ticket.assignee_id is None
        ):
            changes["assignee"] = _assignee_pick(changes["queue"])
        diffs = _apply_changes(ticket, changes, actor=actor, now=now)
        if not diffs:
            return ticket
        ticket.version += 1
        ticket.updated_at = now
        ticket.save()
        _sla_follow(ticket, before=before, at=now)
        if isinstance(actor, User):
            _record_corrections(ticket, diffs, agent=actor)
        _emit(events.ticket_updated(ticket=ticket, actor=actor, changes=diffs))
        if any(d.field == "subject" for d in diffs):
            _refresh_search(ticket.pk)
    return ticket


def _sla_follow(ticket: Ticket, *, before: Mapping[str, str], at: datetime) -> None:
    sla = _sla()
    if ticket.status != before["status"]:
        sla.sla_ticket_status_changed(ticket=ticket, old=before["status"], new=ticket.status, at=at)
    if ticket.priority != before["priority"]:
        sla.sla_ticket_priority_changed(ticket=ticket, at=at)


def _record_corrections(ticket: Ticket, diffs: list[FieldChange], *, agent: User) -> None:
    """When an agent sets category or priority away from what the AI said, keep the pair."""
    if not ticket.ai_model:
        return
    predicted = {"category": ticket.ai_category, "priority": ticket.ai_priority}
    rows = [
        TriageCorrection(
            ticket=ticket,
            organization_id=ticket.organization_id,
            field=d.field,
            predicted=predicted[d.field],
            corrected=d.new or "",
            model=ticket.ai_model,
            agent=agent,
        )
        for d in diffs
        if d.field in predicted and predicted[d.field] and d.new != predicted[d.field]
    ]
    TriageCorrection.objects.bulk_create(rows)


# --- Assignment ---------------------------------------------------------------------------


def _online_agents(organization_id: int) -> set[int] | None:
    """Agents realtime saw recently (heartbeats), or None when presence is unknown."""
    try:
        cutoff = timezone.now().timestamp() - PRESENCE_TTL_SECONDS
        members = cast(
            list[bytes], get_redis().zrangebyscore(agents_seen_key(organization_id), cutoff, "+inf")
        )
    except redis.RedisError:
        return None
    return {int(m) for m in members} if members else None


def _assignee_pick(queue: Queue) -> User | None:
    """The next agent of the queue by its strategy, skipping agents marked away and, when
    realtime knows who is online, agents who are not."""
    if queue.assignment == AssignmentStrategy.MANUAL:
        return None
    queue = Queue.objects.select_for_update().get(pk=queue.pk)  # round robin: one at a time
    members = (
        queue.members.filter(is_active=True, role__in=[Role.AGENT, Role.ADMIN])
        .exclude(availability=Availability.AWAY)
        .order_by("id")
    )
    online = _online_agents(queue.organization_id)
    if online is not None:
        members = (
            members.filter(id__in=online) if members.filter(id__in=online).exists() else members
        )
    chosen: User | None
    if queue.assignment == AssignmentStrategy.LEAST_OPEN:
        chosen = (
            members.annotate(
                open_count=Count(
                    "assigned_tickets", filter=Q(assigned_tickets__status__in=OPEN_STATUSES)
                )
            )
            .order_by("open_count", "id")
            .first()
        )
    else:
        chosen = members.filter(id__gt=queue.last_assigned_id or 0).first() or members.first()
    if chosen is not None:
        Queue.objects.filter(pk=queue.pk).update(last_assigned_id=chosen.pk)
    return chosen


# --- Comments -----------------------------------------------------------------------------


@dataclass(frozen=True)
class NewAttachment:
    file: UploadedFile
    name: str
    size: int
    content_type: str


def comment_create(
    *,
    ticket_id: int,
    author: User,
    body: str,
    public: bool = True,
    attachments: Sequence[NewAttachment] = (),
    expected_version: int | None = None,
) -> Comment:
    """Add a reply or an internal note and emit ``comment.created``.

    A staff member's first public reply is the ticket's first response (the SLA's first
    target). A customer's reply on a pending or solved ticket opens it again. Every comment
    bumps the ticket's version, so an agent whose view predates it gets a 412 (collision).
    """
    from_customer = not author.is_staff_member and author.role != Role.BOT
    if from_customer and not public:
        raise ValueError("Customers cannot write internal notes.")
    with transaction.atomic():
        ticket = _lock(ticket_id, expected_version)
        if ticket.status == Status.CLOSED:
            raise TicketClosedError("This ticket is closed; open a new one to follow up.")
        now = timezone.now()
        comment = Comment.objects.create(
            ticket=ticket, author=author, body=body, public=public, created_at=now
        )
        rows = [
            Attachment(
                organization_id=ticket.organization_id,
                comment=comment,
                file=a.file,
                name=a.name,
                size=a.size,
                content_type=a.content_type,
            )
            for a in attachments
        ]
        for row in rows:
            row.save()
        before = {"status": ticket.status, "priority": ticket.priority}
        status_diffs: list[FieldChange] = []
        if public and not from_customer and ticket.first_response_at is None:
            ticket.first_response_at = now
            _sla().sla_first_response(ticket=ticket, at=now)
        customer_returns = from_customer and ticket.status in (Status.PENDING, Status.SOLVED)
        staff_answers = public and not from_customer and ticket.status == Status.NEW
        if customer_returns or staff_answers:
            status_diffs = _apply_changes(ticket, {"status": Status.OPEN}, actor=author, now=now)
        ticket.version += 1
        ticket.updated_at = now
        ticket.save()
        _sla_follow(ticket, before=before, at=now)
        _emit(
            events.comment_created(
                ticket=ticket,
                comment=comment,
                attachments=rows,
                actor=author,
                from_customer=from_customer,
            )
        )
        if status_diffs:
            _emit(events.ticket_updated(ticket=ticket, actor=author, changes=status_diffs))
        if public:
            _refresh_search(ticket.pk)
    return comment


# --- Macros -------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+(?:\.[a-z_]+)?)\s*\}\}")


def macro_render(*, macro: Macro, ticket: Ticket, agent: User) -> str:
    """Fill a macro's placeholders; unknown ones are left as written, so a typo shows."""
    requester: User = ticket.requester
    values = {
        "requester.name": requester.full_name or requester.email,
        "requester.first_name": (requester.full_name or requester.email).split()[0],
        "requester.email": requester.email,
        "ticket.number": str(ticket.number),
        "ticket.subject": ticket.subject,
        "ticket.status": ticket.status,
        "agent.name": agent.full_name or agent.email,
        "organization.name": ticket.organization.name,
    }
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), macro.body)


MACRO_ACTIONS = ("status", "priority", "queue", "tags", "category")


def macro_apply(
    *, macro: Macro, ticket: Ticket, agent: User, expected_version: int | None = None
) -> tuple[Ticket, Comment | None]:
    """Post the macro's reply (or note) and set its fields, in one transaction."""
    with transaction.atomic():
        comment = None
        if macro.body.strip():
            comment = comment_create(
                ticket_id=ticket.pk,
                author=agent,
                body=macro_render(macro=macro, ticket=ticket, agent=agent),
                public=macro.public,
                expected_version=expected_version,
            )
            expected_version = None  # the reply moved the version on; it was checked there
        changes: dict[str, Any] = {}
        for field, value in (macro.actions or {}).items():
            if field == "queue":
                changes["queue"] = Queue.objects.filter(
                    organization_id=ticket.organization_id, pk=value
                ).first()
            elif field in MACRO_ACTIONS:
                changes[field] = value
        updated = ticket_update(
            ticket_id=ticket.pk, actor=agent, changes=changes, expected_version=expected_version
        )
    return updated, comment


# --- Merging and linking ------------------------------------------------------------------


class MergeError(ValueError):
    pass


def ticket_merge(*, source: Ticket, target: Ticket, actor: User) -> Ticket:
    """Merge ``source`` into ``target``: its comments and history move over, it is closed with
    a link to the target, and both sides' readers are told (``ticket.merged``)."""
    if source.pk == target.pk:
        raise MergeError("A ticket cannot be merged into itself.")
    if source.organization_id != target.organization_id:
        raise MergeError("Tickets of different organizations cannot be merged.")
    with transaction.atomic():
        first, second = sorted([source.pk, target.pk])
        locked = {
            t.pk: t
            for t in Ticket.objects.select_for_update(of=("self",))
            .select_related("requester__company", "organization")
            .filter(pk__in=[first, second])
            .order_by("pk")
        }
        source, target = locked[source.pk], locked[target.pk]
        if target.status == Status.CLOSED or target.merged_into_id is not None:
            raise MergeError(f"Ticket #{target.number} is closed; merge into an open ticket.")
        if source.merged_into_id is not None:
            raise MergeError(f"Ticket #{source.number} was already merged.")
        now = timezone.now()
        Comment.objects.filter(ticket=source).update(ticket=target)
        history = [
            AuditEntry(
                ticket=target,
                event_id=row.event_id,
                event_type=row.event_type,
                field=row.field,
                old=row.old,
                new=row.new,
                actor_kind=row.actor_kind,
                actor_id=row.actor_id,
                actor_role=row.actor_role,
                request_id=row.request_id,
                at=row.at,
            )
            for row in AuditEntry.objects.filter(ticket=source).order_by("at", "id")
        ]
        AuditEntry.objects.bulk_create(history)
        note = Comment.objects.create(
            ticket=target,
            author=actor,
            public=False,
            created_at=now,
            body=f"Ticket #{source.number} ({source.subject}) was merged into this ticket.\n\n"
            f"{source.description}",
        )
        old_status = source.status
        source.status = Status.CLOSED
        source.merged_into = target
        source.version += 1
        source.updated_at = now
        source.save()
        target.version += 1
        target.updated_at = now
        target.save(update_fields=["version", "updated_at"])
        _sla().sla_ticket_status_changed(ticket=source, old=old_status, new=Status.CLOSED, at=now)
        _emit(events.ticket_merged(source=source, target=target, actor=actor))
        _emit(
            events.ticket_updated(
                ticket=source,
                actor=actor,
                changes=[
                    FieldChange(field="status", old=old_status, new=Status.CLOSED),
                    FieldChange(field="merged_into", old=None, new=str(target.number)),
                ],
            )
        )
        _emit(
            events.comment_created(
                ticket=target, comment=note, attachments=[], actor=actor, from_customer=False
            )
        )
        _refresh_search(target.pk)
    return target


def ticket_link(*, ticket: Ticket, other: Ticket) -> TicketLink:
    if ticket.pk == other.pk or ticket.organization_id != other.organization_id:
        raise MergeError("A ticket can be linked only to another ticket of its organization.")
    source, target = sorted([ticket, other], key=lambda t: t.pk)
    link, _created = TicketLink.objects.get_or_create(source=source, target=target)
    return link


def ticket_unlink(*, ticket: Ticket, other: Ticket) -> None:
    TicketLink.objects.filter(
        Q(source=ticket, target=other) | Q(source=other, target=ticket)
    ).delete()


# --- The AI's triage ----------------------------------------------------------------------


def triage_apply(*, verdict: TriageVerdict) -> tuple[Ticket, bool]:
    """Store the AI's verdict beside the ticket, and apply it when the organization's threshold
    is met: category and queue routing always on the first verdict, priority only while no one
    set it by hand. Idempotent per event: a verdict for an event already triaged changes
    nothing. Returns the ticket and whether anything was applied to its fields."""
    with transaction.atomic():
        ticket = (
            Ticket.objects.select_for_update(of=("self",))
            .select_related("organization", "requester__company")
            .get(pk=verdict.ticket_id, organization_id=verdict.organization_id)
        )
        if ticket.ai_event_id == verdict.event_id:
            return ticket, False
        first_verdict = ticket.ai_triaged_at is None
        now = timezone.now()
        model = f"{verdict.model_id}@{verdict.model_version}"
        suggestions = {
            "ai_category": verdict.category.label,
            "ai_category_confidence": verdict.category.confidence,
            "ai_priority": verdict.priority.label,
            "ai_priority_confidence": verdict.priority.confidence,
            "ai_sentiment": verdict.sentiment.label,
            "ai_sentiment_confidence": verdict.sentiment.confidence,
            "ai_language": verdict.language.label,
            "ai_language_confidence": verdict.language.confidence,
            "ai_model": model,
        }
        diffs = [
            FieldChange(field=name, old=_text(getattr(ticket, name) or None), new=_text(value))
            for name, value in suggestions.items()
            if name.endswith(("category", "priority", "sentiment", "language", "model"))
            and getattr(ticket, name) != value
        ]
        for name, value in suggestions.items():
            setattr(ticket, name, value)
        ticket.ai_triaged_at = now
        ticket.ai_event_id = verdict.event_id
        threshold = ticket.organization.triage_auto_apply_threshold
        changes: dict[str, Any] = {}
        if ticket.status not in (Status.SOLVED, Status.CLOSED):
            if verdict.category.confidence >= threshold and not _set_by_hand(ticket, "category"):
                changes["category"] = verdict.category.label
                if ticket.queue_id is None:
                    queue = next(
                        (
                            q
                            for q in Queue.objects.filter(organization_id=ticket.organization_id)
                            if verdict.category.label in (q.categories or [])
                        ),
                        None,
                    )
                    if queue is not None:
                        changes["queue"] = queue
                        if ticket.assignee_id is None:
                            changes["assignee"] = _assignee_pick(queue)
            if (
                verdict.priority.confidence >= threshold
                and verdict.priority.label in Priority.values
                and not _set_by_hand(ticket, "priority")
            ):
                changes["priority"] = verdict.priority.label
        before = {"status": ticket.status, "priority": ticket.priority}
        applied = _apply_changes(ticket, changes, actor=events.AI_ACTOR, now=now)
        if applied:
            ticket.ai_applied = True
            diffs.append(FieldChange(field="ai_applied", old=None, new="true"))
        elif first_verdict:
            ticket.ai_applied = False
        if not diffs and not applied:
            # A re-triage (a customer's reply) that says what the AI said before: the event is
            # remembered, but nothing anyone sees changed, so no new version and no event (an
            # event needs at least one change; raising here made the AI retry it forever).
            ticket.save(update_fields=["ai_triaged_at", "ai_event_id", "ai_applied"])
            return ticket, False
        ticket.version += 1
        ticket.updated_at = now
        ticket.save()
        _sla_follow(ticket, before=before, at=now)
        _emit(events.ticket_updated(ticket=ticket, actor=events.AI_ACTOR, changes=diffs + applied))
    return ticket, bool(applied)


def _set_by_hand(ticket: Ticket, field: str) -> bool:
    return AuditEntry.objects.filter(
        ticket=ticket, field=field, actor_kind="user", event_type="ticket.updated"
    ).exists()


def _sla() -> Any:
    """The SLA engine's hooks (helpdesk.sla.services), imported late: SLA depends on tickets."""
    from helpdesk.sla import services

    return services
