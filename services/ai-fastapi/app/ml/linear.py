"""A linear classifier over ``Featurizer`` vectors whose scores are calibrated probabilities.

Training: a linear SVM (LinearSVC; one-vs-rest, fast on sparse text features and, on
BANKING77, as accurate as logistic regression at a fraction of its time). Its regularization
``C`` is chosen among ``SVM_CS`` by held-out accuracy (the same held-out examples as below, never
anything the caller evaluates on). Its scores are not probabilities, so they go through a softmax
with a temperature fitted on held-out examples (temperature scaling, Guo et al. 2017): one
parameter, so it cannot overfit a small held-out set, and it keeps the ranking. The reported
metrics stay honest although ``C`` and the temperature are both chosen on the held-out examples:
each half of them is scored with the ``C`` chosen on the other half, and calibrated with the
temperature fitted on the other half. The model that ships is then refitted on every example.

The accurate tier (``tier="accurate"``, ``app/ml/embeddings.py``) appends each text's sentence
embedding and the fifth layer's token mean (2 x 384 dense columns, scaled by ``EMBEDDING_WEIGHT``)
to the same TF-IDF features: one linear model over both, trained and calibrated the same way
(``HybridTextModel``).
"""

import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp  # type: ignore[import-untyped]
from scipy.optimize import minimize_scalar  # type: ignore[import-untyped]
from sklearn.model_selection import StratifiedKFold, train_test_split  # type: ignore[import-untyped]
from sklearn.svm import LinearSVC  # type: ignore[import-untyped]

from app.ml import embeddings
from app.ml.features import Featurizer, FloatArray, IntArray
from app.ml.metrics import Metrics, evaluate

Progress = Callable[[float, str], None]
Tier = Literal["standard", "accurate"]

MIN_EXAMPLES_PER_LABEL = 5
HOLDOUT_SHARE = 0.2
# The regularization candidates (LinearSVC's C), chosen by held-out accuracy at each training.
SVM_CS = (0.5, 1.0, 2.0)
# The embedding blocks' weight beside the TF-IDF blocks (each block a unit vector; TF-IDF's are
# weighted 0.7 and 1.0): chosen on validation shares of BANKING77's training set (never its test).
EMBEDDING_WEIGHT = 1.5
# Below this many examples the metrics and the temperature come from 5-fold cross-validation
# (every example held out once); above it, from one 20 % held-out share (five fits would be slow).
CROSS_VALIDATE_BELOW = 3000
FOLDS = 5
SEED = 20240501


class LinearTextModel:
    """Weights stored features x labels so that one text's score is a gather and a dot."""

    def __init__(
        self,
        featurizer: Featurizer,
        labels: list[str],
        weights: FloatArray,
        intercept: FloatArray,
        temperature: float,
    ) -> None:
        self.featurizer = featurizer
        self.labels = labels
        self.weights = weights
        self.intercept = intercept
        self.temperature = temperature

    @classmethod
    def from_svm(
        cls, featurizer: Featurizer, svm: LinearSVC, temperature: float = 1.0
    ) -> "LinearTextModel":
        coef = np.asarray(svm.coef_, dtype=np.float32)
        intercept = np.asarray(svm.intercept_, dtype=np.float32)
        if coef.shape[0] == 1:  # two labels: one score s, as logits (0, s)
            coef = np.vstack([np.zeros_like(coef), coef])
            intercept = np.concatenate([np.zeros(1, dtype=np.float32), intercept])
        labels = [str(label) for label in svm.classes_]
        return cls(featurizer, labels, np.ascontiguousarray(coef.T), intercept, temperature)

    tier: Tier = "standard"
    svm_c: float | None = None  # the regularization training chose (None: an older artifact)

    def scores(self, texts: list[str]) -> npt.NDArray[np.float32]:
        matrix = self.featurizer.matrix(texts)
        return np.asarray(matrix @ self.weights, dtype=np.float32) + self.intercept

    def prepare(self) -> None:
        """Load what scoring needs beyond the pickled arrays (nothing, for this class)."""

    def probabilities(self, texts: list[str]) -> npt.NDArray[np.float64]:
        return softmax(self.scores(texts), self.temperature)

    def scores_one(self, text: str) -> npt.NDArray[np.float32]:
        """One text's scores (before the temperature and the softmax), by the fast path."""
        idx, values = self.featurizer.sparse_row(text)
        return self.scores_row(idx, values)

    def scores_row(self, idx: IntArray, values: FloatArray) -> npt.NDArray[np.float32]:
        if len(idx) == 0:
            return self.intercept.copy()
        row: npt.NDArray[np.float32] = values @ self.weights[idx]
        row += self.intercept
        return row

    def probabilities_one(self, text: str) -> npt.NDArray[np.float64]:
        scores = self.scores_one(text)[np.newaxis, :]
        row: npt.NDArray[np.float64] = softmax(scores, self.temperature)[0]
        return row


