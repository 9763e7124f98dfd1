"""The ASGI application: Socket.IO for dashboards, plain HTTP for health and metrics.

``uvicorn app.main:app`` (run from ``services/realtime``) builds the app from the environment;
tests call ``create_app(settings)``. The request-context middleware wraps everything, so every
HTTP request and WebSocket handshake carries a request id in its log lines and response.
"""

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any, Final, cast

import socketio
import structlog
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from app import metrics
from app.access import RoomAccessClient
from app.config import Settings, load_settings
from app.entries import Entry
from app.fanout import Fanout
from app.http import LIVE, METRICS, SOCKETIO_ROUTE, HttpRoutes, route_of
from app.limits import ConnectionRegistry
from app.presence import Presence
from app.replay import Replayer
from app.server import RealtimeServer
from app.sockets import Realtime
from app.stream import BLOCK_MS, StreamReader
from helpdesk_kit.asgi import RequestContextMiddleware
from helpdesk_kit.logging import configure_logging
from helpdesk_kit.sentry import init_sentry

SERVICE: Final = "realtime"
# Above this a message closes the transport (Engine.IO's limit); see REALTIME_MAX_MESSAGE_BYTES.
HARD_MESSAGE_CAP: Final = 64 * 1024
# Between SIGTERM and uvicorn closing the connections: time for "reconnect" to go out.
DRAIN_SECONDS: Final = 0.5
REDIS_CONNECT_TIMEOUT_S: Final = 2.0
# Longer than an XREAD BLOCK, so only a dead connection times out, not an idle stream.
REDIS_SOCKET_TIMEOUT_S: Final = BLOCK_MS / 1000 + 5.0
# How long a command waits for a free pooled connection before failing.
REDIS_POOL_WAIT_S: Final = 2.0

log = structlog.get_logger("realtime")


def create_redis(settings: Settings) -> Redis:
    """The process's one Redis pool.

    One quick retry absorbs a pooled connection that went stale (Redis restarted); longer
    outages are the stream reader's to ride out with its own back-off, and readiness should
    report them promptly rather than hide them behind retries.
    """
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_pool_size,
        timeout=REDIS_POOL_WAIT_S,
        decode_responses=True,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S,
        socket_timeout=REDIS_SOCKET_TIMEOUT_S,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=1),
        client_name=f"helpdesk-{SERVICE}",
    )
    return Redis.from_pool(pool)


def _library_logger(name: str, level: str) -> logging.Logger:
    """python-socketio's loggers, routed through ours (JSON) and kept quiet below WARNING.

    Passing ``logger=False`` would make the library attach its own plain-text handler.
    """
    logger = logging.getLogger(name)
    logger.setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
    return logger


