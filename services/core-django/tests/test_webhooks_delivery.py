"""The webhook worker: events from a real Redis stream to real HTTP receivers, signed,
retried with backoff, never twice for one event, and endpoints disabled when they keep failing.
"""

import json
import threading
import time
from typing import Any, cast

import pytest
import redis
from django.core.management import call_command

from helpdesk.accounts.models import Organization, User
from helpdesk.outbox.relay import Relay
from helpdesk.tickets.services import ticket_create
from helpdesk.webhooks.models import (
    AttemptTrigger,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
)
from helpdesk.webhooks.policy import RetryPolicy
from helpdesk.webhooks.services import endpoint_create
from helpdesk.webhooks.transport import EXCERPT_CHARS
from helpdesk.webhooks.verify import WebhookVerificationError, verify_signature
from helpdesk.webhooks.worker import run_forever
from tests.test_webhooks_support import (
    Clock,
    Receiver,
    Reply,
    Workers,
    envelope,
    publish,
    receiver_for,
)

# The fixtures: a receiver, a clock, workers on the test's own stream and group.
pytest_plugins = ("tests.test_webhooks_support",)
pytestmark = pytest.mark.django_db


def _endpoint(org: Organization, url: str, *event_types: str) -> WebhookEndpoint:
    return endpoint_create(
        organization_id=org.pk, url=url, event_types=list(event_types) or ["ticket.created"]
    )


def _pending_count(client: redis.Redis, stream: str, group: str) -> int:
    summary = cast(dict[str, Any], client.xpending(stream, group))
    return int(summary["pending"])


def test_an_event_is_delivered_with_a_signature_the_receiver_can_verify(
    org: Organization,
    redis_client: redis.Redis,
    stream: str,
    group: str,
    workers: Workers,
    clock: Clock,
    receivers: list[Receiver],
) -> None:
    receiver = receiver_for(receivers)
    endpoint = _endpoint(org, receiver.url)
    event = envelope(org)
    publish(redis_client, stream, event)

    workers().run_once()

    [request] = receiver.requests
    assert request.body == event.model_dump_json().encode()
    assert request.headers["Webhook-Id"] == str(event.id)
    assert request.headers["Webhook-Timestamp"] == str(int(clock.timestamp))
    assert request.headers["Content-Type"] == "application/json"
    verify_signature(endpoint.secret, request.headers, request.body, 300, now=clock.timestamp)
    with pytest.raises(WebhookVerificationError):
        verify_signature(endpoint.secret, request.headers, request.body + b" ", now=clock.timestamp)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 200)
    assert delivery.delivered_at == clock.now
    assert delivery.last_response_body == "ok"
    assert _pending_count(redis_client, stream, group) == 0  # acknowledged


def test_only_subscribed_active_endpoints_of_the_events_organization_get_it(
    org: Organization,
    other_org: Organization,
    redis_client: redis.Redis,
    stream: str,
    workers: Workers,
    receivers: list[Receiver],
) -> None:
    receiver = receiver_for(receivers)
    subscribed = _endpoint(org, receiver.url + "/subscribed", "ticket.created")
    everything = _endpoint(org, receiver.url + "/everything", "*")
    _endpoint(org, receiver.url + "/other-type", "sla.breached")
    inactive = _endpoint(org, receiver.url + "/inactive", "*")
    WebhookEndpoint.objects.filter(pk=inactive.pk).update(is_active=False)
    _endpoint(other_org, receiver.url + "/other-org", "*")
    publish(redis_client, stream, envelope(org, "ticket.created"))

    workers().run_once()

    assert {d.endpoint_id for d in WebhookDelivery.objects.all()} == {subscribed.pk, everything.pk}
    assert sorted(r.path for r in receiver.requests) == ["/hook/everything", "/hook/subscribed"]


def test_staff_only_events_reach_the_endpoints_that_subscribed_to_them(
    org: Organization,
    redis_client: redis.Redis,
    stream: str,
    workers: Workers,
    receivers: list[Receiver],
) -> None:
    """Endpoints belong to the organization's admins: internal notes are theirs to receive."""
    receiver = receiver_for(receivers)
    _endpoint(org, receiver.url, "comment.created")
    note = envelope(org, "comment.created", audience="staff")
    publish(redis_client, stream, note)

    workers().run_once()

    [request] = receiver.requests
    assert json.loads(request.body)["audience"] == "staff"


