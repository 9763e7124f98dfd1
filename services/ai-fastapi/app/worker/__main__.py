"""``python -m app.worker`` (from services/ai-fastapi): triage consumer and training jobs.

Settings from the environment, as for the API (``.env.example``). ``--only triage`` or
``--only training`` runs one of the two. SIGTERM/SIGINT: the current entry finishes (or stays
pending for the next start), then the process exits.
"""

import argparse
import asyncio
import contextlib
import multiprocessing
import signal
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.config import Settings
from app.ml.classifier import CategoryModel, Classifier
from app.ml.defaults import load_or_train
from app.ml.language import LanguageModel
from app.ml.registry import Registry
from app.ml.serving import Models
from app.ml.store import LocalArtifactStore
from app.worker.training import training_loop
from app.worker.triage import TriageConsumer, http_poster
from helpdesk_kit.logging import configure_logging

log = structlog.stdlib.get_logger("app.worker")

BACKOFF_MAX_SECONDS = 10.0


async def resilient(name: str, start: Callable[[], Awaitable[None]], stop: asyncio.Event) -> None:
    """Run a loop until ``stop``; when Redis (or the network) fails under it, wait and start
    it again instead of dying: entries not yet acknowledged stay pending and are taken up
    again, so an outage delays triage and training but loses nothing."""
    delay = 0.5
    while not stop.is_set():
        try:
            await start()
            return
        except (RedisError, OSError) as exc:
            log.warning("worker_loop_failed", loop=name, error=repr(exc), retry_in=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, BACKOFF_MAX_SECONDS)


async def serve(settings: Settings, only: str | None) -> None:
    # Blocking reads wait up to 2 s: the socket timeout must be longer than that.
    redis = Redis.from_url(
        str(settings.REDIS_URL),
        socket_timeout=settings.REDIS_SOCKET_TIMEOUT + 5,
        socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
        client_name="helpdesk-ai-worker",
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks: list[asyncio.Task[None]] = []
    executor = ProcessPoolExecutor(
        settings.AI_TRAINING_PROCESSES, mp_context=multiprocessing.get_context("spawn")
    )
    try:
        if only in (None, "training"):
            tasks.append(
                asyncio.create_task(
                    resilient(
                        "training", lambda: training_loop(redis, settings, executor, stop), stop
                    )
                )
            )
        if only in (None, "triage"):
            store = LocalArtifactStore(settings.AI_MODEL_DIR)
            registry = Registry(redis, settings.AI_KEY_PREFIX)
            models = Models(
                registry, store, settings.AI_LANGUAGES, settings.AI_CONFIDENCE_THRESHOLD, 0
            )
            bundle = await asyncio.to_thread(load_or_train, store)
            language = LanguageModel(settings.AI_LANGUAGES)
            classifier = Classifier(bundle, language, settings.AI_CONFIDENCE_THRESHOLD)
            models.classifier, models.bundle = classifier, bundle

            async def model_for(organization_id: int) -> CategoryModel | None:
                try:
                    return await models.category_model(organization_id, None)
                except Exception as exc:  # an unusable active model: triage with the default
                    log.error("triage_model_unavailable", org=organization_id, error=repr(exc))
                    return None

            consumer = TriageConsumer(redis, settings, classifier, model_for, http_poster(settings))
            tasks.append(asyncio.create_task(resilient("triage", lambda: consumer.run(stop), stop)))
        log.info("ai_worker_started", tasks=only or "triage+training")
        stopped = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([*tasks, stopped], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopped and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        stop.set()
        await asyncio.wait(tasks, timeout=15)
    finally:
        for task in tasks:
            task.cancel()
        executor.shutdown(wait=False, cancel_futures=True)
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m app.worker")
    parser.add_argument("--only", choices=("triage", "training"))
    args = parser.parse_args()
    settings = Settings()
    configure_logging("ai-worker", settings.LOG_LEVEL, log_file=settings.LOG_FILE)
    asyncio.run(serve(settings, args.only))


if __name__ == "__main__":
    main()
