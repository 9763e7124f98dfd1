"""Trained models in Redis: their records, the training queue, each organization's activation.

Keys (all under ``AI_KEY_PREFIX``):
- ``model:<id>``: the record (JSON): status, progress, metrics, artifact digest;
- ``models:<org>``: sorted set of the organization's model ids by creation time;
- ``active:<org>``: list of activated model ids, newest first: its head is the active model,
  rollback pops it (the previous activation becomes active again; an empty list is the default);
- ``training-jobs``: stream of jobs, read by the worker's consumer group ``trainers``.

Every replica reads the same keys, so an activation needs no restart anywhere.
"""

import secrets
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Literal, cast

from pydantic import BaseModel, Field
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from app.ml.metrics import Metrics

Status = Literal["queued", "training", "ready", "failed"]
ACTIVATION_HISTORY = 50
TRAINING_GROUP = "trainers"


class ModelRecord(BaseModel):
    id: str
    name: str
    organization_id: int
    kind: Literal["category"] = "category"
    # standard: TF-IDF + linear SVM (the default install); accurate: the same plus sentence
    # embeddings (the ``accurate`` extra; README: "The accurate tier").
    tier: Literal["standard", "accurate"] = "standard"
    # What training chose and used: {"svm_c": ..., "embedding_model": ...} (when ready).
    hyperparameters: dict[str, float | str] = Field(default_factory=dict)
    status: Status = "queued"
    progress: float = Field(default=0.0, ge=0.0, le=1.0)
    stage: str = "queued"
    error: str | None = None
    labels: list[str] = Field(default_factory=list)
    examples: int = 0
    attempts: int = 0
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    training_seconds: float | None = None
    version: str | None = None
    sha256: str | None = None
    metrics: Metrics | None = None


def new_model_id() -> str:
    # Sortable by creation (milliseconds first), unguessable after that.
    return f"m-{int(time.time() * 1000):x}-{secrets.token_hex(6)}"


def now() -> datetime:
    return datetime.now(UTC)


class Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.jobs = f"{prefix}training-jobs"

    def model(self, model_id: str) -> str:
        return f"{self.prefix}model:{model_id}"

    def models(self, organization_id: int) -> str:
        return f"{self.prefix}models:{organization_id}"

    def active(self, organization_id: int) -> str:
        return f"{self.prefix}active:{organization_id}"


def training_set_key(model_id: str) -> str:
    return f"training-sets/{model_id}.jsonl"


def artifact_key(model_id: str) -> str:
    return f"models/{model_id}.pkl"


class Registry:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.keys = Keys(prefix)

    async def create(self, record: ModelRecord) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.model(record.id), record.model_dump_json())
            pipe.zadd(
                self.keys.models(record.organization_id),
                {record.id: record.created_at.timestamp()},
            )
            await pipe.execute()

    async def enqueue(self, model_id: str) -> None:
        await self.redis.xadd(self.keys.jobs, {"model_id": model_id})

    async def get(self, model_id: str) -> ModelRecord | None:
        raw = await self.redis.get(self.keys.model(model_id))
        return ModelRecord.model_validate_json(raw) if raw else None

    async def of_organization(self, organization_id: int, limit: int = 100) -> list[ModelRecord]:
        ids = await self.redis.zrevrange(self.keys.models(organization_id), 0, limit - 1)
        if not ids:
            return []
        raws = await self.redis.mget([self.keys.model(i.decode()) for i in ids])
        return [ModelRecord.model_validate_json(raw) for raw in raws if raw]

    async def active_id(self, organization_id: int) -> str | None:
        raw = await cast(
            Awaitable[bytes | None], self.redis.lindex(self.keys.active(organization_id), 0)
        )
        return raw.decode() if raw else None

    async def history(self, organization_id: int) -> list[str]:
        raw = await cast(
            Awaitable[list[bytes]], self.redis.lrange(self.keys.active(organization_id), 0, -1)
        )
        return [item.decode() for item in raw]

    async def activate(self, organization_id: int, model_id: str) -> None:
        key = self.keys.active(organization_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(key, model_id)
            pipe.ltrim(key, 0, ACTIVATION_HISTORY - 1)
            await pipe.execute()

    async def rollback(self, organization_id: int) -> str | None:
        """Undo the latest activation; the id now active (None: the default model)."""
        key = self.keys.active(organization_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpop(key)
            pipe.lindex(key, 0)
            _, head = await pipe.execute()
        return head.decode() if head else None


class SyncRecords:
    """The training process's side: it only updates records (with a synchronous client)."""

    def __init__(self, redis: SyncRedis, prefix: str) -> None:
        self.redis = redis
        self.keys = Keys(prefix)

    def get(self, model_id: str) -> ModelRecord | None:
        raw = self.redis.get(self.keys.model(model_id))
        return ModelRecord.model_validate_json(raw) if isinstance(raw, bytes | str) else None

    def save(self, record: ModelRecord) -> None:
        self.redis.set(self.keys.model(record.id), record.model_dump_json())
