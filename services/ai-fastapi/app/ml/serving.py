"""What a replica serves: the default bundle (loaded at start-up) and the trained models it used.

A trained model is loaded from the artifact store on first use, its SHA-256 checked against the
record before it is unpickled, and kept (artifacts never change under an id). An organization's
active model id is cached for ``AI_ACTIVATION_CACHE_SECONDS``: an activation or a rollback reaches
every replica within that, without a restart.
"""

import asyncio
import gc
import hashlib
import pickle
import time
from collections import OrderedDict

import structlog

from app.errors import ApiError
from app.ml.classifier import CategoryModel, Classifier
from app.ml.defaults import DEFAULT_MODEL_ID, DefaultBundle, load_or_train
from app.ml.embeddings import EmbeddingsUnavailable
from app.ml.language import LanguageModel
from app.ml.linear import LinearTextModel
from app.ml.registry import ModelRecord, Registry, artifact_key
from app.ml.store import ArtifactStore

log = structlog.stdlib.get_logger(__name__)

LOADED_MODELS_MAX = 16


class Models:
    def __init__(
        self,
        registry: Registry,
        store: ArtifactStore,
        languages: list[str],
        threshold: float,
        activation_cache_seconds: float,
    ) -> None:
        self.registry = registry
        self.store = store
        self.languages = languages
        self.threshold = threshold
        self.activation_cache_seconds = activation_cache_seconds
        self.classifier: Classifier | None = None
        self.bundle: DefaultBundle | None = None
        self.load_error: str | None = None
        self._loaded: OrderedDict[str, CategoryModel] = OrderedDict()
        self._active: dict[int, tuple[float, str | None]] = {}

    async def load_defaults(self) -> None:
        try:
            bundle = await asyncio.to_thread(load_or_train, self.store)
            language = await asyncio.to_thread(LanguageModel, self.languages)
        except Exception as exc:  # readiness reports it; the process stays up for liveness
            self.load_error = f"{type(exc).__name__}: {exc}"
            log.exception("default_models_failed")
            return
        self.bundle = bundle
        self.classifier = Classifier(bundle, language, self.threshold)
        # What is loaded now lives as long as the process: out of the collector's sight, so that
        # a full collection does not walk the models' vocabularies in the middle of a request.
        gc.collect()
        gc.freeze()

    def ready(self) -> Classifier:
        if self.classifier is None:
            raise ApiError(
                503, "service_unavailable", "The default models are still loading; try again."
            )
        return self.classifier

    async def active_id(self, organization_id: int) -> str | None:
        now = time.monotonic()
        cached = self._active.get(organization_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        active = await self.registry.active_id(organization_id)
        self._active[organization_id] = (now + self.activation_cache_seconds, active)
        return active

    def forget_activation(self, organization_id: int) -> None:
        self._active.pop(organization_id, None)

    async def category_model(self, organization_id: int, requested: str | None) -> CategoryModel:
        """The model a request of this organization uses (``requested`` overrides the active)."""
        classifier = self.ready()
        model_id = requested if requested is not None else await self.active_id(organization_id)
        if model_id is None or model_id == DEFAULT_MODEL_ID:
            return classifier.default_category
        loaded = self._loaded.get(model_id)
        if loaded is not None:
            self._loaded.move_to_end(model_id)
            return loaded
        record = await self.registry.get(model_id)
        if record is None or record.organization_id != organization_id:
            raise ApiError(404, "not_found", f"No model {model_id!r} in this organization.")
        return await self._load(record)

    async def _load(self, record: ModelRecord) -> CategoryModel:
        if record.status != "ready" or record.sha256 is None or record.version is None:
            raise ApiError(
                409, "model_not_ready", f"Model {record.id!r} is {record.status}, not ready."
            )
        try:
            data = await asyncio.to_thread(self.store.get, artifact_key(record.id))
        except OSError as exc:
            log.error("model_artifact_unreadable", model_id=record.id, error=repr(exc))
            data = b""
        if hashlib.sha256(data).hexdigest() != record.sha256:
            log.error("model_artifact_digest_mismatch", model_id=record.id)
            raise ApiError(
                503, "model_unavailable", f"Model {record.id!r} cannot be loaded right now."
            )
        model = await asyncio.to_thread(pickle.loads, data)
        assert isinstance(model, LinearTextModel)
        try:
            await asyncio.to_thread(model.prepare)  # the accurate tier's encoder
        except EmbeddingsUnavailable as exc:
            log.error("model_unavailable", model_id=record.id, error=str(exc))
            raise ApiError(
                503,
                "model_unavailable",
                f"Model {record.id!r} needs the accurate tier, which this replica cannot run: "
                f"{exc}.",
            ) from exc
        loaded = CategoryModel(record.id, record.version, model)
        self._loaded[record.id] = loaded
        while len(self._loaded) > LOADED_MODELS_MAX:
            self._loaded.popitem(last=False)
        return loaded
