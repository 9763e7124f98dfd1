"""POST /ai/v1/classify and /classify/batch: the answer, auth, rate limits, bad input."""

import time
from datetime import timedelta

import pytest
from redis import Redis as SyncRedis

from app.config import Settings
from app.main import create_app
from helpdesk_shared.tokens import api_token_key
from tests.asgi import ASGIClient
from tests.conftest import SERVICE_TOKEN, MakeToken, bearer, wait_for_models

TICKET = {"subject": "Package never arrived", "body": "My order 4412 was due last week."}


async def test_classify_answers_every_head_with_calibrated_confidences(
    client: ASGIClient, make_token: MakeToken
) -> None:
    response = await client.request(
        "POST", "/ai/v1/classify", headers=bearer(make_token()), json_body=TICKET
    )

    assert response.status == 200
    body = response.json()
    assert body["category"]["label"] == "shipping_delivery"
    assert body["language"]["label"] == "en"
    assert body["priority"]["label"] in {"low", "normal", "high", "urgent"}
    assert body["sentiment"]["label"] in {"negative", "neutral", "positive"}
    for head in ("category", "priority", "sentiment", "language"):
        assert 0.0 <= body[head]["confidence"] <= 1.0
        assert body[head]["unsure"] is (body[head]["confidence"] < 0.5)
        assert all(a["confidence"] <= body[head]["confidence"] for a in body[head]["alternatives"])
    assert body["model"]["id"] == "default"
    assert body["model"]["version"]
    assert body["request_id"] == response.header("x-request-id")


async def test_classify_recognises_other_languages(
    client: ASGIClient, make_token: MakeToken
) -> None:
    texts = {
        "de": "Ich habe mein Passwort vergessen und komme nicht mehr in mein Konto.",
        "fr": "Je n'arrive pas à me connecter à mon compte depuis hier soir.",
        "es": "No puedo acceder a mi cuenta, la contraseña no funciona.",
    }
    token = make_token()
    for language, text in texts.items():
        body = (
            await client.request(
                "POST", "/ai/v1/classify", headers=bearer(token), json_body={"body": text}
            )
        ).json()
        assert body["language"]["label"] == language


async def test_batch_classifies_each_item(client: ASGIClient, make_token: MakeToken) -> None:
    items = [TICKET, {"subject": "Refund", "body": "I returned the shoes, where is my money?"}]

    response = await client.request(
        "POST", "/ai/v1/classify/batch", headers=bearer(make_token()), json_body={"items": items}
    )

    assert response.status == 200
    body = response.json()
    assert [item["category"]["label"] for item in body["items"]] == [
        "shipping_delivery",
        "refund_return",
    ]
    assert body["model"]["id"] == "default"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"subject": "", "body": "  "}, "non_field_errors"),
        ({"subject": "x" * 1001}, "subject"),
        ({"body": "x" * 20_001}, "body"),
        ({"subject": 12, "body": "text"}, "subject"),
        ({"subject": "a", "colour": "red"}, "colour"),
    ],
)
async def test_bad_text_is_a_422_in_the_one_shape(
    client: ASGIClient, make_token: MakeToken, payload: dict[str, object], field: str
) -> None:
    response = await client.request(
        "POST", "/ai/v1/classify", headers=bearer(make_token()), json_body=payload
    )

    assert response.status == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert set(body) == {"code", "message", "details", "request_id"}
    assert any(key.startswith(field) for key in body["details"]), body["details"]


async def test_non_utf8_and_non_json_bodies_are_400(
    client: ASGIClient, make_token: MakeToken
) -> None:
    headers = {**bearer(make_token()), "Content-Type": "application/json"}
    for raw in (b'{"subject": "caf\xe9"}', b"{not json"):
        response = await client.request("POST", "/ai/v1/classify", headers=headers, body=raw)
        assert response.status == 400
        assert response.json()["code"] in {"parse_error", "bad_request"}


async def test_batch_over_the_limit_is_refused(client: ASGIClient, make_token: MakeToken) -> None:
    response = await client.request(
        "POST",
        "/ai/v1/classify/batch",
        headers=bearer(make_token()),
        json_body={"items": [TICKET] * 101},
    )

    assert response.status == 422
    assert "items" in response.json()["details"]


