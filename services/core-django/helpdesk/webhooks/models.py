"""Webhook endpoints of an organization, and the log of what was delivered to them.

A delivery is one event for one endpoint; it is unique per (endpoint, event id), so reading a
stream entry twice (the stream is at least once) never makes a second one. Each HTTP request
made for it is a ``WebhookAttempt``; the delivery keeps the last one's outcome for listing.
"""

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from helpdesk.accounts.models import Organization

PING_EVENT_TYPE = "webhook.ping"


class WebhookEndpoint(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=500, blank=True)
    # Event types from helpdesk_shared.EVENT_TYPES, or ["*"] for all of them.
    event_types = models.JSONField(default=list)
    # A signing key, not a password: the worker needs it in clear to sign (HMAC), so it is
    # stored as is, like any other application secret, and shown only on creation and rotation.
    secret = models.CharField(max_length=100)
    # After a rotation the old key keeps signing beside the new one until this time, so that a
    # receiver can switch without dropping a request.
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    # Deliveries that failed for good in a row (a success resets it); see run_webhook_worker.
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["organization", "is_active"], name="webhook_endpoint_org_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.organization_id}: {self.url}"

    def wants(self, event_type: str) -> bool:
        return "*" in self.event_types or event_type in self.event_types


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


QUEUED_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)


class AttemptTrigger(models.TextChoices):
    EVENT = "event", "First attempt of an event"
    RETRY = "retry", "Automatic retry"
    REPLAY = "replay", "Manual replay"
    PING = "ping", "Test ping"


class WebhookDelivery(models.Model):
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=64)
    # The envelope exactly as it came from the stream: the signed body is these bytes.
    payload = models.TextField()
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    # The attempt after which a failure is final: the worker's limit for events, one more than
    # the attempts so far for a replay, one for a ping.
    max_attempts = models.PositiveIntegerField(default=1)
    # When it is due (queued deliveries only). While an attempt is in flight the worker pushes
    # this forward as a lease, so that no other worker sends it at the same time.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    next_trigger = models.CharField(
        max_length=16, choices=AttemptTrigger.choices, default=AttemptTrigger.EVENT
    )
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_response_body = models.TextField(blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="webhook_delivery_once"),
        ]
        indexes: ClassVar[list[models.Index]] = [
            # The worker's "what is due" scan reads queued rows only: keep that index small.
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_due_idx",
                condition=models.Q(status__in=["pending", "retrying"]),
            ),
            models.Index(fields=["endpoint", "-id"], name="webhook_delivery_endpoint_idx"),
            models.Index(fields=["created_at"], name="webhook_delivery_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} → endpoint {self.endpoint_id}"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery, as it went: the delivery log's lines."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveIntegerField()
    trigger = models.CharField(max_length=16, choices=AttemptTrigger.choices)
    started_at = models.DateTimeField()
    succeeded = models.BooleanField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField()

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["delivery", "number"], name="webhook_attempt_number"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"
