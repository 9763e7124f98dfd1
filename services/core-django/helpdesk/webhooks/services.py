"""Writes to webhook endpoints and deliveries: the API's and the worker's."""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from helpdesk.accounts.models import User
from helpdesk.webhooks.models import (
    PING_EVENT_TYPE,
    QUEUED_STATUSES,
    AttemptTrigger,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from helpdesk.webhooks.policy import RetryPolicy
from helpdesk.webhooks.signing import secret_generate
from helpdesk.webhooks.transport import SendResult
from helpdesk_shared import EVENT_TYPES, uuid7

ALL_EVENTS = "*"


class EndpointDisabledError(Exception):
    """Nothing is sent to a disabled endpoint: re-enable it first."""


class DeliveryQueuedError(Exception):
    """The delivery is still queued (or in flight): it will be sent without a replay."""


def event_types_normalize(event_types: Iterable[str]) -> list[str]:
    """Known types, each once, in a stable order; ``*`` alone stands for all of them."""
    chosen = set(event_types)
    unknown = sorted(chosen - set(EVENT_TYPES) - {ALL_EVENTS})
    if unknown:
        raise ValueError(f"Unknown event types: {', '.join(unknown)}.")
    if not chosen:
        raise ValueError("Choose at least one event type, or * for all.")
    return [ALL_EVENTS] if ALL_EVENTS in chosen else sorted(chosen)


def endpoint_create(
    *,
    organization_id: int,
    url: str,
    event_types: Iterable[str],
    description: str = "",
    is_active: bool = True,
    created_by: User | None = None,
) -> WebhookEndpoint:
    """A new endpoint with a fresh secret (its ``secret`` is shown to the caller once)."""
    now = timezone.now()
    return WebhookEndpoint.objects.create(
        organization_id=organization_id,
        url=url,
        description=description,
        event_types=event_types_normalize(event_types),
        secret=secret_generate(),
        is_active=is_active,
        disabled_at=None if is_active else now,
        disabled_reason="" if is_active else "Created disabled.",
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )


def endpoint_update(
    *, endpoint: WebhookEndpoint, changes: Mapping[str, Any], actor: User | None = None
) -> WebhookEndpoint:
    """Change url, description, event types; ``is_active`` enables or disables."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        for name in ("url", "description"):
            if name in changes:
                setattr(endpoint, name, changes[name])
        if "event_types" in changes:
            endpoint.event_types = event_types_normalize(changes["event_types"])
        endpoint.updated_at = timezone.now()
        endpoint.save()
        active = changes.get("is_active")
        if active is True and not endpoint.is_active:
            endpoint = endpoint_enable(endpoint=endpoint)
        elif active is False and endpoint.is_active:
            who = actor.email if actor is not None else "an admin"
            endpoint = endpoint_disable(endpoint_id=endpoint.pk, reason=f"Disabled by {who}.")
    return endpoint


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Delete the endpoint and its delivery log; a send in flight is finished and forgotten."""
    endpoint.delete()


def endpoint_rotate_secret(*, endpoint: WebhookEndpoint, grace_hours: int = 24) -> WebhookEndpoint:
    """A new secret; the old one keeps signing beside it for ``grace_hours`` (0: not at all)."""
    now = timezone.now()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        endpoint.previous_secret = endpoint.secret if grace_hours > 0 else ""
        endpoint.previous_secret_expires_at = (
            now + timedelta(hours=grace_hours) if grace_hours > 0 else None
        )
        endpoint.secret = secret_generate()
        endpoint.updated_at = now
        endpoint.save()
    return endpoint


def endpoint_enable(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Active again, its failure count reset. Deliveries cancelled by the disabling stay
    failed: replay the ones still wanted."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        endpoint.is_active = True
        endpoint.consecutive_failures = 0
        endpoint.disabled_at = None
        endpoint.disabled_reason = ""
        endpoint.updated_at = timezone.now()
        endpoint.save()
    return endpoint


def endpoint_disable(
    *, endpoint_id: int, reason: str, now: datetime | None = None
) -> WebhookEndpoint:
    """Stop sending: the endpoint goes inactive and its queued deliveries fail, with why."""
    now = now or timezone.now()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
        endpoint.is_active = False
        endpoint.disabled_at = now
        endpoint.disabled_reason = reason[:200]
        endpoint.updated_at = now
        endpoint.save()
        WebhookDelivery.objects.filter(endpoint_id=endpoint_id, status__in=QUEUED_STATUSES).update(
            status=DeliveryStatus.FAILED,
            next_attempt_at=None,
            last_error=f"Cancelled: endpoint disabled. {reason}"[:500],
        )
    return endpoint


def endpoint_ping(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Queue a ``webhook.ping`` for the worker to send once (never sent from the request)."""
    if not endpoint.is_active:
        raise EndpointDisabledError("This endpoint is disabled; enable it first.")
    now = timezone.now()
    event_id = uuid7()
    body = {
        "id": str(event_id),
        "type": PING_EVENT_TYPE,
        "occurred_at": now.isoformat(),
        "organization_id": endpoint.organization_id,
        "data": {"endpoint_id": endpoint.pk},
    }
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id=event_id,
        event_type=PING_EVENT_TYPE,
        payload=json.dumps(body, separators=(",", ":")),
        max_attempts=1,
        next_attempt_at=now,
        next_trigger=AttemptTrigger.PING,
        created_at=now,
    )


def delivery_replay(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Queue one more attempt of a finished delivery (same id and body, a fresh signature)."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .select_related("endpoint")
            .get(pk=delivery.pk)
        )
        if not delivery.endpoint.is_active:
            raise EndpointDisabledError("This endpoint is disabled; enable it first.")
        if delivery.status in QUEUED_STATUSES:
            raise DeliveryQueuedError("This delivery is still queued; it will be sent anyway.")
        delivery.status = DeliveryStatus.PENDING
        delivery.max_attempts = delivery.attempts + 1
        delivery.next_attempt_at = timezone.now()
        delivery.next_trigger = AttemptTrigger.REPLAY
        delivery.save()
    return delivery


@dataclass(frozen=True)
class StreamEvent:
    """What the worker needs of one stream entry."""

    event_id: UUID
    event_type: str
    organization_id: int
    payload: str


def deliveries_create(*, events: list[StreamEvent], max_attempts: int, now: datetime) -> int:
    """One delivery per event and active endpoint of its organization that wants it.

    Idempotent: a (endpoint, event) pair that already has a delivery is skipped, so the worker
    may read the same entry again, or the relay publish the same event twice. Returns how many
    (endpoint, event) pairs matched, whether or not they existed already.
    """
    if not events:
        return 0
    endpoints = list(
        WebhookEndpoint.objects.filter(
            is_active=True, organization_id__in={e.organization_id for e in events}
        ).only("id", "organization_id", "event_types")
    )
    rows = [
        WebhookDelivery(
            endpoint_id=endpoint.pk,
            event_id=event.event_id,
            event_type=event.event_type,
            payload=event.payload,
            max_attempts=max_attempts,
            next_attempt_at=now,
            next_trigger=AttemptTrigger.EVENT,
            created_at=now,
        )
        for event in events
        for endpoint in endpoints
        if endpoint.organization_id == event.organization_id and endpoint.wants(event.event_type)
    ]
    if rows:
        WebhookDelivery.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
    return len(rows)


def delivery_claim(*, delivery: WebhookDelivery, lease_until: datetime) -> bool:
    """Take a due delivery for sending by pushing its due time to ``lease_until``; False when
    another worker took it first. A worker that dies mid-send leaves it due at the lease's end.
    """
    claimed = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=delivery.status, next_attempt_at=delivery.next_attempt_at
    ).update(next_attempt_at=lease_until)
    return claimed == 1


def delivery_attempt_record(
    *,
    delivery_id: int,
    trigger: str,
    started_at: datetime,
    result: SendResult,
    policy: RetryPolicy,
    now: datetime,
) -> WebhookDelivery | None:
    """Log one attempt and decide what follows: done, a retry later, or failed for good (which
    may disable the endpoint). None when the delivery was deleted meanwhile."""
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None:
            return None
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=delivery.endpoint_id)
        number = delivery.attempts + 1
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=number,
            trigger=trigger,
            started_at=started_at,
            succeeded=result.ok,
            status_code=result.status_code,
            response_body=result.response_excerpt,
            error=result.error,
            duration_ms=result.duration_ms,
        )
        delivery.attempts = number
        delivery.last_attempt_at = started_at
        delivery.last_status_code = result.status_code
        delivery.last_response_body = result.response_excerpt
        delivery.last_error = result.error
        delivery.last_duration_ms = result.duration_ms
        failed_for_good = False
        if result.ok:
            delivery.status = DeliveryStatus.SUCCEEDED
            delivery.delivered_at = now
            delivery.next_attempt_at = None
            if endpoint.consecutive_failures:
                endpoint.consecutive_failures = 0
                endpoint.save(update_fields=["consecutive_failures"])
        elif number < delivery.max_attempts and endpoint.is_active:
            delay = policy.retry_delay(number, retry_after=result.retry_after_seconds)
            delivery.status = DeliveryStatus.RETRYING
            delivery.next_attempt_at = now + timedelta(seconds=delay)
            delivery.next_trigger = AttemptTrigger.RETRY
        else:
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
            # Pings and replays are the admin's experiments: they do not count against the
            # endpoint (a replay's delivery was counted when it first failed).
            failed_for_good = trigger in {AttemptTrigger.EVENT, AttemptTrigger.RETRY}
        delivery.save()
        if failed_for_good and endpoint.is_active:
            endpoint.consecutive_failures += 1
            endpoint.save(update_fields=["consecutive_failures"])
            if endpoint.consecutive_failures >= policy.disable_after:
                endpoint_disable(
                    endpoint_id=endpoint.pk,
                    reason=f"{endpoint.consecutive_failures} deliveries in a row failed.",
                    now=now,
                )
    return delivery


def deliveries_purge(*, older_than: datetime) -> int:
    """Forget finished deliveries created before ``older_than`` (their attempts go with them)."""
    deleted, _ = WebhookDelivery.objects.filter(
        created_at__lt=older_than,
        status__in=[DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED],
    ).delete()
    return deleted