def create_app(settings: Settings | None = None) -> RequestContextMiddleware:
    """Build the whole ASGI app; nothing connects to Redis before the lifespan starts."""
    settings = settings or load_settings()
    configure_logging(SERVICE, settings.log_level, log_file=settings.log_file)
    dsn = settings.sentry_dsn.get_secret_value() if settings.sentry_dsn else None
    init_sentry(dsn, service=SERVICE, environment=settings.environment)

    redis = create_redis(settings)
    sio = RealtimeServer(
        direct=settings.realtime_direct_writes,
        async_mode="asgi",
        transports=settings.transports,
        cors_allowed_origins=settings.cors_allowed_origins,
        # The token travels in the auth payload, never in cookies.
        cors_credentials=False,
        # The hard cap (the transport is closed above it); messages above
        # REALTIME_MAX_MESSAGE_BYTES but below this are answered with an error instead.
        max_http_buffer_size=max(HARD_MESSAGE_CAP, 4 * settings.realtime_max_message_bytes),
        logger=_library_logger("socketio.server", settings.log_level),
        engineio_logger=_library_logger("engineio.server", settings.log_level),
    )
    fanout = Fanout(
        sio,
        max_queued=settings.realtime_max_queued_packets,
        max_buffered=settings.realtime_max_buffered_bytes,
    )

    def deliver(entry: Entry) -> None:
        metrics.DELIVERIES.labels("live").inc(fanout.to_rooms(entry.packet, entry.rooms))

    reader = StreamReader(
        redis,
        settings.events_stream,
        deliver,
        buffer_size=settings.realtime_replay_buffer,
        batch=fanout.batch,
    )
    token = settings.helpdesk_service_token
    access = RoomAccessClient(
        settings.core_url,
        token.get_secret_value() if token else None,
        cache_seconds=settings.room_access_cache_seconds,
        timeout=settings.room_access_timeout_seconds,
    )
    prefix, node = settings.realtime_key_prefix, settings.node_id
    registry = ConnectionRegistry(
        redis,
        prefix,
        node,
        limit=settings.realtime_max_connections_per_user,
        ttl=settings.realtime_presence_ttl_seconds,
    )
    realtime: Realtime

    async def emit_presence(ticket_id: int, payload: dict[str, Any]) -> None:
        await realtime.emit_presence(ticket_id, payload)

    presence = Presence(
        redis,
        prefix,
        node,
        emit_presence,
        ttl=settings.realtime_presence_ttl_seconds,
        typing_ttl=settings.realtime_typing_ttl_seconds,
    )
    realtime = Realtime(
        sio,
        settings,
        fanout=fanout,
        replayer=Replayer(reader, fanout, max_age_s=settings.realtime_replay_max_age_seconds),
        access=access,
        registry=registry,
        presence=presence,
    )
    realtime.register()
    stopping = asyncio.Event()
    background: list[asyncio.Task[None]] = []

    async def redis_ping() -> None:
        await cast(Awaitable[bool], redis.ping())

    async def accepting() -> None:
        if realtime.draining:
            raise RuntimeError("shutting down: not accepting connections")

    routes = HttpRoutes(
        {"redis": redis_ping, "stream_reader": reader.check_alive, "accepting": accepting}
    )

    async def heartbeats() -> None:
        while not stopping.is_set():
            try:
                await realtime.heartbeat()
            except Exception as exc:
                log.warning("heartbeat_failed", error=f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    stopping.wait(), settings.realtime_presence_heartbeat_seconds
                )

    def drain() -> None:
        """SIGTERM: stop accepting, tell every client to reconnect (elsewhere), then let
        uvicorn close the connections (code 1012, "service restart") and stop."""
        if realtime.draining:
            return
        realtime.draining = True
        told = realtime.announce_shutdown(reader.last_id)
        log.info("realtime_draining", connections=told)

    async def on_startup() -> None:
        reader.start()
        background.append(asyncio.create_task(heartbeats(), name="heartbeats"))
        background.append(asyncio.create_task(presence.listen(stopping), name="presence"))
        _chain_sigterm(drain)
        log.info(
            "realtime_started",
            environment=settings.environment,
            stream=settings.events_stream,
            node=node,
            transports=settings.transports,
            cors_origins=settings.realtime_cors_origins or "same-origin",
        )

    async def on_shutdown() -> None:
        drain()
        stopping.set()
        await reader.stop()
        await realtime.cancel_tasks()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await sio.shutdown()
        await access.aclose()
        await redis.aclose()
        log.info("realtime_stopped")

    asgi = socketio.ASGIApp(
        sio, other_asgi_app=routes, on_startup=on_startup, on_shutdown=on_shutdown
    )
    return RequestContextMiddleware(
        asgi, route_of=route_of, quiet_paths=frozenset({LIVE, METRICS, SOCKETIO_ROUTE})
    )


def _chain_sigterm(drain: Callable[[], None]) -> None:
    """Run ``drain`` on SIGTERM, then, a moment later, the handler the server installed.

    uvicorn closes every WebSocket as soon as its own handler runs; the delay lets the
    ``reconnect`` message reach the clients first. Only in the main thread (signals are
    delivered there), and only over a handler that is a Python callable (uvicorn's).
    """
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):
        return
    loop = asyncio.get_running_loop()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(drain)
        loop.call_later(DRAIN_SECONDS, previous, signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)


def __getattr__(name: str) -> Any:
    """``app``, built from the environment the first time it is asked for.

    ``uvicorn app.main:app`` asks at start-up, so a bad environment still stops the process
    before it serves anything; importing this module (tests, tools) needs no environment.
    """
    if name == "app":
        application = create_app()
        globals()["app"] = application
        return application
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