class HybridTextModel(LinearTextModel):
    """TF-IDF features and a sentence embedding, one linear model over both (the accurate tier).

    ``weights`` covers the TF-IDF columns, ``dense_weights`` the embedding's (already multiplied
    by ``EMBEDDING_WEIGHT``). The encoder is not pickled: it is the process's shared one, loaded
    from the installed model package (its files' digests checked) by ``prepare``.
    """

    tier: Tier = "accurate"

    def __init__(
        self,
        featurizer: Featurizer,
        labels: list[str],
        weights: FloatArray,
        intercept: FloatArray,
        temperature: float,
        dense_weights: npt.NDArray[np.float32],
    ) -> None:
        super().__init__(featurizer, labels, weights, intercept, temperature)
        self.dense_weights = dense_weights
        self.embedding_model = embeddings.MODEL_NAME
        self.embedding_digest = embeddings.DIGESTS["model.safetensors"]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_loaded_encoder", None)
        return state

    def prepare(self) -> None:
        self._encoder()

    def _encoder(self) -> "embeddings.MiniLMEncoder":
        encoder: embeddings.MiniLMEncoder | None = self.__dict__.get("_loaded_encoder")
        if encoder is None:
            if self.embedding_digest != embeddings.DIGESTS["model.safetensors"]:
                raise embeddings.EmbeddingsUnavailable(
                    "this model was trained on other embeddings than the ones installed"
                )
            encoder = embeddings.shared_encoder()
            self.__dict__["_loaded_encoder"] = encoder
        return encoder

    def scores(self, texts: list[str]) -> npt.NDArray[np.float32]:
        sparse = super().scores(texts)
        dense: npt.NDArray[np.float32] = self._encoder().encode(texts) @ self.dense_weights
        return sparse + dense

    def scores_row(self, idx: IntArray, values: FloatArray) -> npt.NDArray[np.float32]:
        raise TypeError("a hybrid model scores a text, not TF-IDF columns alone")

    def scores_one(self, text: str) -> npt.NDArray[np.float32]:
        idx, values = self.featurizer.sparse_row(text)
        row = self._encoder().encode_one(text) @ self.dense_weights
        if len(idx):
            row += values @ self.weights[idx]
        row += self.intercept
        out: npt.NDArray[np.float32] = row
        return out


def hyperparameters(model: LinearTextModel) -> dict[str, float | str]:
    """What a model's record reports of how it was trained."""
    out: dict[str, float | str] = {"tier": model.tier}
    if model.svm_c is not None:
        out["svm_c"] = model.svm_c
    if isinstance(model, HybridTextModel):
        out["embedding_model"] = model.embedding_model
        out["embedding_weight"] = EMBEDDING_WEIGHT
    return out


