"""The ASGI application: ``uvicorn app.main:app --port 8001`` (from ``services/ai-fastapi/``).

``create_app(settings)`` builds it; the module-level ``app`` is built from the environment.

From the outside in, a request meets:

1. the kit's ``RequestContextMiddleware``: request id accepted or made, bound to every log line,
   returned in ``X-Request-ID``; metrics labelled by route template; one access log line;
2. ``StopAnsweredErrors`` (see ``app.errors``), then Starlette's ``ServerErrorMiddleware`` with
   the 500 handler: both inside the request context, so a 500 carries the request id too;
3. CORS when ``AI_CORS_ORIGINS`` is set, then the routes and the other error handlers.

The lifespan loads the default models in a thread (``/health/`` says 503 until they are in) and
makes the token verifier, the rate limiter and the model registry every request shares.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TypedDict

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from redis.asyncio import BlockingConnectionPool, Redis
from sentry_sdk.integrations.fastapi import FastApiIntegration
from sentry_sdk.integrations.logging import ignore_logger
from sentry_sdk.integrations.starlette import StarletteIntegration
from starlette.types import ASGIApp, Scope

from app import errors
from app.api import classify, health, models
from app.auth import TokenVerifier
from app.config import Settings
from app.ml.registry import Registry
from app.ml.serving import Models
from app.ml.store import LocalArtifactStore
from app.ratelimit import RateLimiter
from helpdesk_kit.asgi import (
    RequestContextMiddleware,
    route_template,
)
from helpdesk_kit.logging import configure_logging
from helpdesk_kit.request_id import HEADER
from helpdesk_kit.sentry import init_sentry

SERVICE = "ai"
REDIS_CLIENT_NAME = "helpdesk-ai"  # shows in Redis's CLIENT LIST


class State(TypedDict):
    """What the lifespan makes; each request reads it as ``request.state``."""

    redis: Redis
    settings: Settings
    store: LocalArtifactStore
    registry: Registry
    models: Models
    verifier: TokenVerifier
    limiter: RateLimiter


def make_redis(settings: Settings) -> Redis:
    """The process's one Redis client, over a bounded pool.

    A blocking pool: when all ``REDIS_POOL_SIZE`` connections are busy, a command waits up to
    ``REDIS_SOCKET_TIMEOUT`` for one to come back instead of failing at once.
    """
    pool = BlockingConnectionPool.from_url(
        str(settings.REDIS_URL),
        max_connections=settings.REDIS_POOL_SIZE,
        timeout=settings.REDIS_SOCKET_TIMEOUT,
        socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
        socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
        client_name=REDIS_CLIENT_NAME,
    )
    return Redis.from_pool(pool)  # the client owns the pool: closing one closes the other


def _lifespan(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[State]]:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        redis = make_redis(settings)  # connects lazily: a Redis that is down fails readiness
        store = LocalArtifactStore(settings.AI_MODEL_DIR)
        registry = Registry(redis, settings.AI_KEY_PREFIX)
        models = Models(
            registry,
            store,
            settings.AI_LANGUAGES,
            settings.AI_CONFIDENCE_THRESHOLD,
            settings.AI_ACTIVATION_CACHE_SECONDS,
        )
        limiter = RateLimiter(redis, settings.AI_KEY_PREFIX)
        loading = asyncio.create_task(models.load_defaults())
        try:
            yield {
                "redis": redis,
                "settings": settings,
                "store": store,
                "registry": registry,
                "models": models,
                "verifier": TokenVerifier(
                    redis, settings.HELPDESK_SERVICE_TOKEN.get_secret_value()
                ),
                "limiter": limiter,
            }
        finally:
            if not loading.done():
                loading.cancel()
            await redis.aclose()

    return lifespan


def route_label(scope: Scope) -> str:
    """The matched route's template, the ``route`` label of the HTTP metrics.

    FastAPI records its own routes in the scope (what the kit reads); the plain Starlette routes it
    adds itself, the schema and the docs page, leave only their endpoint: look that up.
    """
    label: str = route_template(scope)
    endpoint = scope.get("endpoint")
    if label == "<unmatched>" and endpoint is not None:
        for route in getattr(scope.get("app"), "routes", ()):
            if getattr(route, "endpoint", None) is endpoint and isinstance(route.path, str):
                return route.path
    return label


class _App(FastAPI):
    def build_middleware_stack(self) -> ASGIApp:
        # Outside ServerErrorMiddleware, which add_middleware cannot reach: see the module doc.
        inner = errors.StopAnsweredErrors(super().build_middleware_stack())
        stack: ASGIApp = RequestContextMiddleware(inner, route_of=route_label)
        return stack


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings if settings is not None else Settings()
    configure_logging(SERVICE, settings.LOG_LEVEL, log_file=settings.LOG_FILE)
    if init_sentry(
        settings.SENTRY_DSN,
        service=SERVICE,
        environment=settings.ENVIRONMENT,
        integrations=[StarletteIntegration(), FastApiIntegration()],
    ):
        ignore_logger(errors.LOGGER_NAME)

    app = _App(
        title="Helpdesk AI",
        version="0.1.0",
        description="Ticket classification and triage for the helpdesk.",
        openapi_url="/ai/openapi.json",
        docs_url="/ai/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,  # no OAuth2 flow to complete (yet)
        lifespan=_lifespan(settings),
    )
    errors.install_error_handlers(app)
    if settings.AI_CORS_ORIGINS:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.AI_CORS_ORIGINS,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", HEADER],
            expose_headers=[HEADER],
            max_age=600,
        )
    app.include_router(health.router)
    app.include_router(classify.router)
    app.include_router(models.router)
    return app


app = create_app()
