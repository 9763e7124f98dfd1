"""Custom models: training through the API (JSON and CSV), metrics, activation, rollback."""

import asyncio
import random
from typing import Any

from app.config import Settings
from app.ml.linear import SVM_CS
from app.worker.training import run_job, training_loop
from tests.asgi import ASGIClient
from tests.conftest import MakeToken, bearer

WORDS = {
    "wine": ["merlot", "vintage", "cork", "bottle", "tasting", "cellar"],
    "beer": ["lager", "hops", "pint", "brewery", "ale", "tap"],
    "coffee": ["espresso", "beans", "roast", "latte", "grinder", "barista"],
}


def examples(per_label: int = 8, seed: int = 1) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows = []
    for label, words in WORDS.items():
        for _ in range(per_label):
            rows.append({"text": "order of " + " ".join(rng.sample(words, 3)), "label": label})
    return rows


def multipart(name: str, content: bytes) -> tuple[dict[str, str], bytes]:
    boundary = "testboundary7"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\n{name}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="t.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return {"Content-Type": f"multipart/form-data; boundary={boundary}"}, body


async def train(
    client: ASGIClient,
    settings: Settings,
    token: str,
    rows: list[dict[str, str]],
    tier: str = "standard",
) -> dict[str, Any]:
    response = await client.request(
        "POST",
        "/ai/v1/models",
        headers=bearer(token),
        json_body={"name": "drinks", "examples": rows, "tier": tier},
    )
    assert response.status == 202, response.text
    model_id = response.json()["id"]
    assert response.header("location") == f"/ai/v1/models/{model_id}"
    await asyncio.to_thread(run_job, settings, model_id)  # what the worker does
    record = (await client.get(f"/ai/v1/models/{model_id}", headers=bearer(token))).json()
    assert isinstance(record, dict)
    return record


async def test_a_trained_model_reports_metrics_and_classifies(
    client: ASGIClient, settings: Settings, make_token: MakeToken
) -> None:
    token = make_token()
    record = await train(client, settings, token, examples())

    assert record["status"] == "ready"
    assert record["progress"] == 1.0
    metrics = record["metrics"]
    assert metrics["accuracy"] >= 0.9
    assert set(metrics) >= {"accuracy", "macro_f1", "ece", "per_label", "held_out"}
    assert set(metrics["per_label"]) == set(WORDS)
    assert record["tier"] == "standard"
    assert record["hyperparameters"]["tier"] == "standard"
    assert record["hyperparameters"]["svm_c"] in SVM_CS
    response = await client.request(
        "POST",
        "/ai/v1/classify",
        headers=bearer(token),
        json_body={"body": "a pint of lager from the tap", "model": record["id"]},
    )
    assert response.json()["category"]["label"] == "beer"
    assert response.json()["model"] == {"id": record["id"], "version": record["version"]}


async def test_activation_and_rollback_switch_the_organizations_model(
    client: ASGIClient, settings: Settings, make_token: MakeToken
) -> None:
    token = make_token()
    first = await train(client, settings, token, examples(seed=1))
    second = await train(client, settings, token, examples(seed=2))

    async def used_model() -> str:
        response = await client.request(
            "POST", "/ai/v1/classify", headers=bearer(token), json_body={"body": "espresso roast"}
        )
        model_id: str = response.json()["model"]["id"]
        return model_id

    assert await used_model() == "default"
    for model in (first, second):
        activated = await client.request(
            "POST", f"/ai/v1/models/{model['id']}/activate", headers=bearer(token)
        )
        assert activated.json()["active"] == model["id"]
    assert await used_model() == second["id"]

    rolled = await client.request("POST", "/ai/v1/models/rollback", headers=bearer(token))
    assert rolled.json()["active"] == first["id"]
    assert await used_model() == first["id"]
    await client.request("POST", "/ai/v1/models/rollback", headers=bearer(token))
    assert await used_model() == "default"
    nothing = await client.request("POST", "/ai/v1/models/rollback", headers=bearer(token))
    assert nothing.status == 409

    listed = (await client.get("/ai/v1/models", headers=bearer(token))).json()
    assert [m["id"] for m in listed] == [second["id"], first["id"]]


async def test_another_organization_sees_nothing(
    client: ASGIClient, settings: Settings, make_token: MakeToken
) -> None:
    record = await train(client, settings, make_token(organization_id=1), examples())
    stranger = make_token(organization_id=2)

    for method, path in [
        ("GET", f"/ai/v1/models/{record['id']}"),
        ("POST", f"/ai/v1/models/{record['id']}/activate"),
    ]:
        response = await client.request(method, path, headers=bearer(stranger))
        assert response.status == 404
    classify = await client.request(
        "POST",
        "/ai/v1/classify",
        headers=bearer(stranger),
        json_body={"body": "lager", "model": record["id"]},
    )
    assert classify.status == 404


