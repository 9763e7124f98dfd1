"""Dependencies the routes declare: what the lifespan made, read from the request state.

All ``async def``: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop per
dependency per request for what is an attribute read. ``classifier_principal`` and
``read_json`` are also called directly by ``POST /ai/v1/classify``, which takes the ``Request``
alone: see ``app.api.classify``.
"""

from typing import Annotated, TypeVar, cast

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis

from app.auth import ORGANIZATION_HEADER, Principal, TokenVerifier, require
from app.config import Settings
from app.errors import ApiError
from app.ml.registry import Registry
from app.ml.serving import Models
from app.ml.store import ArtifactStore
from app.ratelimit import RateLimiter, parse

M = TypeVar("M", bound=BaseModel)


async def get_redis(request: Request) -> Redis:
    """The process's one Redis client (its pool is bounded by ``REDIS_POOL_SIZE``)."""
    return cast(Redis, request.state.redis)


async def get_models(request: Request) -> Models:
    return cast(Models, request.state.models)


async def get_registry(request: Request) -> Registry:
    return cast(Registry, request.state.registry)


async def get_store(request: Request) -> ArtifactStore:
    return cast(ArtifactStore, request.state.store)


async def get_settings(request: Request) -> Settings:
    return cast(Settings, request.state.settings)


RedisDep = Annotated[Redis, Depends(get_redis)]
ModelsDep = Annotated[Models, Depends(get_models)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
StoreDep = Annotated[ArtifactStore, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def _principal(request: Request, limits: str) -> Principal:
    verifier = cast(TokenVerifier, request.state.verifier)
    principal = await verifier.principal(
        request.headers.get("authorization"), request.headers.get(ORGANIZATION_HEADER)
    )
    if principal.rate_key is not None:
        limiter = cast(RateLimiter, request.state.limiter)
        wait = await limiter.hit(parse(limits), principal.rate_key)
        if wait is not None:
            raise ApiError(
                429,
                "throttled",
                f"Request was throttled. Expected available in {wait} seconds.",
                headers={"Retry-After": str(wait)},
            )
    return principal


async def classifier_principal(request: Request) -> Principal:
    principal = await _principal(request, cast(Settings, request.state.settings).AI_RATE_LIMIT)
    require(principal, "ai:classify")
    return principal


async def trainer_principal(request: Request) -> Principal:
    principal = await _principal(request, cast(Settings, request.state.settings).AI_RATE_LIMIT)
    require(principal, "ai:train")
    return principal


async def training_principal(request: Request) -> Principal:
    """Starting a training: the stricter ``AI_TRAIN_RATE_LIMIT`` on top of the usual one."""
    settings = cast(Settings, request.state.settings)
    principal = await _principal(
        request, f"{settings.AI_RATE_LIMIT};{settings.AI_TRAIN_RATE_LIMIT}"
    )
    require(principal, "ai:train")
    return principal


async def read_json(request: Request, model: type[M]) -> M:
    """The body validated as ``model``, with the errors FastAPI would give for a body parameter.

    Not JSON (or not UTF-8): 400 ``parse_error``; JSON that does not fit: 422 with the fields.
    """
    raw = await request.body()
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        for error in errors:
            if error["type"] == "json_invalid":
                reason = error.get("ctx", {}).get("error", "invalid JSON")
                raise ApiError(
                    400, "parse_error", f"The request body is not valid JSON: {reason}."
                ) from None
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in errors]
        ) from None


ClassifierDep = Annotated[Principal, Depends(classifier_principal)]
TrainerDep = Annotated[Principal, Depends(trainer_principal)]
TrainingDep = Annotated[Principal, Depends(training_principal)]