def test_an_entry_read_again_after_a_crash_makes_no_second_delivery(
    org: Organization,
    redis_client: redis.Redis,
    stream: str,
    group: str,
    workers: Workers,
    receivers: list[Receiver],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    receiver = receiver_for(receivers)
    _endpoint(org, receiver.url)
    publish(redis_client, stream, envelope(org))
    crashing = workers(consumer="crashes-before-ack")

    def crash(*args: Any) -> None:
        raise redis.ConnectionError("the worker died before XACK")

    monkeypatch.setattr(crashing.client, "xack", crash)
    with pytest.raises(redis.ConnectionError):
        crashing.consume(block_ms=None)
    monkeypatch.undo()
    assert WebhookDelivery.objects.count() == 1
    assert _pending_count(redis_client, stream, group) == 1  # not acknowledged

    # Another worker takes the abandoned entry over (XAUTOCLAIM) and reads it again.
    survivor = workers(consumer="survivor", claim_idle_ms=0)
    survivor.run_once()

    assert WebhookDelivery.objects.count() == 1
    assert len(receiver.requests) == 1
    assert _pending_count(redis_client, stream, group) == 0


def test_the_same_event_published_twice_is_delivered_once(
    org: Organization,
    redis_client: redis.Redis,
    stream: str,
    workers: Workers,
    receivers: list[Receiver],
) -> None:
    """The relay is at least once: an event can reach the stream twice, under one id."""
    receiver = receiver_for(receivers)
    _endpoint(org, receiver.url)
    event = envelope(org)
    publish(redis_client, stream, event)
    publish(redis_client, stream, event)

    workers().run_once()

    assert WebhookDelivery.objects.count() == 1
    assert len(receiver.requests) == 1


def test_entries_a_dead_consumer_left_are_taken_over(
    org: Organization,
    redis_client: redis.Redis,
    stream: str,
    group: str,
    workers: Workers,
    receivers: list[Receiver],
) -> None:
    receiver = receiver_for(receivers)
    _endpoint(org, receiver.url)
    worker = workers(claim_idle_ms=0)
    publish(redis_client, stream, envelope(org))
    redis_client.xreadgroup(group, "dead-consumer", {stream: ">"})  # read, never acknowledged

    worker.run_once()

    assert len(receiver.requests) == 1
    assert _pending_count(redis_client, stream, group) == 0


def test_a_malformed_entry_is_acknowledged_and_skipped(
    org: Organization,
    redis_client: redis.Redis,
    stream: str,
    group: str,
    workers: Workers,
    receivers: list[Receiver],
) -> None:
    receiver = receiver_for(receivers)
    _endpoint(org, receiver.url, "*")
    redis_client.xadd(stream, {"event": "{not json", "type": "ticket.created", "org": str(org.pk)})
    publish(redis_client, stream, envelope(org))

    workers().run_once()

    assert len(receiver.requests) == 1  # the good one
    assert _pending_count(redis_client, stream, group) == 0


def test_a_failed_delivery_is_retried_after_a_backoff_with_a_fresh_signature(
    org: Organization,
    redis_client: redis.Redis,
    stream: str,
    workers: Workers,
    clock: Clock,
    receivers: list[Receiver],
) -> None:
    receiver = receiver_for(receivers, Reply(500, b"database down"), 200)
    endpoint = _endpoint(org, receiver.url)
    publish(redis_client, stream, envelope(org))
    worker = workers(policy=RetryPolicy(backoff_base=30, rand=lambda: 0.5))
    first_try = clock.now

    worker.run_once()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.RETRYING
    assert (delivery.attempts, delivery.last_status_code) == (1, 500)
    assert delivery.last_response_body == "database down"
    # Equal jitter: half of 30 s fixed, the other half scaled by rand() = 0.5.
    assert (delivery.next_attempt_at - first_try).total_seconds() == 22.5  # type: ignore[operator]

    clock.advance(22)
    worker.run_once()
    assert len(receiver.requests) == 1  # not due yet

    clock.advance(1)
    worker.run_once()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.attempts == 2
    log = list(delivery.attempt_log.order_by("number").values_list("trigger", "status_code"))
    assert log == [(AttemptTrigger.EVENT, 500), (AttemptTrigger.RETRY, 200)]
    first, second = receiver.requests
    assert first.headers["Webhook-Id"] == second.headers["Webhook-Id"]
    assert int(second.headers["Webhook-Timestamp"]) == int(first.headers["Webhook-Timestamp"]) + 23
    verify_signature(endpoint.secret, second.headers, second.body, now=clock.timestamp)


def test_backoff_doubles_up_to_its_cap_and_honours_retry_after() -> None:
    policy = RetryPolicy(backoff_base=30, backoff_cap=3600, rand=lambda: 1.0)
    assert [policy.retry_delay(n) for n in range(1, 9)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
    ]
    lowest = RetryPolicy(backoff_base=30, rand=lambda: 0.0)
    assert lowest.retry_delay(1) == 15
    assert lowest.retry_delay(1, retry_after=120) == 120
    assert lowest.retry_delay(1, retry_after=10**9) == 3600


def test_a_delivery_fails_for_good_after_its_last_attempt(
    org: Organization,
    redis_client: redis.Redis,
    stream: str,
    workers: Workers,
    clock: Clock,
    receivers: list[Receiver],
) -> None:
    receiver = receiver_for(receivers, 500, 502, 503, 200)
    endpoint = _endpoint(org, receiver.url)
    publish(redis_client, stream, envelope(org))
    worker = workers(policy=RetryPolicy(max_attempts=3, rand=lambda: 0.5))

    for _ in range(5):
        worker.run_once()
        clock.advance(3600)

    delivery = WebhookDelivery.objects.get()
    assert [r.status_code for r in delivery.attempt_log.order_by("number")] == [500, 502, 503]
    assert (delivery.status, delivery.next_attempt_at) == (DeliveryStatus.FAILED, None)
    assert len(receiver.requests) == 3
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 1
    assert endpoint.is_active


def test_an_endpoint_is_disabled_after_repeated_failed_deliveries(
    org: Organization,
    redis_client: redis.Redis,
    stream: str,
    workers: Workers,
    receivers: list[Receiver],
) -> None:
    receiver = receiver_for(receivers, *[500] * 10)
    endpoint = _endpoint(org, receiver.url)
    worker = workers(policy=RetryPolicy(max_attempts=1, disable_after=3), per_endpoint=1)
    for _ in range(3):
        publish(redis_client, stream, envelope(org))

    worker.run_once()

    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert endpoint.disabled_at is not None
    assert endpoint.disabled_reason == "3 deliveries in a row failed."
    publish(redis_client, stream, envelope(org))
    worker.run_once()
    assert WebhookDelivery.objects.count() == 3  # nothing for a disabled endpoint
    assert len(receiver.requests) == 3


def test_a_success_resets_the_count_of_failed_deliveries(
    org: Organization,
    redis_client: redis.Redis,
    stream: str,
    workers: Workers,
    receivers: list[Receiver],
) -> None:
    receiver = receiver_for(receivers, 500, 500, 200, 500)
    endpoint = _endpoint(org, receiver.url)
    worker = workers(policy=RetryPolicy(max_attempts=1, disable_after=3), per_endpoint=1)
    for _ in range(4):
        publish(redis_client, stream, envelope(org))

    worker.run_once()

    endpoint.refresh_from_db()
    assert endpoint.is_active
    assert endpoint.consecutive_failures == 1


def test_a_receiver_slower_than_the_timeout_fails_the_attempt(
    org: Organization,
    redis_client: redis.Redis,
    stream: str,
    workers: Workers,
    receivers: list[Receiver],
) -> None:
    receiver = receiver_for(receivers, Reply(delay=2))
    _endpoint(org, receiver.url)
    publish(redis_client, stream, envelope(org))

    workers(timeout=0.2).run_once()

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.RETRYING
    assert delivery.last_status_code is None
    assert "timed out" in delivery.last_error


def test_sending_never_holds_up_reading_the_stream(
    org: Organization,
    redis_client: redis.Redis,
    stream: str,
    workers: Workers,
    receivers: list[Receiver],
) -> None:
    release = threading.Event()
    slow = receiver_for(receivers, Reply(gate=release))
    fast = receiver_for(receivers)
    _endpoint(org, slow.url, "ticket.created")
    _endpoint(org, fast.url, "ticket.updated")
    worker = workers(timeout=5)
    publish(redis_client, stream, envelope(org, "ticket.created"))
    worker.consume(block_ms=None)

    assert worker.dispatch() == 1  # the slow request is now in flight, in the pool, stuck
    publish(redis_client, stream, envelope(org, "ticket.updated"))
    worker.consume(block_ms=None)
    assert worker.dispatch() == 1
    # The fast one completes while the slow receiver still holds its request.
    deadline = time.monotonic() + 10
    while not fast.requests and time.monotonic() < deadline:
        worker.collect(timeout=0.1)
    worker.collect(timeout=0.1)
    assert len(fast.requests) == 1
    assert not release.is_set()
    assert WebhookDelivery.objects.filter(status="succeeded").count() == 1
    release.set()
    worker.finish_in_flight()
    assert WebhookDelivery.objects.filter(status="succeeded").count() == 2


def test_a_redirect_is_a_failure_and_is_not_followed(
    org: Organization,
    redis_client: redis.Redis,
    stream: str,
    workers: Workers,
    receivers: list[Receiver],
) -> None:
    elsewhere = receiver_for(receivers)
    redirecting = receiver_for(receivers, Reply(302, b"", {"Location": elsewhere.url}))
    _endpoint(org, redirecting.url)
    publish(redis_client, stream, envelope(org))

    workers().run_once()

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.last_status_code) == (DeliveryStatus.RETRYING, 302)
    assert elsewhere.requests == []


