"""The webhooks API as an organization's admin uses it: endpoints, secrets, the delivery log,
pings and replays, including what they get wrong."""

import json
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from helpdesk.accounts.models import Organization, Role, User
from helpdesk.webhooks.demo import webhooks_demo_setup
from helpdesk.webhooks.models import AttemptTrigger, DeliveryStatus, WebhookDelivery
from helpdesk.webhooks.policy import RetryPolicy
from helpdesk.webhooks.services import StreamEvent, deliveries_create
from helpdesk.webhooks.signing import signed_headers, signing_secrets
from helpdesk.webhooks.verify import verify_signature
from helpdesk_shared import uuid7
from tests.factories import client_for, make_user
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

URL = "/api/v1/webhooks/"


@pytest.fixture
def admin(org: Organization) -> User:
    return make_user(org, Role.ADMIN)


@pytest.fixture
def api(admin: User) -> APIClient:
    return client_for(admin)


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "details", "request_id"}
    assert body["code"] == code
    return body


def _create(api: APIClient, **fields: Any) -> dict[str, Any]:
    body = {"url": "https://hooks.example.com/helpdesk", "event_types": ["ticket.created"]}
    response = api.post(URL, {**body, **fields}, format="json")
    assert response.status_code == 201, response.content
    created: dict[str, Any] = response.json()
    return created


def _queue(org: Organization, count: int = 1) -> list[WebhookDelivery]:
    events = [
        StreamEvent(uuid7(), "ticket.created", org.pk, envelope(org).model_dump_json())
        for _ in range(count)
    ]
    deliveries_create(events=events, max_attempts=3, now=timezone.now())
    return list(WebhookDelivery.objects.order_by("id"))


def test_admin_adds_an_endpoint_and_sees_its_secret_only_once(api: APIClient) -> None:
    created = _create(api, description="CRM sync", event_types=["ticket.updated", "ticket.created"])
    assert created["secret"].startswith("whsec_")
    assert created["event_types"] == ["ticket.created", "ticket.updated"]
    assert created["is_active"] is True
    shown = api.get(f"{URL}{created['id']}/").json()
    assert "secret" not in shown
    assert shown["description"] == "CRM sync"
    listed = api.get(URL).json()["results"]
    assert [e["id"] for e in listed] == [created["id"]]
    assert "secret" not in listed[0]


def test_event_types_must_be_known_and_star_means_all(api: APIClient) -> None:
    body = _error(
        api.post(
            URL, {"url": "https://h.example.com", "event_types": ["ticket.eaten"]}, format="json"
        ),
        400,
        "validation_error",
    )
    assert "ticket.eaten" in body["details"]["event_types"][0]
    _error(
        api.post(URL, {"url": "https://h.example.com", "event_types": []}, format="json"),
        400,
        "validation_error",
    )
    assert _create(api, event_types=["*", "sla.breached"])["event_types"] == ["*"]


def test_unknown_fields_are_refused(api: APIClient) -> None:
    body = _error(
        api.post(
            URL,
            {"url": "https://h.example.com", "event_types": ["*"], "secret": "mine"},
            format="json",
        ),
        400,
        "validation_error",
    )
    assert body["details"] == {"secret": ["This field is not allowed."]}


def test_production_requires_https_to_a_public_host(api: APIClient, settings: Any) -> None:
    settings.WEBHOOKS_ALLOW_HTTP = False
    settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = False
    for url in (
        "http://hooks.example.com/x",
        "https://127.0.0.1/x",
        "https://10.1.2.3/x",
        "https://169.254.169.254/latest/meta-data",
        "https://localhost/x",
        "https://user:pass@hooks.example.com/x",
        "ftp://hooks.example.com/x",
    ):
        response = api.post(URL, {"url": url, "event_types": ["*"]}, format="json")
        assert "url" in _error(response, 400, "validation_error")["details"], url
    assert _create(api, url="https://hooks.example.com/x")["url"] == "https://hooks.example.com/x"


def test_locally_http_and_loopback_receivers_are_allowed(api: APIClient) -> None:
    assert _create(api, url="http://127.0.0.1:8099/hook")["url"] == "http://127.0.0.1:8099/hook"


