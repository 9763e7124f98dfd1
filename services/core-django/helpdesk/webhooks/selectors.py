"""Reads of webhooks, always scoped to the caller's organization."""

from datetime import datetime

from django.db.models import Q, QuerySet

from helpdesk.webhooks.models import (
    QUEUED_STATUSES,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

# The fields of a delivery that lists show: never the payload (it can be large).
DELIVERY_LIST_FIELDS = (
    "id",
    "endpoint_id",
    "event_id",
    "event_type",
    "status",
    "attempts",
    "max_attempts",
    "next_attempt_at",
    "last_attempt_at",
    "last_status_code",
    "last_response_body",
    "last_error",
    "last_duration_ms",
    "created_at",
    "delivered_at",
)


def endpoints_of_organization(*, organization_id: int) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(organization_id=organization_id)


def deliveries_of_endpoint(
    *, endpoint: WebhookEndpoint, status: str | None = None
) -> QuerySet[WebhookDelivery]:
    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint).only(*DELIVERY_LIST_FIELDS)
    return deliveries.filter(status=status) if status else deliveries


def delivery_of_endpoint(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    """The endpoint's deliveries with everything a detail view shows."""
    return WebhookDelivery.objects.filter(endpoint=endpoint)


# Attempts a delivery's detail shows, newest first; older ones stay in the database.
ATTEMPTS_SHOWN = 50


def attempts_of_delivery(*, delivery: WebhookDelivery) -> list[WebhookAttempt]:
    return list(
        WebhookAttempt.objects.filter(delivery=delivery).order_by("-number")[:ATTEMPTS_SHOWN]
    )


def deliveries_due(
    *, now: datetime, limit: int, exclude_endpoints: set[int]
) -> list[WebhookDelivery]:
    """Queued deliveries of active endpoints whose time has come, oldest due first."""
    due = (
        WebhookDelivery.objects.filter(
            Q(status__in=QUEUED_STATUSES),
            next_attempt_at__lte=now,
            endpoint__is_active=True,
        )
        .exclude(endpoint_id__in=exclude_endpoints)
        .select_related("endpoint")
        .order_by("next_attempt_at", "id")
    )
    return list(due[:limit])
