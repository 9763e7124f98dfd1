"""The ASGI application: Socket.IO for dashboards, plain HTTP for health and metrics.

``uvicorn app.main:app`` (run from ``services/realtime``) builds the app from the environment;
tests call ``create_app(settings)``. The request-context middleware wraps everything, so every
HTTP request and WebSocket handshake carries a request id in its log lines and response.
"""

import logging
from typing import Any, Final

import socketio
import structlog
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from app.config import Settings, load_settings
from app.http import LIVE, METRICS, SOCKETIO_ROUTE, HttpRoutes, route_of
from app.sockets import ConnectionHandlers
from app.stream import BLOCK_MS, StreamReader
from helpdesk_kit.asgi import RequestContextMiddleware
from helpdesk_kit.logging import configure_logging
from helpdesk_kit.sentry import init_sentry

SERVICE: Final = "realtime"
# Clients only connect and listen; nothing they may send needs more than this.
MAX_CLIENT_MESSAGE_BYTES: Final = 64 * 1024
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
    sio = socketio.AsyncServer(
        async_mode="asgi",
        cors_allowed_origins=settings.cors_allowed_origins,
        # The token travels in the auth payload, never in cookies.
        cors_credentials=False,
        max_http_buffer_size=MAX_CLIENT_MESSAGE_BYTES,
        logger=_library_logger("socketio.server", settings.log_level),
        engineio_logger=_library_logger("engineio.server", settings.log_level),
    )
    ConnectionHandlers(sio, settings.realtime_token_secret.get_secret_value()).register()

    async def emit(event: str, data: dict[str, Any], rooms: list[str]) -> None:
        await sio.emit(event, data, to=rooms)

    reader = StreamReader(redis, settings.events_stream, emit)

    async def redis_ping() -> None:
        await redis.ping()

    routes = HttpRoutes({"redis": redis_ping, "stream_reader": reader.check_alive})

    async def on_startup() -> None:
        reader.start()
        log.info(
            "realtime_started",
            environment=settings.environment,
            stream=settings.events_stream,
            cors_origins=settings.realtime_cors_origins or "same-origin",
        )

    async def on_shutdown() -> None:
        await reader.stop()
        await sio.shutdown()
        await redis.aclose()
        log.info("realtime_stopped")

    asgi = socketio.ASGIApp(
        sio, other_asgi_app=routes, on_startup=on_startup, on_shutdown=on_shutdown
    )
    return RequestContextMiddleware(
        asgi, route_of=route_of, quiet_paths=frozenset({LIVE, METRICS, SOCKETIO_ROUTE})
    )


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
