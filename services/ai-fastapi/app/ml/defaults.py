"""The default models: category, priority and sentiment, usable the moment the service starts.

Their training examples are tickets written for this project (``app/data/*.jsonl``: many kinds of
business, seven languages). The trained bundle is a versioned artifact: its version is a digest of
those files, of this training code's version and of scikit-learn's, so a replica trains it once
(about a second) and every later start, or another worker on the same ``AI_MODEL_DIR``, loads it.
"""

import hashlib
import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import sklearn  # type: ignore[import-untyped]
import structlog

from app.ml.features import Featurizer
from app.ml.linear import LinearTextModel, train
from app.ml.metrics import Metrics
from app.ml.store import ArtifactStore

log = structlog.stdlib.get_logger(__name__)

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DEFAULT_MODEL_ID = "default"
# Bump when the features or the training change in a way the data digest cannot see.
TRAINING_CODE_VERSION = "2"
HEADS = ("category", "priority", "sentiment")


@dataclass
class DefaultBundle:
    version: str
    featurizer: Featurizer
    heads: dict[str, LinearTextModel]
    metrics: dict[str, Metrics]
    examples: int


def example_text(subject: str, body: str) -> str:
    """What a model reads of a ticket: the subject, then the body."""
    return f"{subject.strip()}\n{body.strip()}".strip()


def load_examples() -> list[dict[str, str]]:
    rows = []
    for path in sorted(DATA_DIR.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(json.loads(line))
    return rows


def bundle_version() -> str:
    digest = hashlib.sha256(f"{TRAINING_CODE_VERSION}:{sklearn.__version__}".encode())
    for path in sorted(DATA_DIR.glob("*.jsonl")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def train_bundle() -> DefaultBundle:
    rows = load_examples()
    texts = [example_text(r["subject"], r["body"]) for r in rows]
    featurizer = Featurizer().fit(texts)
    heads: dict[str, LinearTextModel] = {}
    metrics: dict[str, Metrics] = {}
    for head in HEADS:
        heads[head], metrics[head] = train(texts, [r[head] for r in rows], featurizer=featurizer)
    return DefaultBundle(bundle_version(), featurizer, heads, metrics, len(rows))


_LOADED: dict[str, DefaultBundle] = {}


def load_or_train(store: ArtifactStore) -> DefaultBundle:
    """The bundle of this version: from this process's memory, the store, or trained now."""
    version = bundle_version()
    cached = _LOADED.get(version)
    if cached is not None:
        return cached
    bundle = _load_or_train(store, version)
    _LOADED[version] = bundle  # read-only once built: apps in one process may share it
    return bundle


def _load_or_train(store: ArtifactStore, version: str) -> DefaultBundle:
    key = f"default/{version}.pkl"
    if store.exists(key):
        try:
            bundle = pickle.loads(store.get(key))  # noqa: S301 (our own artifact, by version)
            if isinstance(bundle, DefaultBundle) and bundle.version == version:
                log.info("default_models_loaded", version=version)
                return bundle
        except Exception as exc:  # a damaged file: train again and replace it
            log.warning("default_models_unreadable", version=version, error=repr(exc))
    bundle = train_bundle()
    store.put(key, pickle.dumps(bundle, protocol=pickle.HIGHEST_PROTOCOL))
    log.info(
        "default_models_trained",
        version=version,
        examples=bundle.examples,
        **{f"{head}_accuracy": m.accuracy for head, m in bundle.metrics.items()},
    )
    return bundle
