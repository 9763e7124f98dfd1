"""The one-text fast path computes what the batch path computes; temperature scaling works."""

import numpy as np

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
