"""Training jobs: queued by ``POST /ai/v1/models``, run by the worker outside any request.

``run_job`` runs in a child process (a process pool of ``AI_TRAINING_PROCESSES``), so a long fit
neither blocks the worker's event loop nor holds its GIL. It is safe to run twice for one id (a
job reclaimed from a worker that died): a finished record is left alone, a started one restarts.
The loop around it is ``training_loop``: a consumer group on the job stream, entries acknowledged
only when the record is final, kept alive while a job runs, reclaimed from dead workers.
"""

import asyncio
import json
import os
import pickle
import socket
import time
from concurrent.futures import BrokenExecutor, Executor

import structlog
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from app.config import Settings
from app.ml.linear import hyperparameters, train
from app.ml.registry import (
    TRAINING_GROUP,
    Keys,
    SyncRecords,
    artifact_key,
    now,
    training_set_key,
)
from app.ml.store import LocalArtifactStore

log = structlog.stdlib.get_logger(__name__)

MAX_ATTEMPTS = 3
HEARTBEAT_SECONDS = 10.0


def run_job(settings: Settings, model_id: str) -> str:
    """Train one model; return its final status. Never raises for a bad training set."""
    redis = SyncRedis.from_url(str(settings.REDIS_URL), socket_timeout=10)
    try:
        return _run(settings, SyncRecords(redis, settings.AI_KEY_PREFIX), model_id)
    finally:
        redis.close()


def _run(settings: Settings, records: SyncRecords, model_id: str) -> str:
    record = records.get(model_id)
    if record is None:
        return "missing"
    if record.status in ("ready", "failed"):
        return record.status
    record.attempts += 1
    if record.attempts > MAX_ATTEMPTS:
        record.status, record.error = "failed", f"gave up after {MAX_ATTEMPTS} attempts"
        record.finished_at = now()
        records.save(record)
        return record.status
    record.status, record.stage, record.progress = "training", "loading examples", 0.01
    record.started_at, record.error = now(), None
    records.save(record)
    started = time.perf_counter()
    store = LocalArtifactStore(settings.AI_MODEL_DIR)

    def progress(share: float, stage: str) -> None:
        record.progress, record.stage = round(share, 3), stage
        records.save(record)

    try:
        rows = [json.loads(line) for line in store.get(training_set_key(model_id)).splitlines()]
        model, metrics = train(
            [r["text"] for r in rows], [r["label"] for r in rows], progress, tier=record.tier
        )
        digest = store.put(
            artifact_key(model_id), pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
        )
    except Exception as exc:  # reported on the record: the API shows it, nothing else breaks
        log.warning("training_failed", model_id=model_id, error=repr(exc))
        record.status, record.stage = "failed", "failed"
        record.error = f"{type(exc).__name__}: {exc}"[:1000]
    else:
        record.status, record.stage, record.progress = "ready", "ready", 1.0
        record.metrics, record.sha256, record.version = metrics, digest, digest[:12]
        record.labels = model.labels
        record.hyperparameters = hyperparameters(model)
    record.finished_at = now()
    record.training_seconds = round(time.perf_counter() - started, 3)
    records.save(record)
    log.info("training_finished", model_id=model_id, status=record.status)
    return record.status


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


async def ensure_group(redis: Redis, stream: str, group: str, start: str = "0") -> None:
    try:
        await redis.xgroup_create(stream, group, id=start, mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def training_loop(
    redis: Redis,
    settings: Settings,
    executor: Executor | None,
    stop: asyncio.Event,
    consumer: str | None = None,
) -> None:
    keys = Keys(settings.AI_KEY_PREFIX)
    consumer = consumer or consumer_name()
    await ensure_group(redis, keys.jobs, TRAINING_GROUP)
    idle_ms = int(settings.AI_TRAINING_CLAIM_IDLE_SECONDS * 1000)
    while not stop.is_set():
        # Jobs of a worker that died (not acknowledged, idle too long) come first.
        _, entries, *_ = await redis.xautoclaim(
            keys.jobs, TRAINING_GROUP, consumer, min_idle_time=idle_ms, start_id="0-0", count=1
        )
        if not entries:
            read = await redis.xreadgroup(
                TRAINING_GROUP, consumer, {keys.jobs: ">"}, count=1, block=1000
            )
            entries = read[0][1] if read else []
        for entry_id, fields in entries:
            model_id = fields[b"model_id"].decode()
            job = asyncio.get_running_loop().run_in_executor(executor, run_job, settings, model_id)
            while True:
                done, _ = await asyncio.wait({job}, timeout=HEARTBEAT_SECONDS)
                if done:
                    break
                # Still ours: reset the entry's idle time so no other worker reclaims it.
                await redis.xclaim(keys.jobs, TRAINING_GROUP, consumer, 0, [entry_id], justid=True)
            try:
                status = job.result()
            except BrokenExecutor:
                raise  # the pool is gone: stop the worker, its supervisor starts a fresh one
            except Exception as exc:  # the process died (out of memory…): the next try decides
                log.error("training_job_crashed", model_id=model_id, error=repr(exc))
                continue
            await redis.xack(keys.jobs, TRAINING_GROUP, entry_id)
            log.info("training_job_done", model_id=model_id, status=status)