def test_private_addresses_are_refused_unless_allowed(
    org: Organization,
    redis_client: redis.Redis,
    stream: str,
    workers: Workers,
    receivers: list[Receiver],
) -> None:
    """Production's SSRF guard: an admin's URL must not reach the platform's own network."""
    receiver = receiver_for(receivers)
    _endpoint(org, receiver.url.replace("127.0.0.1", "localhost"))
    publish(redis_client, stream, envelope(org))

    workers(allow_private=False).run_once()

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.RETRYING
    assert "non-public address" in delivery.last_error
    assert receiver.requests == []


def test_only_the_start_of_a_long_answer_is_kept(
    org: Organization,
    redis_client: redis.Redis,
    stream: str,
    workers: Workers,
    receivers: list[Receiver],
) -> None:
    receiver = receiver_for(receivers, Reply(500, b"x" * 100_000))
    _endpoint(org, receiver.url)
    publish(redis_client, stream, envelope(org))

    workers().run_once()

    delivery = WebhookDelivery.objects.get()
    assert delivery.last_response_body == "x" * EXCERPT_CHARS
    assert delivery.attempt_log.get().response_body == "x" * EXCERPT_CHARS


def test_deleting_an_endpoint_mid_send_is_harmless(
    org: Organization,
    redis_client: redis.Redis,
    stream: str,
    workers: Workers,
    receivers: list[Receiver],
) -> None:
    receiver = receiver_for(receivers, Reply(delay=0.3))
    endpoint = _endpoint(org, receiver.url)
    publish(redis_client, stream, envelope(org))
    worker = workers()
    worker.consume(block_ms=None)
    worker.dispatch()
    endpoint.delete()

    worker.finish_in_flight()

    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_ticket_created_through_the_outbox_reaches_its_endpoint(
    customer: User,
    redis_client: redis.Redis,
    stream: str,
    workers: Workers,
    clock: Clock,
    receivers: list[Receiver],
) -> None:
    receiver = receiver_for(receivers)
    assert customer.organization is not None
    endpoint = _endpoint(customer.organization, receiver.url, "ticket.created")
    worker = workers()
    ticket = ticket_create(requester=customer, subject="Broken zip", description="It jams.")
    Relay(client=redis_client, stream=stream).publish_batch()

    worker.run_once()

    [request] = receiver.requests
    body = json.loads(request.body)
    assert (body["type"], body["ticket_id"]) == ("ticket.created", ticket.pk)
    assert body["data"]["subject"] == "Broken zip"
    verify_signature(endpoint.secret, request.headers, request.body, now=clock.timestamp)