async def test_training_needs_the_train_scope(client: ASGIClient, make_token: MakeToken) -> None:
    token = make_token(scopes=("ai:classify",), role="admin")

    response = await client.request(
        "POST",
        "/ai/v1/models",
        headers=bearer(token),
        json_body={"name": "x", "examples": examples()},
    )

    assert response.status == 403


async def test_bad_training_sets_are_refused_with_reasons(
    client: ASGIClient, make_token: MakeToken
) -> None:
    token = make_token()
    one_label = [{"text": f"text {i}", "label": "only"} for i in range(10)]
    few = [*examples(), {"text": "tea please", "label": "tea"}]
    for rows in (one_label, few, []):
        response = await client.request(
            "POST",
            "/ai/v1/models",
            headers=bearer(token),
            json_body={"name": "x", "examples": rows},
        )
        assert response.status == 422
        assert response.json()["code"] == "validation_error"
        assert "examples" in response.json()["details"]
    unknown_tier = await client.request(
        "POST",
        "/ai/v1/models",
        headers=bearer(token),
        json_body={"name": "x", "examples": examples(), "tier": "huge"},
    )
    assert unknown_tier.status == 422
    assert "tier" in unknown_tier.json()["details"]


async def test_csv_upload_trains_and_bad_csvs_are_4xx(
    client: ASGIClient, make_token: MakeToken
) -> None:
    token = make_token()
    good = "text,label\n" + "".join(f'"{r["text"]}",{r["label"]}\n' for r in examples())
    headers, body = multipart("drinks-csv", good.encode())
    accepted = await client.request(
        "POST", "/ai/v1/models", headers={**bearer(token), **headers}, body=body
    )
    assert accepted.status == 202
    assert accepted.json()["examples"] == 24

    headers, body = multipart("bad", b"sentence,tag\nhello,x\n")
    wrong = await client.request(
        "POST", "/ai/v1/models", headers={**bearer(token), **headers}, body=body
    )
    assert wrong.status == 422
    assert "file" in wrong.json()["details"]

    headers, body = multipart("bad", b"text,label\ncaf\xe9,x\n")
    latin = await client.request(
        "POST", "/ai/v1/models", headers={**bearer(token), **headers}, body=body
    )
    assert latin.status == 400
    assert "UTF-8" in latin.json()["message"]

    plain = await client.request(
        "POST", "/ai/v1/models", headers={**bearer(token), "Content-Type": "text/plain"}, body=b"x"
    )
    assert plain.status == 415


async def test_a_failed_training_is_reported_and_leaves_the_active_model(
    client: ASGIClient, settings: Settings, make_token: MakeToken
) -> None:
    token = make_token()
    good = await train(client, settings, token, examples())
    await client.request("POST", f"/ai/v1/models/{good['id']}/activate", headers=bearer(token))
    # Punctuation only: nothing a word vectorizer can learn from.
    hopeless = [{"text": "!?" * (i + 1), "label": f"l{i % 2}"} for i in range(12)]

    failed = await train(client, settings, token, hopeless)

    assert failed["status"] == "failed"
    assert "vocabulary" in failed["error"]
    active = (await client.get("/ai/v1/models/active", headers=bearer(token))).json()
    assert active["active"] == good["id"]
    refused = await client.request(
        "POST", f"/ai/v1/models/{failed['id']}/activate", headers=bearer(token)
    )
    assert refused.status == 409


async def test_the_default_model_has_a_record_with_metrics(
    client: ASGIClient, make_token: MakeToken
) -> None:
    record = (await client.get("/ai/v1/models/default", headers=bearer(make_token()))).json()

    assert record["status"] == "ready"
    assert len(record["labels"]) == 8
    assert 0 < record["metrics"]["accuracy"] <= 1


async def test_the_worker_loop_trains_queued_jobs(
    client: ASGIClient, settings: Settings, make_token: MakeToken
) -> None:
    token = make_token()
    response = await client.request(
        "POST",
        "/ai/v1/models",
        headers=bearer(token),
        json_body={"name": "q", "examples": examples()},
    )
    model_id = response.json()["id"]
    stop = asyncio.Event()
    loop = asyncio.create_task(
        training_loop(client.state["redis"], settings, None, stop, consumer="test")
    )
    try:
        for _ in range(600):
            record = (await client.get(f"/ai/v1/models/{model_id}", headers=bearer(token))).json()
            if record["status"] in ("ready", "failed"):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(loop, 10)

    assert record["status"] == "ready"
    pending = await client.state["redis"].xpending(
        f"{settings.AI_KEY_PREFIX}training-jobs", "trainers"
    )
    assert pending["pending"] == 0