def test_admin_changes_an_endpoint(api: APIClient) -> None:
    created = _create(api)
    response = api.patch(
        f"{URL}{created['id']}/",
        {"url": "https://other.example.com/h", "event_types": ["sla.warning"], "description": ""},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["url"] == "https://other.example.com/h"
    assert response.json()["event_types"] == ["sla.warning"]
    _error(
        api.patch(f"{URL}{created['id']}/", {"colour": "red"}, format="json"),
        400,
        "validation_error",
    )


def test_disabling_an_endpoint_cancels_its_queued_deliveries(
    org: Organization, api: APIClient, admin: User
) -> None:
    endpoint_id = _create(api)["id"]
    [delivery] = _queue(org)
    response = api.patch(f"{URL}{endpoint_id}/", {"is_active": False}, format="json")
    assert response.json()["is_active"] is False
    assert response.json()["disabled_reason"] == f"Disabled by {admin.email}."
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.last_error.startswith("Cancelled: endpoint disabled.")


def test_re_enabling_resets_the_failure_count(org: Organization, api: APIClient) -> None:
    endpoint_id = _create(api)["id"]
    api.patch(f"{URL}{endpoint_id}/", {"is_active": False}, format="json")
    org.webhook_endpoints.update(consecutive_failures=10)
    response = api.post(f"{URL}{endpoint_id}/enable")
    assert response.status_code == 200
    body = response.json()
    assert (body["is_active"], body["consecutive_failures"], body["disabled_at"]) == (True, 0, None)


def test_a_rotated_secret_signs_beside_the_old_one_during_the_grace_period(
    org: Organization, api: APIClient
) -> None:
    created = _create(api)
    rotated = api.post(f"{URL}{created['id']}/rotate-secret", {"grace_hours": 1}, format="json")
    assert rotated.status_code == 200, rotated.content
    new_secret = rotated.json()["secret"]
    assert new_secret != created["secret"]
    endpoint = org.webhook_endpoints.get()
    now = timezone.now()
    body = b'{"id": "x"}'
    headers = signed_headers(
        keys=signing_secrets(endpoint, now=now),
        msg_id="x",
        timestamp=int(now.timestamp()),
        body=body,
    )
    for secret in (created["secret"], new_secret):  # receivers on either secret accept it
        verify_signature(secret, headers, body, now=now.timestamp())
    assert signing_secrets(endpoint, now=now + timedelta(hours=2)) == [new_secret]

    api.post(f"{URL}{created['id']}/rotate-secret", {"grace_hours": 0}, format="json")
    endpoint.refresh_from_db()
    assert signing_secrets(endpoint, now=now) == [endpoint.secret]
    _error(
        api.post(f"{URL}{created['id']}/rotate-secret", {"grace_hours": 999}, format="json"),
        400,
        "validation_error",
    )


def test_a_ping_is_queued_by_the_api_and_sent_by_the_worker(
    api: APIClient, workers: Workers, clock: Clock, receivers: list[Receiver]
) -> None:
    receiver = receiver_for(receivers)
    created = _create(api, url=receiver.url)
    response = api.post(f"{URL}{created['id']}/ping")
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "pending"
    assert receiver.requests == []  # never sent from the request

    clock.advance(60)  # past the real time at which the API queued it
    workers().run_once()

    [request] = receiver.requests
    assert json.loads(request.body)["type"] == "webhook.ping"
    verify_signature(created["secret"], request.headers, request.body, now=clock.timestamp)
    delivery = api.get(f"{URL}{created['id']}/deliveries/{response.json()['id']}/").json()
    assert delivery["status"] == "succeeded"
    assert [a["trigger"] for a in delivery["attempt_log"]] == ["ping"]


def test_a_disabled_endpoint_cannot_be_pinged(api: APIClient) -> None:
    created = _create(api, is_active=False)
    _error(api.post(f"{URL}{created['id']}/ping"), 409, "conflict")


def test_deliveries_are_listed_newest_first_a_page_at_a_time(
    org: Organization, api: APIClient
) -> None:
    endpoint_id = _create(api)["id"]
    deliveries = _queue(org, 5)
    WebhookDelivery.objects.filter(pk=deliveries[0].pk).update(status=DeliveryStatus.FAILED)
    page = api.get(f"{URL}{endpoint_id}/deliveries/?page_size=2").json()
    assert [d["id"] for d in page["results"]] == [deliveries[4].pk, deliveries[3].pk]
    assert "payload" not in page["results"][0]
    rest = api.get(page["next"]).json()
    assert [d["id"] for d in rest["results"]] == [deliveries[2].pk, deliveries[1].pk]
    failed = api.get(f"{URL}{endpoint_id}/deliveries/?status=failed").json()["results"]
    assert [d["id"] for d in failed] == [deliveries[0].pk]
    _error(api.get(f"{URL}{endpoint_id}/deliveries/?status=lost"), 400, "validation_error")
    _error(api.get(f"{URL}{endpoint_id}/deliveries/?cursor=garbage"), 400, "validation_error")


def test_listing_deliveries_takes_the_same_queries_for_any_page_size(
    org: Organization, api: APIClient
) -> None:
    endpoint_id = _create(api)["id"]
    _queue(org, 30)

    def queries(page_size: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert (
                api.get(f"{URL}{endpoint_id}/deliveries/?page_size={page_size}").status_code == 200
            )
        return len(captured)

    assert queries(2) == queries(30)


def test_a_delivery_shows_its_body_and_every_attempt(
    org: Organization,
    api: APIClient,
    redis_client: redis.Redis,
    stream: str,
    workers: Workers,
    clock: Clock,
    receivers: list[Receiver],
) -> None:
    receiver = receiver_for(receivers, Reply(503, b"busy"), 200)
    created = _create(api, url=receiver.url)
    event = envelope(org)
    publish(redis_client, stream, event)
    worker = workers()
    worker.run_once()
    clock.advance(3600)
    worker.run_once()

    delivery_id = WebhookDelivery.objects.get().pk
    shown = api.get(f"{URL}{created['id']}/deliveries/{delivery_id}/").json()
    assert shown["payload"] == json.loads(event.model_dump_json())
    assert shown["event_id"] == str(event.id)
    assert [(a["number"], a["status_code"], a["response_body"]) for a in shown["attempt_log"]] == [
        (2, 200, "ok"),
        (1, 503, "busy"),
    ]


def test_a_failed_delivery_is_replayed_as_one_more_logged_attempt(
    org: Organization,
    api: APIClient,
    redis_client: redis.Redis,
    stream: str,
    workers: Workers,
    clock: Clock,
    receivers: list[Receiver],
) -> None:
    receiver = receiver_for(receivers, 500, 200)
    created = _create(api, url=receiver.url)
    publish(redis_client, stream, envelope(org))
    worker = workers(policy=RetryPolicy(max_attempts=1))
    worker.run_once()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED

    replay_url = f"{URL}{created['id']}/deliveries/{delivery.pk}/replay"
    response = api.post(replay_url)
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "pending"
    _error(api.post(replay_url), 409, "conflict")  # already queued
    # The replay is due at the real time of the request; the worker's clock must pass it.
    clock.advance(60)
    worker.run_once()

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 2)
    triggers = list(delivery.attempt_log.order_by("number").values_list("trigger", flat=True))
    assert triggers == [AttemptTrigger.EVENT, AttemptTrigger.REPLAY]
    first, again = receiver.requests
    assert first.headers["Webhook-Id"] == again.headers["Webhook-Id"]  # the receiver de-duplicates
    assert first.body == again.body
    verify_signature(created["secret"], again.headers, again.body, now=clock.timestamp)

    # A succeeded delivery can be replayed too (a receiver that lost it); a failed replay does
    # not retry by itself, and does not count against the endpoint.
    receiver.script = [Reply(500)]
    assert api.post(replay_url).status_code == 202
    clock.advance(60)
    worker.run_once()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 3)
    assert org.webhook_endpoints.get().consecutive_failures == 0


