"""Tickets: what a customer asked, numbered per organization."""

from typing import ClassVar

from django.conf import settings
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
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.subject}"