def test_the_worker_loop_stops_when_told_and_finishes_what_is_in_flight(
    org: Organization,
    redis_client: redis.Redis,
    stream: str,
    workers: Workers,
    receivers: list[Receiver],
) -> None:
    receiver = receiver_for(receivers, Reply(delay=0.3))
    _endpoint(org, receiver.url)
    publish(redis_client, stream, envelope(org))
    worker = workers()
    deadline = time.monotonic() + 10

    # Stop as soon as the request has reached the receiver, before it has answered.
    run_forever(
        worker,
        should_stop=lambda: bool(receiver.requests) or time.monotonic() > deadline,
        block_ms=50,
    )

    assert WebhookDelivery.objects.get().status == DeliveryStatus.SUCCEEDED
    assert not worker.in_flight


def test_the_command_once_delivers_what_is_on_the_stream(
    org: Organization,
    redis_client: redis.Redis,
    stream: str,
    group: str,
    receivers: list[Receiver],
) -> None:
    receiver = receiver_for(receivers)
    _endpoint(org, receiver.url)
    publish(redis_client, stream, envelope(org))

    call_command(
        "run_webhook_worker", "--once", "--stream", stream, "--group", group, "--start-id", "0"
    )

    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get().status == DeliveryStatus.SUCCEEDED
