"""Word and character n-gram TF-IDF features, with a fast path for one text.

Training and batches go through scikit-learn's ``TfidfVectorizer``; a single text (the common
request) goes through ``Featurizer.sparse_row``, which computes the same vector in plain Python and
NumPy without building a SciPy matrix: about ten times faster for one short text, and the reason
a request stays under a millisecond. ``tests/test_features.py`` holds the two paths equal.
"""

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp  # type: ignore[import-untyped]
from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

# The opening of a ticket carries its intent; a bounded input keeps the latency bounded.
MAX_FEATURE_CHARS = 3000

# Words (1-3-grams) see phrases; characters within words (1-5) see typos, inflections and
# languages we never tokenised. Tuned on BANKING77's training set (see bench/ai_classify.py).
WORD_WEIGHT = 0.7


def _vectorizers() -> list[TfidfVectorizer]:
    return [
        TfidfVectorizer(
            sublinear_tf=True,
            ngram_range=(1, 3),
            token_pattern=r"(?u)\b\w+\b",  # noqa: S106 (a regular expression)
            dtype=np.float32,
        ),
        TfidfVectorizer(
            sublinear_tf=True, analyzer="char_wb", ngram_range=(1, 5), dtype=np.float32
        ),
    ]


@dataclass
class Featurizer:
    vectorizers: list[TfidfVectorizer] = field(default_factory=_vectorizers)
    weights: tuple[float, ...] = (WORD_WEIGHT, 1.0)

    def fit(self, texts: list[str]) -> "Featurizer":
        for vectorizer in self.vectorizers:
            vectorizer.fit([clip(t) for t in texts])
        self._prepare()
        return self

    def _prepare(self) -> None:
        self._analyzers = [v.build_analyzer() for v in self.vectorizers]
        self._idf = [v.idf_.astype(np.float32) for v in self.vectorizers]
        sizes = [len(v.vocabulary_) for v in self.vectorizers]
        self._offsets = np.cumsum([0, *sizes])[:-1].tolist()
        self.n_features = int(sum(sizes))

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._prepare()

    def __getstate__(self) -> dict[str, object]:
        return {"vectorizers": self.vectorizers, "weights": self.weights}

    def matrix(self, texts: list[str]) -> sp.csr_matrix:
        clipped = [clip(t) for t in texts]
        blocks = [
            v.transform(clipped) * np.float32(w)
            for v, w in zip(self.vectorizers, self.weights, strict=True)
        ]
        return sp.csr_matrix(sp.hstack(blocks, format="csr", dtype=np.float32))

    def sparse_row(self, text: str) -> tuple[IntArray, FloatArray]:
        """One text's non-zero feature indices and values: the same as ``matrix([text])``."""
        text = clip(text)
        all_idx: list[IntArray] = []
        all_val: list[FloatArray] = []
        for vectorizer, analyzer, idf, offset, weight in zip(
            self.vectorizers, self._analyzers, self._idf, self._offsets, self.weights, strict=True
        ):
            vocabulary = vectorizer.vocabulary_
            counts: dict[int, int] = {}
            for gram in analyzer(text):
                j = vocabulary.get(gram)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            if not counts:
                continue
            idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
            values = (np.log(tf) + np.float32(1.0)) * idf[idx]
            values *= np.float32(weight) / np.linalg.norm(values)
            all_idx.append(idx + offset)
            all_val.append(values.astype(np.float32))
        if not all_idx:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        return np.concatenate(all_idx), np.concatenate(all_val)


def clip(text: str) -> str:
    return text[:MAX_FEATURE_CHARS]
