"""Word and character n-gram TF-IDF features, with a fast path for one text.

Training and batches go through scikit-learn's ``TfidfVectorizer``; a single text (the common
request) goes through ``Featurizer.sparse_row``, which computes the same vector in plain Python and
NumPy without building a SciPy matrix or calling scikit-learn's analyzers:

- the text is lowercased once; word n-grams come from one ``findall`` and joins;
- a word's character n-grams (``char_wb``: within the word padded by spaces) depend on the word
  alone, so each block keeps, per word seen, the vocabulary columns of its n-grams (a bounded
  dict, cleared when full): most words of a request were seen before, and their ~20 n-grams cost
  one dict lookup instead of twenty slices and lookups;
- counting is ``collections.Counter`` (C), the TF-IDF arithmetic is a few NumPy calls.

``tests/test_features.py`` holds the two paths equal. A vectorizer configured otherwise than
these two kinds (stop words, accents stripped, no lowercasing...) falls back to its own analyzer.
"""

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp  # type: ignore[import-untyped]
from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

# The opening of a ticket carries its intent; a bounded input keeps the latency bounded.
MAX_FEATURE_CHARS = 3000
# Words whose character n-gram columns a block remembers (per process; cleared when full).
WORD_CACHE_MAX = 50_000

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


class _Block:
    """One fitted vectorizer's share of ``sparse_row``: the columns of a lowercased text."""

    def __init__(self, vectorizer: TfidfVectorizer, offset: int, weight: float) -> None:
        self.vocabulary: dict[str, int] = vectorizer.vocabulary_
        self.idf = vectorizer.idf_.astype(np.float32)
        self.offset = offset
        self.weight = np.float32(weight)
        self.sublinear = bool(vectorizer.sublinear_tf)
        self.min_n, self.max_n = vectorizer.ngram_range
        self._words: dict[str, list[int]] = {}
        plain = (
            vectorizer.lowercase
            and vectorizer.strip_accents is None
            and vectorizer.preprocessor is None
            and vectorizer.tokenizer is None
            and vectorizer.stop_words is None
            and vectorizer.input == "content"
            and vectorizer.norm == "l2"
            and vectorizer.use_idf
        )
        self._findall: Callable[[str], list[str]] | None = None
        self.columns: Callable[[str, str], list[int]]
        if plain and vectorizer.analyzer == "word":
            self.columns = self._word_columns
            self._findall = re.compile(vectorizer.token_pattern).findall
        elif plain and vectorizer.analyzer == "char_wb":
            self.columns = self._char_wb_columns
        else:
            analyze = vectorizer.build_analyzer()
            self.columns = lambda _lowered, text: self._lookup(analyze(text))
            if vectorizer.norm != "l2" or not vectorizer.use_idf:
                raise ValueError("the fast path needs norm='l2' and use_idf=True")

    def _lookup(self, grams: list[str]) -> list[int]:
        return [j for j in map(self.vocabulary.get, grams) if j is not None]

    def _word_columns(self, lowered: str, _text: str) -> list[int]:
        assert self._findall is not None
        tokens = self._findall(lowered)
        grams = list(tokens) if self.min_n == 1 else []
        join = " ".join
        for n in range(max(2, self.min_n), min(self.max_n, len(tokens)) + 1):
            grams += [join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        return self._lookup(grams)

    def _char_wb_columns(self, lowered: str, _text: str) -> list[int]:
        words = self._words
        out: list[int] = []
        for word in lowered.split():
            columns = words.get(word)
            if columns is None:
                columns = self._lookup(self._char_grams(f" {word} "))
                if len(words) >= WORD_CACHE_MAX:
                    words.clear()
                words[word] = columns
            out += columns
        return out

    def _char_grams(self, padded: str) -> list[str]:
        """As scikit-learn's ``_char_wb_ngrams`` for one word (a short word counted once)."""
        size = len(padded)
        grams: list[str] = []
        for n in range(self.min_n, self.max_n + 1):
            if size <= n:
                grams.append(padded)
                break
            grams += [padded[i : i + n] for i in range(size - n + 1)]
        return grams


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
        sizes = [len(v.vocabulary_) for v in self.vectorizers]
        offsets = np.cumsum([0, *sizes])[:-1].tolist()
        self._blocks = [
            _Block(v, offset, w)
            for v, offset, w in zip(self.vectorizers, offsets, self.weights, strict=True)
        ]
        self._idf = np.concatenate([block.idf for block in self._blocks])
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
        """One text's non-zero feature indices and values: the same as ``matrix([text])``.

        The blocks' counts are gathered into one pair of arrays and the TF-IDF arithmetic runs
        once over them; only the sublinear TF and the L2 norm go block by block (slices).
        """
        text = clip(text)
        lowered = text.lower()
        keys: list[int] = []
        tfs: list[int] = []
        bounds = [0]
        for block in self._blocks:
            counts = Counter(block.columns(lowered, text))
            offset = block.offset
            keys += [j + offset for j in counts] if offset else counts
            tfs += counts.values()
            bounds.append(len(keys))
        idx = np.array(keys, dtype=np.int64)
        values = np.array(tfs, dtype=np.float32)
        for block, start, stop in zip(self._blocks, bounds, bounds[1:], strict=False):
            if stop == start:
                continue
            part = values[start:stop]
            if block.sublinear:
                np.log(part, out=part)
                part += np.float32(1.0)
            part *= self._idf[idx[start:stop]]
            part *= block.weight / np.sqrt(np.dot(part, part))
        return idx, values


def clip(text: str) -> str:
    return text[:MAX_FEATURE_CHARS]
