"""One classification: the default heads, the organization's category model, the language.

The answer is built as plain dicts (serialised by orjson): this is the hot path of the service.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from app.ml.defaults import DEFAULT_MODEL_ID, DefaultBundle, example_text
from app.ml.language import LanguageModel
from app.ml.linear import LinearTextModel


@dataclass(frozen=True)
class CategoryModel:
    """The category model a request uses: the default head or a trained one."""

    id: str
    version: str
    model: LinearTextModel


class Classifier:
    def __init__(self, bundle: DefaultBundle, language: LanguageModel, threshold: float) -> None:
        self.bundle = bundle
        self.language = language
        self.threshold = threshold
        self.default_category = CategoryModel(
            DEFAULT_MODEL_ID, bundle.version, bundle.heads["category"]
        )

    def _prediction(
        self, model: LinearTextModel, probabilities: npt.NDArray[np.float64]
    ) -> dict[str, Any]:
        top = model.top(probabilities)
        return self._shape(top.label, top.confidence, top.alternatives)

    def _shape(
        self, label: str, confidence: float, alternatives: list[tuple[str, float]]
    ) -> dict[str, Any]:
        return {
            "label": label,
            "confidence": confidence,
            "unsure": confidence < self.threshold,
            "alternatives": [{"label": a, "confidence": c} for a, c in alternatives],
        }

    def classify(self, subject: str, body: str, category: CategoryModel | None) -> dict[str, Any]:
        text = example_text(subject, body)
        category = category or self.default_category
        idx, values = self.bundle.featurizer.sparse_row(text)
        heads = self.bundle.heads
        if category.model is heads["category"]:
            category_p = category.model.probabilities_row(idx, values)
        else:
            category_p = category.model.probabilities_one(text)
        languages = self.language.rank(text)
        return {
            "category": self._prediction(category.model, category_p),
            "priority": self._prediction(
                heads["priority"], heads["priority"].probabilities_row(idx, values)
            ),
            "sentiment": self._prediction(
                heads["sentiment"], heads["sentiment"].probabilities_row(idx, values)
            ),
            "language": self._shape(languages[0][0], languages[0][1], languages[1:]),
            "model": {"id": category.id, "version": category.version},
        }
