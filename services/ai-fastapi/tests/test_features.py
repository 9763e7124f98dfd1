"""The one-text fast path computes what the batch path computes; temperature scaling works."""

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]

from app.ml.defaults import example_text, load_examples
from app.ml.features import Featurizer
from app.ml.linear import fit_temperature
from app.ml.metrics import expected_calibration_error

TEXTS = ["My parcel never arrived", "Rechnung doppelt bezahlt", "café au lait, s'il vous plaît"]


def test_the_fast_path_equals_the_matrix_path() -> None:
    featurizer = Featurizer().fit(TEXTS)

    for i, text in enumerate([*TEXTS, "parcel café unknown-word"]):
        idx, values = featurizer.sparse_row(text)
        dense = np.zeros(featurizer.n_features, dtype=np.float32)
        dense[idx] = values
        expected = featurizer.matrix([text]).toarray()[0]
        np.testing.assert_allclose(dense, expected, rtol=1e-5, atol=1e-6, err_msg=str(i))


def assert_same_rows(featurizer: Featurizer, texts: list[str]) -> None:
    matrix = featurizer.matrix(texts).toarray()
    for i, text in enumerate(texts):
        idx, values = featurizer.sparse_row(text)
        dense = np.zeros(featurizer.n_features, dtype=np.float32)
        dense[idx] = values
        np.testing.assert_allclose(dense, matrix[i], rtol=1e-5, atol=1e-6, err_msg=text)


def test_the_fast_path_equals_the_matrix_path_on_the_shipped_tickets() -> None:
    texts = [example_text(r["subject"], r["body"]) for r in load_examples()]
    featurizer = Featurizer().fit(texts[::2])
    odd = [
        "",
        "   ",
        "a",
        "I I I I card card",
        "NÃO RECEBI O PACOTE!!! 😡 #4412",
        "tab\tseparated\nlines  and   spaces",
        "x" * 4000,  # longer than the clip
    ]

    assert_same_rows(featurizer, texts + odd)
    assert_same_rows(featurizer, texts + odd)  # again, from the per-word cache


def test_other_vectorizer_settings_fall_back_to_their_analyzer() -> None:
    featurizer = Featurizer(
        vectorizers=[
            TfidfVectorizer(ngram_range=(2, 3), stop_words=["the"]),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 4), lowercase=False),
            TfidfVectorizer(analyzer="char", ngram_range=(2, 3), sublinear_tf=True),
        ],
        weights=(0.5, 1.0, 0.3),
    ).fit(TEXTS)

    assert_same_rows(featurizer, [*TEXTS, "The parcel café", "Unknown"])


def test_temperature_softens_overconfident_scores() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, size=400)
    scores = rng.normal(size=(400, 3)).astype(np.float32)
    scores[np.arange(400), truth] += 1.0
    scores *= 10  # far too sharp

    assert fit_temperature(scores, truth) > 3


def test_ece_is_zero_when_confidence_matches_accuracy() -> None:
    confidence = np.full(100, 0.7)
    correct = np.arange(100) < 70

    assert expected_calibration_error(confidence, correct) < 1e-9
