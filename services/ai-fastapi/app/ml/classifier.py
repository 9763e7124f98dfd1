"""One classification: the default heads, the organization's category model, the language.

The answer is built as plain dicts (serialised by orjson): this is the hot path of the service.
The default heads share one featurizer, so their weights are stacked side by side: one text's
scores for all of them are one gather and one product. The few scores of a head then go through
the softmax in plain Python (for a dozen numbers, NumPy's per-call overhead is the larger cost).
"""

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.ml.defaults import DEFAULT_MODEL_ID, HEADS, DefaultBundle, example_text
from app.ml.features import FloatArray, IntArray
from app.ml.language import LanguageModel
from app.ml.linear import LinearTextModel

ALTERNATIVES = 2


@dataclass(frozen=True)
class CategoryModel:
    """The category model a request uses: the default head or a trained one."""

    id: str
    version: str
    model: LinearTextModel


def ranked(
    scores: list[float], labels: list[str], temperature: float, k: int = ALTERNATIVES + 1
) -> list[tuple[str, float]]:
    """The ``k`` likeliest labels with their probabilities (softmax of ``scores / temperature``)."""
    top = max(scores)
    exps = [math.exp((s - top) / temperature) for s in scores]
    total = sum(exps)
    order = sorted(range(len(exps)), key=exps.__getitem__, reverse=True)[:k]
    return [(labels[i], round(exps[i] / total, 4)) for i in order]


class _StackedHeads:
    """The default heads' weights side by side (features x all their labels)."""

    def __init__(self, heads: dict[str, LinearTextModel]) -> None:
        models = [heads[name] for name in HEADS]
        self.weights = np.ascontiguousarray(np.hstack([m.weights for m in models]))
        self.intercept = np.concatenate([m.intercept for m in models]).astype(np.float32)
        spans = []
        start = 0
        for name, model in zip(HEADS, models, strict=True):
            spans.append((name, model.labels, start, start + len(model.labels), model.temperature))
            start += len(model.labels)
        self.spans = spans

    def scores(self, idx: IntArray, values: FloatArray) -> list[float]:
        if len(idx) == 0:
            result: list[float] = self.intercept.tolist()
            return result
        row = values @ self.weights[idx]
        row += self.intercept
        out: list[float] = row.tolist()
        return out


class Classifier:
    def __init__(self, bundle: DefaultBundle, language: LanguageModel, threshold: float) -> None:
        self.bundle = bundle
        self.language = language
        self.threshold = threshold
        self.default_category = CategoryModel(
            DEFAULT_MODEL_ID, bundle.version, bundle.heads["category"]
        )
        self._stacked = _StackedHeads(bundle.heads)

    def _shape(self, ranking: list[tuple[str, float]]) -> dict[str, Any]:
        label, confidence = ranking[0]
        return {
            "label": label,
            "confidence": confidence,
            "unsure": confidence < self.threshold,
            "alternatives": [{"label": a, "confidence": c} for a, c in ranking[1:]],
        }

    def classify(self, subject: str, body: str, category: CategoryModel | None) -> dict[str, Any]:
        text = example_text(subject, body)
        category = category or self.default_category
        idx, values = self.bundle.featurizer.sparse_row(text)
        scores = self._stacked.scores(idx, values)
        result: dict[str, Any] = {}
        for name, labels, start, stop, temperature in self._stacked.spans:
            result[name] = self._shape(ranked(scores[start:stop], labels, temperature))
        if category.model is not self.bundle.heads["category"]:
            model = category.model
            row: list[float] = model.scores_one(text).tolist()
            result["category"] = self._shape(ranked(row, model.labels, model.temperature))
        result["language"] = self._shape(self.language.rank(text))
        result["model"] = {"id": category.id, "version": category.version}
        return result
