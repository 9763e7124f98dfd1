"""Held-out metrics of a classifier: accuracy, macro-F1, per-label scores, calibration error."""

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support  # type: ignore[import-untyped]

ECE_BINS = 15


class LabelScores(BaseModel):
    precision: float
    recall: float
    f1: float
    support: int


class Metrics(BaseModel):
    accuracy: float
    macro_f1: float
    ece: float  # expected calibration error of the top label's confidence, 15 equal bins
    held_out: int
    per_label: dict[str, LabelScores]


def expected_calibration_error(
    confidence: npt.NDArray[np.float64], correct: npt.NDArray[np.bool_], bins: int = ECE_BINS
) -> float:
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(confidence[mask].mean() - correct[mask].mean())
    return float(total)


def evaluate(
    labels: list[str], truth: npt.NDArray[np.int64], probabilities: npt.NDArray[np.float64]
) -> Metrics:
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    ids = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=ids, zero_division=0
    )
    return Metrics(
        accuracy=round(float(accuracy_score(truth, predicted)), 4),
        macro_f1=round(
            float(f1_score(truth, predicted, labels=ids, average="macro", zero_division=0)), 4
        ),
        ece=round(expected_calibration_error(confidence, predicted == truth), 4),
        held_out=len(truth),
        per_label={
            label: LabelScores(
                precision=round(float(precision[i]), 4),
                recall=round(float(recall[i]), 4),
                f1=round(float(f1[i]), 4),
                support=int(support[i]),
            )
            for i, label in enumerate(labels)
        },
    )
