"""A linear classifier over ``Featurizer`` vectors whose scores are calibrated probabilities.

Training: a linear SVM (LinearSVC; one-vs-rest, fast on sparse text features and, on
BANKING77, as accurate as logistic regression at a fraction of its time). Its scores are not
probabilities, so they go through a softmax with a temperature fitted on held-out examples
(temperature scaling, Guo et al. 2017): one parameter, so it cannot overfit a small held-out set,
and it keeps the ranking. The held-out scores (out-of-fold for small sets) are calibrated
twice-crossed (the temperature fitted on one half is tested on the other) so that the reported
calibration error is honest; the model that ships is then refitted on every example.
"""

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize_scalar  # type: ignore[import-untyped]
from sklearn.model_selection import StratifiedKFold, train_test_split  # type: ignore[import-untyped]
from sklearn.svm import LinearSVC  # type: ignore[import-untyped]

from app.ml.features import Featurizer, FloatArray, IntArray
from app.ml.metrics import Metrics, evaluate

Progress = Callable[[float, str], None]

MIN_EXAMPLES_PER_LABEL = 5
HOLDOUT_SHARE = 0.2
SVM_C = 1.0
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

    def scores(self, texts: list[str]) -> npt.NDArray[np.float32]:
        matrix = self.featurizer.matrix(texts)
        return np.asarray(matrix @ self.weights, dtype=np.float32) + self.intercept

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


def _fit(
    texts: list[str], labels: list[str], shared: Featurizer | None
) -> tuple[Featurizer, LinearSVC]:
    featurizer = shared or Featurizer().fit(texts)
    svm = LinearSVC(C=SVM_C, random_state=SEED)
    svm.fit(featurizer.matrix(texts), labels)
    return featurizer, svm


def train(
    texts: list[str],
    labels: list[str],
    progress: Progress | None = None,
    featurizer: Featurizer | None = None,
) -> tuple[LinearTextModel, Metrics]:
    """A calibrated model on every example, and its metrics on a held-out share of them.

    ``featurizer``: one already fitted, shared with other models over the same texts (the default
    models share one, so that a request computes its features once).
    """
    report = progress or (lambda share, stage: None)
    problems = check_examples(labels)
    if problems:
        raise ValueError("; ".join(problems))
    report(0.05, "splitting")
    label_order = sorted(set(labels))
    index = {label: i for i, label in enumerate(label_order)}
    if len(texts) < CROSS_VALIDATE_BELOW:
        # One vocabulary for every fold (unsupervised statistics only), so that the fold models
        # live in one space and their average is the model that ships: its scores then have the
        # scale the temperature was fitted on (a refit on every example would be sharper).
        featurizer = featurizer or Featurizer().fit(texts)
        scores, truth, averaged = _out_of_fold(texts, labels, index, featurizer, report)
    else:
        scores, truth = _held_out_scores(texts, labels, index, featurizer, report)
        averaged = None
    report(0.5, "calibrating")
    metrics = evaluate(label_order, truth, _cross_calibrated(scores, truth))
    temperature = fit_temperature(scores, truth)
    if averaged is not None:
        averaged.temperature = temperature
        report(0.95, "saving")
        return averaged, metrics
    report(0.55, "fitting on every example")
    final_featurizer, svm = _fit(texts, labels, featurizer)
    report(0.95, "saving")
    return LinearTextModel.from_svm(final_featurizer, svm, temperature), metrics


def _held_out_scores(
    texts: list[str],
    labels: list[str],
    index: dict[str, int],
    featurizer: Featurizer | None,
    report: Progress,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Scores of a model fitted on 80 % of the examples, on the other 20 %."""
    holdout = max(HOLDOUT_SHARE, len(index) * 2 / len(labels))
    fit_texts, held_texts, fit_labels, held_labels = train_test_split(
        texts, labels, test_size=min(holdout, 0.5), stratify=labels, random_state=SEED
    )
    report(0.1, "fitting on the training share")
    trial_featurizer, svm = _fit(fit_texts, fit_labels, featurizer)
    trial = LinearTextModel.from_svm(trial_featurizer, svm)
    truth = np.array([index[label] for label in held_labels], dtype=np.int64)
    return trial.scores(held_texts), truth


def _out_of_fold(
    texts: list[str],
    labels: list[str],
    index: dict[str, int],
    featurizer: Featurizer,
    report: Progress,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64], LinearTextModel]:
    """Every example scored by a model fitted without it (k folds), and the folds' average."""
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED)
    n_labels = len(index)
    scores = np.zeros((len(texts), n_labels), dtype=np.float32)
    weights = np.zeros((featurizer.n_features, n_labels), dtype=np.float32)
    intercept = np.zeros(n_labels, dtype=np.float32)
    matrix = featurizer.matrix(texts)
    truth = np.array([index[label] for label in labels], dtype=np.int64)
    for k, (fit_idx, held_idx) in enumerate(folds.split(texts, labels)):
        report(0.1 + 0.35 * k / FOLDS, f"cross-validating, fold {k + 1} of {FOLDS}")
        svm = LinearSVC(C=SVM_C, random_state=SEED).fit(matrix[fit_idx], truth[fit_idx])
        fold = LinearTextModel.from_svm(featurizer, svm)
        columns = [int(label) for label in fold.labels]
        scores[np.ix_(held_idx, columns)] = (
            np.asarray(matrix[held_idx] @ fold.weights, dtype=np.float32) + fold.intercept
        )
        weights[:, columns] += fold.weights / FOLDS
        intercept[columns] += fold.intercept / FOLDS
    label_order = sorted(index, key=index.__getitem__)
    return scores, truth, LinearTextModel(featurizer, label_order, weights, intercept, 1.0)


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