def softmax(scores: npt.NDArray[np.float32], temperature: float) -> npt.NDArray[np.float64]:
    z = scores.astype(np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def fit_temperature(scores: npt.NDArray[np.float32], truth: npt.NDArray[np.int64]) -> float:
    """The temperature that minimises the negative log-likelihood of the true labels."""

    def nll(log_t: float) -> float:
        p = softmax(scores, math.exp(log_t))[np.arange(len(truth)), truth]
        return float(-np.log(np.clip(p, 1e-12, None)).mean())

    result = minimize_scalar(nll, bounds=(math.log(0.01), math.log(100.0)), method="bounded")
    return math.exp(float(result.x))


def check_examples(labels: list[str]) -> list[str]:
    """What makes a training set unusable, in words for the person who sent it (empty: fine)."""
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    problems = []
    if len(counts) < 2:
        problems.append(f"at least 2 different labels are needed, got {len(counts)}")
    few = sorted(label for label, n in counts.items() if n < MIN_EXAMPLES_PER_LABEL)
    if few:
        shown = ", ".join(repr(label) for label in few[:10]) + (" ..." if len(few) > 10 else "")
        problems.append(
            f"each label needs at least {MIN_EXAMPLES_PER_LABEL} examples; too few for {shown}"
        )
    return problems


Scores = npt.NDArray[np.float32]


class _Features:
    """A training set's feature matrices: TF-IDF of the texts, and their embeddings (accurate)."""

    def __init__(self, texts: list[str], tier: Tier, report: Progress) -> None:
        self.texts = texts
        self.embedded: Scores | None = None
        if tier == "accurate":
            report(0.05, "embedding the examples")
            encoder = embeddings.shared_encoder()
            self.embedded = encoder.encode(texts) * np.float32(EMBEDDING_WEIGHT)

    def matrix(self, featurizer: Featurizer, rows: npt.NDArray[np.int64]) -> sp.csr_matrix:
        tfidf = featurizer.matrix([self.texts[i] for i in rows])
        if self.embedded is None:
            return tfidf
        dense = sp.csr_matrix(self.embedded[rows])
        return sp.csr_matrix(sp.hstack([tfidf, dense], format="csr", dtype=np.float32))

    def model(
        self, featurizer: Featurizer, labels: list[str], coef: Scores, intercept: Scores
    ) -> LinearTextModel:
        """``coef``: features x labels, over ``matrix``'s columns."""
        split = featurizer.n_features
        weights = np.ascontiguousarray(coef[:split])
        if self.embedded is None:
            return LinearTextModel(featurizer, labels, weights, intercept, 1.0)
        dense = np.ascontiguousarray(coef[split:] * np.float32(EMBEDDING_WEIGHT))
        return HybridTextModel(featurizer, labels, weights, intercept, 1.0, dense)


def _svm(
    matrix: sp.csr_matrix, truth: npt.NDArray[np.int64], c: float, n_labels: int
) -> tuple[Scores, Scores]:
    """A LinearSVC's weights (features x label ids) and intercepts; a label absent from
    ``truth`` gets zeros."""
    svm = LinearSVC(C=c, random_state=SEED).fit(matrix, truth)
    coef = np.asarray(svm.coef_, dtype=np.float32)
    intercept = np.asarray(svm.intercept_, dtype=np.float32)
    if coef.shape[0] == 1:  # two labels: one score s, as logits (0, s)
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([np.zeros(1, dtype=np.float32), intercept])
    weights = np.zeros((matrix.shape[1], n_labels), dtype=np.float32)
    intercepts = np.zeros(n_labels, dtype=np.float32)
    columns = [int(label) for label in svm.classes_]
    weights[:, columns] = coef.T
    intercepts[columns] = intercept
    return weights, intercepts


def train(
    texts: list[str],
    labels: list[str],
    progress: Progress | None = None,
    featurizer: Featurizer | None = None,
    tier: Tier = "standard",
) -> tuple[LinearTextModel, Metrics]:
    """A calibrated model on every example, and its metrics on a held-out share of them.

    ``featurizer``: one already fitted, shared with other models over the same texts (the default
    models share one, so that a request computes its features once). ``tier``: ``"accurate"``
    adds the sentence embeddings (needs the ``accurate`` extra).
    """
    report = progress or (lambda share, stage: None)
    problems = check_examples(labels)
    if problems:
        raise ValueError("; ".join(problems))
    report(0.02, "preparing")
    label_order = sorted(set(labels))
    index = {label: i for i, label in enumerate(label_order)}
    truth = np.array([index[label] for label in labels], dtype=np.int64)
    features = _Features(texts, tier, report)
    everything = np.arange(len(texts), dtype=np.int64)
    if len(texts) < CROSS_VALIDATE_BELOW:
        # One vocabulary for every fold (unsupervised statistics only), so that the fold models
        # live in one space and their average is the model that ships: its scores then have the
        # scale the temperature was fitted on (a refit on every example would be sharper).
        featurizer = featurizer or Featurizer().fit(texts)
        candidates, averaged = _out_of_fold(features, featurizer, truth, report)
        held = everything
    else:
        held, candidates = _held_out_scores(features, featurizer, truth, report)
        averaged = None
    report(0.5, "calibrating")
    held_truth = truth[held]
    c, honest_scores = _select_c(candidates, held_truth)
    metrics = evaluate(label_order, held_truth, _cross_calibrated(honest_scores, held_truth))
    temperature = fit_temperature(candidates[c], held_truth)
    if averaged is not None:
        model = averaged[c]
    else:
        report(0.55, f"fitting on every example (C={c})")
        final_featurizer = featurizer or Featurizer().fit(texts)
        matrix = features.matrix(final_featurizer, everything)
        coef, intercept = _svm(matrix, truth, c, len(label_order))
        model = features.model(final_featurizer, label_order, coef, intercept)
    model.labels = label_order
    model.temperature = temperature
    model.svm_c = c
    report(0.95, "saving")
    return model, metrics


def _select_c(
    candidates: dict[float, Scores], truth: npt.NDArray[np.int64]
) -> tuple[float, Scores]:
    """The C with the best held-out accuracy (ties: the smaller C), and honest held-out scores.

    The honest scores: each half of the held-out examples scored with the C chosen on the other
    half, so that the reported metrics do not profit from the choice.
    """

    def best(mask: npt.NDArray[np.bool_]) -> float:
        accuracy = {
            c: float((s[mask].argmax(axis=1) == truth[mask]).mean()) for c, s in candidates.items()
        }
        top = max(accuracy.values())
        return min(c for c, a in accuracy.items() if a == top)

    everything = np.ones(len(truth), dtype=bool)
    chosen = best(everything)
    rng = np.random.default_rng(SEED + 1)
    half = rng.permutation(len(truth)) < len(truth) // 2
    honest = np.empty_like(candidates[chosen])
    for part in (half, ~half):
        other = ~part
        honest[part] = candidates[best(other) if other.any() else chosen][part]
    return chosen, honest


def _held_out_scores(
    features: _Features,
    featurizer: Featurizer | None,
    truth: npt.NDArray[np.int64],
    report: Progress,
) -> tuple[npt.NDArray[np.int64], dict[float, Scores]]:
    """Scores of models fitted on 80 % of the examples (one per C), on the other 20 %."""
    n_labels = int(truth.max()) + 1
    holdout = max(HOLDOUT_SHARE, n_labels * 2 / len(truth))
    fit_rows, held_rows = train_test_split(
        np.arange(len(truth), dtype=np.int64),
        test_size=min(holdout, 0.5),
        stratify=truth,
        random_state=SEED,
    )
    report(0.1, "fitting on the training share")
    trial_featurizer = featurizer or Featurizer().fit([features.texts[i] for i in fit_rows])
    fit_matrix = features.matrix(trial_featurizer, fit_rows)
    held_matrix = features.matrix(trial_featurizer, held_rows)
    candidates: dict[float, Scores] = {}
    for k, c in enumerate(SVM_CS):
        report(0.1 + 0.4 * k / len(SVM_CS), f"fitting on the training share, C={c}")
        coef, intercept = _svm(fit_matrix, truth[fit_rows], c, n_labels)
        candidates[c] = np.asarray(held_matrix @ coef, dtype=np.float32) + intercept
    return held_rows, candidates


def _out_of_fold(
    features: _Features,
    featurizer: Featurizer,
    truth: npt.NDArray[np.int64],
    report: Progress,
) -> tuple[dict[float, Scores], dict[float, LinearTextModel]]:
    """Every example scored by models fitted without it (k folds, each C); the folds' average."""
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED)
    n_labels = int(truth.max()) + 1
    matrix = features.matrix(featurizer, np.arange(len(truth), dtype=np.int64))
    scores = {c: np.zeros((len(truth), n_labels), dtype=np.float32) for c in SVM_CS}
    coefs = {c: np.zeros((matrix.shape[1], n_labels), dtype=np.float32) for c in SVM_CS}
    intercepts = {c: np.zeros(n_labels, dtype=np.float32) for c in SVM_CS}
    for k, (fit_idx, held_idx) in enumerate(folds.split(np.zeros(len(truth)), truth)):
        report(0.1 + 0.35 * k / FOLDS, f"cross-validating, fold {k + 1} of {FOLDS}")
        for c in SVM_CS:
            coef, intercept = _svm(matrix[fit_idx], truth[fit_idx], c, n_labels)
            scores[c][held_idx] = np.asarray(matrix[held_idx] @ coef, dtype=np.float32) + intercept
            coefs[c] += coef / FOLDS
            intercepts[c] += intercept / FOLDS
    labels = [str(i) for i in range(n_labels)]
    models = {c: features.model(featurizer, labels, coefs[c], intercepts[c]) for c in SVM_CS}
    return scores, models


def _cross_calibrated(
    scores: npt.NDArray[np.float32], truth: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Each half's probabilities with the temperature fitted on the other half."""
    rng = np.random.default_rng(SEED)
    half = rng.permutation(len(truth)) < len(truth) // 2
    out = np.empty(scores.shape, dtype=np.float64)
    for part in (half, ~half):
        other = ~part
        t = fit_temperature(scores[other], truth[other]) if other.any() else 1.0
        out[part] = softmax(scores[part], t)
    return out