def test_nothing_is_replayed_to_a_disabled_endpoint(org: Organization, api: APIClient) -> None:
    endpoint_id = _create(api)["id"]
    [delivery] = _queue(org)
    api.patch(f"{URL}{endpoint_id}/", {"is_active": False}, format="json")
    _error(api.post(f"{URL}{endpoint_id}/deliveries/{delivery.pk}/replay"), 409, "conflict")


def test_deleting_an_endpoint_deletes_its_log(org: Organization, api: APIClient) -> None:
    endpoint_id = _create(api)["id"]
    _queue(org, 2)
    assert api.delete(f"{URL}{endpoint_id}/").status_code == 204
    assert not WebhookDelivery.objects.exists()
    _error(api.get(f"{URL}{endpoint_id}/"), 404, "not_found")


def test_the_event_types_on_offer_are_listed(api: APIClient) -> None:
    types = api.get(f"{URL}event-types").json()["event_types"]
    assert {"ticket.created", "comment.created", "sla.breached"} <= set(types)


def test_the_demo_endpoint_is_made_once_and_sends_nothing(
    org: Organization, redis_client: redis.Redis, stream: str, workers: Workers
) -> None:
    first = webhooks_demo_setup(org)
    assert webhooks_demo_setup(org).pk == first.pk
    assert not first.is_active
    publish(redis_client, stream, envelope(org))
    workers().run_once()
    assert not WebhookDelivery.objects.exists()
