"""Operations endpoints, outside the ``/ai`` API prefix and shown in the schema under ``ops``.

- ``GET /health/``: readiness, each dependency checked with a timeout; 200 or 503, same body.
  Ready only when Redis answers and the default models are loaded.
- ``GET /health/live``: liveness, touches nothing: the process answers, that is all it says.
- ``GET /metrics``: Prometheus exposition (``http_requests_total``, latency histogram…).
"""

from collections.abc import Awaitable
from typing import Literal, cast

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from app.api.deps import ModelsDep, RedisDep
from helpdesk_kit.health import readiness
from helpdesk_kit.metrics import exposition

router = APIRouter(tags=["ops"])

READINESS_TIMEOUT_SECONDS = 2.0


class CheckResult(BaseModel):
    ok: bool
    ms: float
    error: str | None = None


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, CheckResult]


class Liveness(BaseModel):
    status: Literal["ok"]


@router.get(
    "/health/",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "A dependency is not available"}},
    summary="Readiness: can this process serve requests?",
)
async def ready(redis: RedisDep, models: ModelsDep) -> Response:
    async def redis_ping() -> None:
        await cast(Awaitable[bool], redis.ping())

    async def default_models() -> None:
        if models.classifier is None:
            raise RuntimeError(models.load_error or "the default models are still loading")

    checks = {"redis": redis_ping, "models": default_models}
    status, body = await readiness(checks, READINESS_TIMEOUT_SECONDS)
    return JSONResponse(body, status_code=status)


@router.get("/health/live", summary="Liveness: is the process up?")
async def live() -> Liveness:
    return Liveness(status="ok")


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
    summary="Prometheus metrics",
)
def metrics() -> Response:
    # A plain function, so FastAPI runs it in its thread pool: with PROMETHEUS_MULTIPROC_DIR set,
    # the exposition reads every worker's files from disk.
    body, content_type = exposition()
    return Response(body, media_type=content_type)
