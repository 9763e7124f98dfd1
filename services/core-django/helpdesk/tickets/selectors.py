"""Reads of tickets, always scoped to what the caller may see."""

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import F, Prefetch, Q, QuerySet
from django.utils import timezone

from helpdesk.accounts.models import Role, User
from helpdesk.tickets.models import (
    AuditEntry,
    Comment,
    Priority,
    Queue,
    Status,
    Tag,
    Ticket,
    TicketLink,
)
from helpdesk.tickets.sla_glue import sla_row_fields, sla_row_public, tickets_with_sla_state


def ticket_list_visible(*, user: User) -> QuerySet[Ticket]:
    """Agents, admins and bots see their organization's tickets; customers their own, and
    their company's when the company shares tickets."""
    if user.organization_id is None:
        return Ticket.objects.none()
    tickets = Ticket.objects.filter(organization_id=user.organization_id).select_related(
        "organization"
    )
    if user.role == Role.CUSTOMER:
        company_id = user.shared_company_id
        if company_id is not None:
            tickets = tickets.filter(Q(requester=user) | Q(requester__company_id=company_id))
        else:
            tickets = tickets.filter(requester=user)
    return tickets


def comments_visible(*, user: User, ticket: Ticket) -> QuerySet[Comment]:
    """A ticket's comments the caller may read: customers never see internal notes."""
    comments = Comment.objects.filter(ticket=ticket)
    if not user.is_staff_member and user.role != Role.BOT:
        comments = comments.filter(public=True)
    return (
        comments.select_related("author")
        .prefetch_related("attachments")
        .order_by("created_at", "id")
    )


class FilterError(ValueError):
    """An unknown filter value: the API answers 400 with the field and what it accepts."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


FILTERS = ("status", "priority", "queue", "assignee", "tag", "requester", "sla", "q", "sort")
SORTS = {
    "-created": ("-id",),
    "created": ("id",),
    "breach": ("sla__next_breach_at", "id"),
}


def _ints(field: str, raw: str, *, extra: tuple[str, ...] = ()) -> tuple[list[int], set[str]]:
    ids: list[int] = []
    words: set[str] = set()
    for part in raw.split(","):
        part = part.strip()
        if part in extra:
            words.add(part)
        elif part.isdigit() and len(part) < 10:
            ids.append(int(part))
        else:
            accepted = " or ".join(("ids", *extra))
            raise FilterError(field, f"{part!r} is not valid here; use {accepted}.")
    return ids, words


def _choices(field: str, raw: str, allowed: list[str]) -> list[str]:
    values = [v.strip() for v in raw.split(",") if v.strip()]
    bad = [v for v in values if v not in allowed]
    if bad or not values:
        raise FilterError(
            field, f"Unknown value {', '.join(bad) or '(empty)'}; use {', '.join(allowed)}."
        )
    return values


def tickets_filtered(
    tickets: QuerySet[Ticket], *, params: Mapping[str, str], user: User
) -> QuerySet[Ticket]:
    """Apply the list's filters; unknown values raise ``FilterError`` instead of matching
    nothing silently. Several values of one filter are comma-separated (OR)."""
    if raw := params.get("status"):
        statuses = set(_choices("status", raw, [*Status.values, "unsolved"]))
        if "unsolved" in statuses:
            statuses |= {Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD}
        tickets = tickets.filter(status__in=statuses)
    if raw := params.get("priority"):
        tickets = tickets.filter(priority__in=_choices("priority", raw, Priority.values))
    if raw := params.get("queue"):
        ids, words = _ints("queue", raw, extra=("none",))
        tickets = tickets.filter(Q(queue_id__in=ids) | Q(queue__isnull="none" in words))
    if raw := params.get("assignee"):
        ids, words = _ints("assignee", raw, extra=("me", "none"))
        if "me" in words:
            ids.append(user.pk)
        tickets = tickets.filter(Q(assignee_id__in=ids) | Q(assignee__isnull="none" in words))
    if raw := params.get("requester"):
        ids, _ = _ints("requester", raw)
        tickets = tickets.filter(requester_id__in=ids)
    if raw := params.get("tag"):
        names = [n.strip().lower() for n in raw.split(",") if n.strip()]
        tickets = tickets.filter(tags__name__in=names).distinct()
    if raw := params.get("sla"):
        states = _choices("sla", raw, ["ok", "warning", "breached", "paused", "met", "none"])
        tickets = tickets_with_sla_state(tickets, states)
    if raw := params.get("q"):
        tickets = tickets_search(tickets, raw)
    return tickets


def tickets_search(tickets: QuerySet[Ticket], text: str) -> QuerySet[Ticket]:
    """Full text on PostgreSQL (the GIN-indexed search document); words on SQLite."""
    text = text.strip()[:200]
    if not text:
        return tickets
    if connection.vendor == "postgresql":
        query = SearchQuery(text, search_type="websearch", config="simple")
        return tickets.filter(search_vector=query).annotate(
            rank=SearchRank(F("search_vector"), query)
        )
    for word in text.split()[:10]:
        tickets = tickets.filter(Q(subject__icontains=word) | Q(description__icontains=word))
    return tickets


TICKET_ROW_FIELDS = (
    "id",
    "number",
    "subject",
    "status",
    "priority",
    "category",
    "channel",
    "requester_id",
    "assignee_id",
    "queue_id",
    "due_at",
    "version",
    "created_at",
    "updated_at",
)


def ticket_rows(tickets: QuerySet[Ticket]) -> QuerySet[Ticket, dict[str, Any]]:
    """Tickets as plain rows in the list's shape (``ticket_rows_public`` finishes them).

    Lists are the hottest read of the dashboard: rows skip building a model instance and a
    serializer field by field for each ticket, which was most of a list request's time.
    """
    rows: QuerySet[Ticket, dict[str, Any]] = tickets.values(*TICKET_ROW_FIELDS, *sla_row_fields())
    return rows


def ticket_rows_public(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add each row's tags (one query for the page) and rename the SLA columns."""
    tags: dict[int, list[str]] = defaultdict(list)
    ids = [row["id"] for row in rows]
    if ids:
        through = Ticket.tags.through.objects.filter(ticket_id__in=ids)
        for ticket_id, name in through.values_list("ticket_id", "tag__name").order_by("tag__name"):
            tags[ticket_id].append(name)
    now = timezone.now()
    for row in rows:
        row["tags"] = tags.get(row["id"], [])
        sla_row_public(row, now)
    return rows


