"""Idempotency keys, rate limits (429 with the RateLimit headers), scoped and revocable API
tokens published for other services, and browser sessions with CSRF."""

import json
from typing import Any

import pytest
import redis
from django.conf import settings
from rest_framework.test import APIClient

from helpdesk.accounts.models import Organization, Role, User
from helpdesk.accounts.services import api_token_create, api_tokens_sync
from helpdesk.tickets.models import Ticket
from helpdesk_shared.tokens import ApiTokenRecord, api_token_key
from tests.factories import client_for, make_user

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/tickets/"
BODY = {"subject": "Printer", "description": "It jams"}


# --- Idempotency-Key ---------------------------------------------------------------------------


def test_a_retry_with_the_same_key_returns_the_first_answer_and_creates_nothing(
    customer: User,
) -> None:
    client = client_for(customer)
    first = client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Ticket.objects.count() == 1


def test_the_same_key_with_another_body_is_422(customer: User) -> None:
    client = client_for(customer)
    client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    response = client.post(
        URL, {**BODY, "subject": "Other"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2"
    )
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert Ticket.objects.count() == 1


def test_keys_belong_to_their_caller(org: Organization, customer: User) -> None:
    other = make_user(org, Role.CUSTOMER)
    client_for(customer).post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    response = client_for(other).post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert Ticket.objects.count() == 2


def test_a_failed_validation_is_replayed_too_and_a_bad_key_is_400(customer: User) -> None:
    client = client_for(customer)
    first = client.post(URL, {"subject": ""}, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    assert first.status_code == 400
    assert (
        client.post(URL, {"subject": ""}, format="json", HTTP_IDEMPOTENCY_KEY="k-3").json()
        == first.json()
    )
    bad = client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="x" * 300)
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid_idempotency_key"


# --- Rate limits -------------------------------------------------------------------------------


def test_api_rate_limit_answers_429_with_headers(customer: User, settings: Any) -> None:
    settings.API_RATE_LIMIT = "3/minute"
    client = client_for(customer)
    answers = [client.get(URL) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0]["RateLimit-Limit"] == "3"
    assert [a["RateLimit-Remaining"] for a in answers[:3]] == ["2", "1", "0"]
    refused = answers[3]
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert int(refused["RateLimit-Reset"]) <= 60
    assert refused.json()["code"] == "rate_limited"
    assert refused.json()["request_id"]


def test_each_token_has_its_own_budget(org: Organization, settings: Any) -> None:
    settings.API_RATE_LIMIT = "1/minute"
    first, second = make_user(org, Role.AGENT), make_user(org, Role.AGENT)
    client = client_for(first)
    assert client.get(URL).status_code == 200
    assert client.get(URL).status_code == 429
    assert client_for(second).get(URL).status_code == 200


def test_the_client_address_is_limited_as_well(org: Organization, settings: Any) -> None:
    settings.API_IP_RATE_LIMIT = "2/minute"
    users = [make_user(org, Role.AGENT) for _ in range(3)]
    codes = [
        client_for(u).get(URL, REMOTE_ADDR="127.0.0.1", HTTP_X_REAL_IP="203.0.113.9").status_code
        for u in users
    ]
    assert codes == [200, 200, 429]
    # The gateway's X-Real-IP counts only from the gateway: a client cannot pick its address.
    spoofed = client_for(users[0]).get(
        URL, REMOTE_ADDR="198.51.100.1", HTTP_X_REAL_IP="203.0.113.77"
    )
    assert spoofed.status_code == 200


def _login(client: APIClient, email: str, password: str) -> Any:
    token = client.get("/api/v1/auth/csrf").json()["csrf_token"]
    return client.post(
        "/api/v1/auth/login",
        {"email": email, "password": password},
        format="json",
        HTTP_X_CSRFTOKEN=token,
    )


def test_login_is_limited_to_5_per_minute_in_the_app_c15(agent: User) -> None:
    client = APIClient(enforce_csrf_checks=True)
    codes = [_login(client, agent.email, "wrong").status_code for _ in range(6)]
    assert codes == [401, 401, 401, 401, 401, 429]
    assert (
        _login(
            APIClient(enforce_csrf_checks=True), agent.email, "correct horse battery staple"
        ).status_code
        == 429
    )


# --- Sessions ---------------------------------------------------------------------------------


def test_session_login_needs_csrf_and_then_works(agent: User) -> None:
    client = APIClient(enforce_csrf_checks=True)
    no_token = client.post(
        "/api/v1/auth/login",
        {"email": agent.email, "password": "correct horse battery staple"},
        format="json",
    )
    assert no_token.status_code == 403
    response = _login(client, agent.email, "correct horse battery staple")
    assert response.status_code == 200, response.content
    assert response.json()["email"] == agent.email
    assert client.get("/api/v1/me").status_code == 200
    # Writes with the session need the CSRF token as well.
    assert client.post(URL, BODY, format="json").status_code == 403
    token = client.cookies["csrftoken"].value
    assert client.post(URL, BODY, format="json", HTTP_X_CSRFTOKEN=token).status_code == 201
    assert client.post("/api/v1/auth/logout", HTTP_X_CSRFTOKEN=token).status_code == 204
    assert client.get("/api/v1/me").status_code in (401, 403)


# --- API tokens -------------------------------------------------------------------------------


def _get(client: redis.Redis, key: str) -> bytes:
    value = client.get(key)
    assert isinstance(value, bytes), f"no record under {key}"
    return value


@pytest.fixture
def redis_client() -> Any:
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    client.close()


def test_scoped_tokens_are_refused_beyond_their_scope(org: Organization, customer: User) -> None:
    admin = make_user(org, Role.ADMIN)
    bot = make_user(org, Role.BOT)
    created = client_for(admin).post(
        "/api/v1/tokens/",
        {"name": "reader", "scopes": ["tickets:read"], "user": bot.pk},
        format="json",
    )
    assert created.status_code == 201, created.content
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {created.json()['token']}")
    assert reader.get(URL).status_code == 200
    refused = reader.post(URL, BODY, format="json")
    assert refused.status_code == 403
    listed = client_for(admin).get("/api/v1/tokens/").json()
    row = next(t for t in listed if t["name"] == "reader")
    assert row["scopes"] == ["tickets:read"]
    assert row["last_used_at"] is not None
    assert "token" not in row


def test_tokens_are_published_for_other_services_and_revoked(
    org: Organization, redis_client: redis.Redis
) -> None:
    bot = make_user(org, Role.BOT)
    token = api_token_create(user=bot, name="classifier", scopes=["ai:classify"])
    record = ApiTokenRecord.model_validate_json(_get(redis_client, api_token_key(token)))
    assert (record.organization_id, record.user_id, record.role, record.scopes) == (
        org.pk,
        bot.pk,
        "bot",
        ["ai:classify"],
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    token_id = client.get("/api/v1/tokens/").json()[0]["id"]
    assert client.delete(f"/api/v1/tokens/{token_id}").status_code == 204
    assert redis_client.get(api_token_key(token)) is None
    assert client.get(URL).status_code == 401


def test_a_revocation_by_another_worker_holds_within_the_recheck_interval(
    org: Organization, redis_client: redis.Redis, monkeypatch: Any
) -> None:
    from knox.models import AuthToken

    from helpdesk.accounts import auth

    agent = make_user(org, Role.AGENT)
    token = api_token_create(user=agent)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get(URL).status_code == 200  # verified and remembered by this worker
    clock = [1_000.0]
    monkeypatch.setattr("helpdesk.accounts.auth.time.monotonic", lambda: clock[0])
    assert client.get(URL).status_code == 200  # the record was seen just now
    # Another worker revoked it (the row and the record are gone); this worker still holds its
    # verification, and looks at the record again after RECHECK_SECONDS.
    AuthToken.objects.filter(user=agent).delete()
    redis_client.delete(api_token_key(token))
    clock[0] += auth.RECHECK_SECONDS / 2
    assert client.get(URL).status_code == 200
    clock[0] += auth.RECHECK_SECONDS
    assert client.get(URL).status_code == 401


def test_token_sync_restores_records_redis_lost(
    org: Organization, redis_client: redis.Redis
) -> None:
    bot = make_user(org, Role.BOT)
    token = api_token_create(user=bot, scopes=["ai:classify"])
    redis_client.delete(api_token_key(token))
    assert api_tokens_sync() >= 1
    assert json.loads(_get(redis_client, api_token_key(token)))["user_id"] == bot.pk


def test_behind_a_load_balancer_the_client_is_the_last_untrusted_hop(
    org: Organization, settings: Any
) -> None:
    settings.API_IP_RATE_LIMIT = "1/minute"
    settings.RATE_LIMIT_TRUSTED_PROXIES = ["10.0.0.0/16"]
    users = [make_user(org, Role.AGENT) for _ in range(3)]

    def call(user: User, forwarded: str) -> int:
        return int(
            client_for(user)
            .get(URL, REMOTE_ADDR="10.0.1.5", HTTP_X_FORWARDED_FOR=forwarded)
            .status_code
        )

    # A client's own X-Forwarded-For entries come first; the balancer appends what it saw.
    assert call(users[0], "1.2.3.4, 198.51.100.7") == 200
    assert call(users[1], "5.6.7.8, 198.51.100.7") == 429  # the same client, another lie
    assert call(users[2], "198.51.100.8") == 200
