"""SLA policies, the business-hours calendars they count in, and each ticket's SLA clocks.

A ticket's SLA (``TicketSla``) keeps a snapshot of the policy it runs under (targets, warning
share and the calendar with its holidays), taken when its clocks start and again when its
priority changes: editing a policy or a calendar never moves the due times of running tickets
behind their agents' backs. Due times are stored, not computed on read, so lists can sort and
filter by them with an index, and the scheduler finds what is due with one indexed query.
"""

from datetime import timedelta
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from helpdesk.accounts.models import Organization
from helpdesk.sla.business_time import CalendarError, parse_time_zone, parse_weekly_hours
from helpdesk.tickets.models import Priority, Ticket

# 10 years of minutes: a target beyond that is a typo, not a promise.
MAX_TARGET_MINUTES = 10 * 366 * 24 * 60


def validate_time_zone(value: str) -> None:
    try:
        parse_time_zone(value)
    except CalendarError as exc:
        raise ValidationError(str(exc)) from None


def validate_weekly_hours(value: Any) -> None:
    try:
        parse_weekly_hours(value)
    except CalendarError as exc:
        raise ValidationError(str(exc)) from None


def default_weekly_hours() -> dict[str, list[list[str]]]:
    return {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


class BusinessCalendar(models.Model):
    """Opening hours of a support team: weekly windows in a time zone, minus holidays."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="sla_calendars"
    )
    name = models.CharField(max_length=100)
    time_zone = models.CharField(
        max_length=64, validators=[validate_time_zone], help_text="IANA, e.g. Europe/Berlin."
    )
    # {"mon": [["09:00", "17:00"]], ...}; see helpdesk.sla.business_time.parse_weekly_hours.
    weekly_hours = models.JSONField(
        default=default_weekly_hours, validators=[validate_weekly_hours]
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="sla_calendar_name_per_org"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.time_zone})"


class Holiday(models.Model):
    """A local date on which the calendar is closed all day."""

    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="holidays"
    )
    date = models.DateField()
    name = models.CharField(max_length=100, blank=True)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["calendar", "date"], name="sla_holiday_once_per_date")
        ]
        ordering = ("date",)

    def __str__(self) -> str:
        return f"{self.date} {self.name}".strip()


class SlaPolicy(models.Model):
    """The targets for one priority of one organization, in business minutes."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="sla_policies"
    )
    priority = models.CharField(max_length=16, choices=Priority.choices)
    first_response_minutes = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(MAX_TARGET_MINUTES)]
    )
    resolution_minutes = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(MAX_TARGET_MINUTES)]
    )
    # None: the clocks run around the clock (24/7). RESTRICT: a calendar in use stays, unless
    # its organization (and so the policy too) goes.
    calendar = models.ForeignKey(
        BusinessCalendar,
        on_delete=models.RESTRICT,
        related_name="policies",
        null=True,
        blank=True,
    )
    # sla.warning is emitted when this share of a target is used up.
    warning_share = models.FloatField(
        default=0.75, validators=[MinValueValidator(0.01), MaxValueValidator(0.99)]
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["organization", "priority"], name="sla_policy_per_org_priority"
            )
        ]
        verbose_name_plural = "SLA policies"

    def __str__(self) -> str:
        return f"{self.organization_id}/{self.priority}"


class TicketSla(models.Model):
    """A ticket's two SLA clocks: first response and resolution.

    Each clock has consumed business time (``*_consumed``, up to ``*_running_since`` while it
    runs), a due instant and a warning instant while it runs, and the instants at which it
    warned and breached. ``next_breach_at`` (the earliest due instant of a running clock) sorts
    lists by time to breach; ``next_alert_at`` (the earliest instant the scheduler must act on)
    is what the scheduler polls. A row with ``active`` false tracks a ticket without a policy,
    so that a policy applied later (a priority change) knows whether it was already answered.
    """

    ticket = models.OneToOneField(
        Ticket, on_delete=models.CASCADE, primary_key=True, related_name="sla"
    )
    active = models.BooleanField(default=True)
    # The snapshot of the policy in force.
    policy = models.ForeignKey(
        SlaPolicy, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    priority = models.CharField(max_length=16, choices=Priority.choices)
    first_response_minutes = models.PositiveIntegerField(null=True, blank=True)
    resolution_minutes = models.PositiveIntegerField(null=True, blank=True)
    warning_share = models.FloatField(default=0.75)
    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    calendar_name = models.CharField(max_length=100, blank=True)
    # helpdesk.sla.business_time.calendar_to_json; null is 24/7.
    calendar_snapshot = models.JSONField(null=True, blank=True)

    ticket_status = models.CharField(max_length=16)
    started_at = models.DateTimeField()
    paused_since = models.DateTimeField(null=True, blank=True)

    first_response_consumed = models.DurationField(default=timedelta)
    first_response_running_since = models.DateTimeField(null=True, blank=True)
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    first_response_warn_at = models.DateTimeField(null=True, blank=True)
    first_response_warned_at = models.DateTimeField(null=True, blank=True)
    first_response_breached_at = models.DateTimeField(null=True, blank=True)
    first_response_breach_sent = models.BooleanField(default=False)
    first_responded_at = models.DateTimeField(null=True, blank=True)

    resolution_consumed = models.DurationField(default=timedelta)
    resolution_running_since = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    resolution_warn_at = models.DateTimeField(null=True, blank=True)
    resolution_warned_at = models.DateTimeField(null=True, blank=True)
    resolution_breached_at = models.DateTimeField(null=True, blank=True)
    resolution_breach_sent = models.BooleanField(default=False)
    resolved_at = models.DateTimeField(null=True, blank=True)

    next_breach_at = models.DateTimeField(null=True, blank=True, db_index=True)
    next_alert_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes: ClassVar[list[models.Index]] = [
            # The scheduler's only query: rows with something to announce, soonest first.
            models.Index(
                fields=["next_alert_at"],
                name="sla_next_alert_idx",
                condition=models.Q(next_alert_at__isnull=False),
            ),
        ]
        verbose_name = "ticket SLA"

    def __str__(self) -> str:
        return f"SLA of ticket {self.ticket_id}"


class SlaEventKind(models.TextChoices):
    STARTED = "started", "Started"
    PAUSED = "paused", "Paused"
    RESUMED = "resumed", "Resumed"
    FIRST_RESPONSE = "first_response", "First response"
    RESOLVED = "resolved", "Resolved"
    REOPENED = "reopened", "Reopened"
    WARNING = "warning", "Warning"
    BREACHED = "breached", "Breached"
    POLICY_CHANGED = "policy_changed", "Policy changed"


class TicketSlaEvent(models.Model):
    """One line of a ticket's SLA timeline: what happened to its clocks, and when."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="sla_events")
    kind = models.CharField(max_length=20, choices=SlaEventKind.choices)
    metric = models.CharField(max_length=20, blank=True)  # first_response | resolution | ""
    at = models.DateTimeField()
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["ticket", "at", "id"], name="sla_event_ticket_at_idx")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.metric} {self.at}".strip()