_MERGED_INTO_DEFERRED = ("search_vector", "description", "subject")


def ticket_detail(*, user: User, number: int) -> Ticket:
    """One ticket with what its page shows, in a fixed number of queries however many comments
    it has (``Ticket.DoesNotExist`` when the caller may not see it)."""
    staff = user.is_staff_member or user.role == Role.BOT
    comments = Comment.objects.select_related("author").prefetch_related("attachments")
    if not staff:
        comments = comments.filter(public=True)
    return (
        ticket_list_visible(user=user)
        .select_related("requester", "assignee", "queue", "merged_into", "sla")
        # The search document (the largest column) is not shown; of the ticket a merged one
        # points to, its number is.
        .defer("search_vector", *(f"merged_into__{name}" for name in _MERGED_INTO_DEFERRED))
        .prefetch_related(
            Prefetch(
                "comments",
                queryset=comments.order_by("created_at", "id"),
                to_attr="visible_comments",
            ),
            Prefetch("tags", queryset=Tag.objects.order_by("name")),
        )
        .get(number=number)
    )


def ticket_history(*, ticket: Ticket, user: User) -> QuerySet[AuditEntry]:
    """The ticket's changes, oldest first. Customers see no internal notes and no AI fields."""
    entries = AuditEntry.objects.filter(ticket=ticket).order_by("at", "id")
    if not user.is_staff_member and user.role != Role.BOT:
        entries = entries.exclude(field="note").exclude(field__startswith="ai_")
    return entries


def ticket_links(*, ticket: Ticket) -> list[Ticket]:
    links = TicketLink.objects.filter(Q(source=ticket) | Q(target=ticket)).select_related(
        "source", "target"
    )
    return [link.target if link.source_id == ticket.pk else link.source for link in links]


def queues_for(*, user: User) -> QuerySet[Queue]:
    return Queue.objects.filter(organization_id=user.organization_id or 0).order_by("name")
