"""Tickets: what a customer asked, numbered per organization."""

from typing import ClassVar

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.utils import timezone

from helpdesk.accounts.models import Organization


class Status(models.TextChoices):
    NEW = "new", "New"
    OPEN = "open", "Open"
    PENDING = "pending", "Pending"
    ON_HOLD = "on_hold", "On hold"
    SOLVED = "solved", "Solved"
    CLOSED = "closed", "Closed"


# Where a ticket may go from each status. Solved tickets can be reopened; closed ones are final
# (a follow-up is a new ticket). Staying in the same status is not a transition.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    Status.NEW: frozenset({Status.OPEN, Status.PENDING, Status.ON_HOLD, Status.SOLVED}),
    Status.OPEN: frozenset({Status.PENDING, Status.ON_HOLD, Status.SOLVED}),
    Status.PENDING: frozenset({Status.OPEN, Status.ON_HOLD, Status.SOLVED}),
    Status.ON_HOLD: frozenset({Status.OPEN, Status.PENDING, Status.SOLVED}),
    Status.SOLVED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class Channel(models.TextChoices):
    WEB = "web", "Web"
    API = "api", "API"


class AssignmentStrategy(models.TextChoices):
    MANUAL = "manual", "Manual"
    ROUND_ROBIN = "round_robin", "Round robin"
    LEAST_OPEN = "least_open", "Fewest open tickets"


class Queue(models.Model):
    """A group of agents working one kind of ticket (a "group" in Zendesk's words)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="queues")
    name = models.CharField(max_length=100)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="queues")
    assignment = models.CharField(
        max_length=16, choices=AssignmentStrategy.choices, default=AssignmentStrategy.MANUAL
    )
    # The AI routes a ticket here when it classifies it into one of these categories.
    categories = models.JSONField(default=list, blank=True)
    # Round robin: the id of the member who was assigned last.
    last_assigned_id = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["organization", "name"], name="queue_name_per_org")
        ]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="tags")
    name = models.SlugField(max_length=50, allow_unicode=True)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["organization", "name"], name="tag_name_per_org")
        ]

    def __str__(self) -> str:
        return self.name


class Ticket(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="tickets")
    number = models.PositiveIntegerField(help_text="Sequential within the organization.")
    subject = models.CharField(max_length=200)
    description = models.TextField(max_length=50_000)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.NORMAL)
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.WEB)
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="requested_tickets"
    )
    category = models.CharField(max_length=50, blank=True)
    queue = models.ForeignKey(
        Queue, on_delete=models.SET_NULL, null=True, blank=True, related_name="tickets"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tickets",
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="tickets")
    due_at = models.DateTimeField(null=True, blank=True, help_text="A due date an agent set.")
    first_response_at = models.DateTimeField(null=True, blank=True)
    solved_at = models.DateTimeField(null=True, blank=True)
    merged_into = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="merged_from"
    )
    # The AI's triage, kept apart from what agents set. ``ai_applied``: whether the verdict was
    # applied to the fields above automatically (the organization's threshold was met).
    ai_category = models.CharField(max_length=50, blank=True)
    ai_category_confidence = models.FloatField(null=True, blank=True)
    ai_priority = models.CharField(max_length=16, blank=True)
    ai_priority_confidence = models.FloatField(null=True, blank=True)
    ai_sentiment = models.CharField(max_length=16, blank=True)
    ai_sentiment_confidence = models.FloatField(null=True, blank=True)
    ai_language = models.CharField(max_length=16, blank=True)
    ai_language_confidence = models.FloatField(null=True, blank=True)
    ai_model = models.CharField(max_length=200, blank=True, help_text="model id and version")
    ai_applied = models.BooleanField(default=False)
    ai_triaged_at = models.DateTimeField(null=True, blank=True)
    ai_event_id = models.UUIDField(null=True, blank=True, help_text="the last event triaged")
    # Full-text search (PostgreSQL; a GIN index in migration 0003): subject, description and
    # public replies, kept current by the services. Unused on SQLite, which searches by LIKE.
    search_vector = SearchVectorField(null=True, editable=False)
    # Bumped by every change; the ETag of optimistic concurrency (If-Match) comes from it.
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["organization", "number"], name="ticket_number_per_org")
        ]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["organization", "-id"], name="ticket_org_newest_idx"),
            models.Index(fields=["requester", "-id"], name="ticket_requester_newest_idx"),
            models.Index(fields=["organization", "status", "-id"], name="ticket_org_status_idx"),
            models.Index(fields=["organization", "priority", "-id"], name="ticket_org_prio_idx"),
            models.Index(fields=["queue", "status", "-id"], name="ticket_queue_status_idx"),
            models.Index(fields=["assignee", "status", "-id"], name="ticket_assignee_status_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.subject}"


class Comment(models.Model):
    """A public reply (the requester sees it) or an internal note (staff only, everywhere)."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="comments"
    )
    body = models.TextField(max_length=50_000)
    public = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["ticket", "created_at"], name="comment_ticket_time_idx")
        ]

    def __str__(self) -> str:
        return f"{'reply' if self.public else 'note'} on {self.ticket_id}"