async def test_unknown_model_is_a_404(client: ASGIClient, make_token: MakeToken) -> None:
    response = await client.request(
        "POST",
        "/ai/v1/classify",
        headers=bearer(make_token()),
        json_body={**TICKET, "model": "m-nothing"},
    )

    assert response.status == 404
    assert response.json()["code"] == "not_found"


async def test_missing_unknown_and_expired_tokens_are_401(
    client: ASGIClient, make_token: MakeToken
) -> None:
    expired = make_token(expires_in=timedelta(seconds=-1))
    cases = [{}, bearer("not-a-token"), bearer(expired), {"Authorization": "Basic abc"}]
    for headers in cases:
        response = await client.request(
            "POST", "/ai/v1/classify", headers=headers, json_body=TICKET
        )
        assert response.status == 401, headers
        assert response.json()["code"] in {"not_authenticated", "authentication_failed"}


async def test_a_token_without_the_classify_scope_is_403(
    client: ASGIClient, make_token: MakeToken
) -> None:
    token = make_token(scopes=("tickets:read",), role="admin")

    response = await client.request(
        "POST", "/ai/v1/classify", headers=bearer(token), json_body=TICKET
    )

    assert response.status == 403
    assert response.json()["code"] == "permission_denied"


async def test_revocation_holds_once_the_cache_expires(
    client: ASGIClient,
    make_token: MakeToken,
    sync_redis: SyncRedis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = make_token()
    ok = await client.request("POST", "/ai/v1/classify", headers=bearer(token), json_body=TICKET)
    sync_redis.delete(api_token_key(token))  # core revokes it

    later = time.monotonic() + 31
    monkeypatch.setattr("app.auth.time.monotonic", lambda: later)
    revoked = await client.request(
        "POST", "/ai/v1/classify", headers=bearer(token), json_body=TICKET
    )

    assert ok.status == 200
    assert revoked.status == 401


async def test_the_service_credential_must_name_the_organization(client: ASGIClient) -> None:
    without = await client.request(
        "POST", "/ai/v1/classify", headers=bearer(SERVICE_TOKEN), json_body=TICKET
    )
    with_org = await client.request(
        "POST",
        "/ai/v1/classify",
        headers={**bearer(SERVICE_TOKEN), "X-Organization-ID": "3"},
        json_body=TICKET,
    )

    assert without.status == 400
    assert without.json()["code"] == "organization_required"
    assert with_org.status == 200


async def test_rate_limit_per_token_answers_429_with_retry_after(
    settings: Settings, make_token: MakeToken, sync_redis: SyncRedis
) -> None:
    app = create_app(settings.model_copy(update={"AI_RATE_LIMIT": "2/minute"}))
    token, other = make_token(), make_token()
    async with ASGIClient(app).lifespan() as client:
        await wait_for_models(client)
        statuses = [
            (
                await client.request(
                    "POST", "/ai/v1/classify", headers=bearer(token), json_body=TICKET
                )
            )
            for _ in range(3)
        ]
        other_status = (
            await client.request("POST", "/ai/v1/classify", headers=bearer(other), json_body=TICKET)
        ).status

    assert [r.status for r in statuses] == [200, 200, 429]
    throttled = statuses[2]
    assert throttled.json()["code"] == "throttled"
    assert 1 <= int(throttled.header("retry-after") or 0) <= 60
    assert other_status == 200


async def test_the_rate_limit_is_shared_by_replicas_and_by_limits(
    settings: Settings, make_token: MakeToken, sync_redis: SyncRedis
) -> None:
    limited = settings.model_copy(update={"AI_RATE_LIMIT": "100/hour;3/minute"})
    token = make_token()
    replicas = [create_app(limited), create_app(limited)]
    statuses = []
    async with (
        ASGIClient(replicas[0]).lifespan() as first,
        ASGIClient(replicas[1]).lifespan() as second,
    ):
        await wait_for_models(first)
        await wait_for_models(second)
        for client in (first, second, first, second):
            response = await client.request(
                "POST", "/ai/v1/classify", headers=bearer(token), json_body=TICKET
            )
            statuses.append(response.status)
        retry_after = int(response.header("retry-after") or 0)

    assert statuses == [200, 200, 200, 429]
    assert 1 <= retry_after <= 60  # the minute's window, not the hour's
    counters = sorted(sync_redis.scan_iter(match=f"{settings.AI_KEY_PREFIX}ratelimit:*"))
    assert len(counters) == 2
    assert all(0 < int(sync_redis.ttl(key)) <= 3600 for key in counters)  # type: ignore[arg-type]