def attachment_path(instance: "Attachment", filename: str) -> str:
    return f"attachments/{instance.organization_id}/{timezone.now():%Y/%m}/{filename}"


class Attachment(models.Model):
    """A file on a comment, stored through Django's storage API (local files, S3 in production)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    comment = models.ForeignKey(Comment, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=300)
    name = models.CharField(max_length=200)
    size = models.PositiveIntegerField()
    content_type = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name


class AuditEntry(models.Model):
    """One field's change, as the ticket's history shows it, written from the same event the
    outbox carries (so history and stream never disagree)."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="audit")
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=64)
    field = models.CharField(max_length=64, blank=True)
    # None (no value) differs from "" (an empty value) in a history: both are kept.
    old = models.TextField(null=True, blank=True)  # noqa: DJ001
    new = models.TextField(null=True, blank=True)  # noqa: DJ001
    actor_kind = models.CharField(max_length=16)
    actor_id = models.PositiveIntegerField(null=True, blank=True)
    actor_role = models.CharField(max_length=16, blank=True)
    request_id = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField()

    class Meta:
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["ticket", "at"], name="audit_ticket_time_idx")
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.field}"


class TicketLink(models.Model):
    """Two related tickets (stored once, from the lower id to the higher)."""

    source = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="links_out")
    target = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="links_in")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["source", "target"], name="ticket_link_once")
        ]

    def __str__(self) -> str:
        return f"{self.source_id}-{self.target_id}"


class Macro(models.Model):
    """A named canned reply with placeholders ({{requester.name}}, {{ticket.number}}, ...) that
    can also set fields (status, priority, queue, tags)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="macros")
    name = models.CharField(max_length=100)
    body = models.TextField(max_length=20_000, blank=True)
    public = models.BooleanField(default=True, help_text="a reply (true) or an internal note")
    actions = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["organization", "name"], name="macro_name_per_org")
        ]

    def __str__(self) -> str:
        return self.name


class SavedView(models.Model):
    """A user's saved filter of the ticket list (the list's query parameters)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    name = models.CharField(max_length=100)
    filters = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["user", "name"], name="saved_view_name_per_user")
        ]

    def __str__(self) -> str:
        return self.name


class TriageCorrection(models.Model):
    """An agent changed a field the AI had set or suggested: a labeled example for training."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="corrections")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    field = models.CharField(max_length=16)  # category or priority
    predicted = models.CharField(max_length=50)
    corrected = models.CharField(max_length=50)
    model = models.CharField(max_length=200, blank=True)
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["organization", "field", "-id"], name="correction_org_idx")
        ]

    def __str__(self) -> str:
        return f"{self.field}: {self.predicted} -> {self.corrected}"
