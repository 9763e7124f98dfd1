"""Dependencies the routes declare: what the lifespan made, read from the request state."""

from typing import Annotated, cast

from fastapi import Depends, Request
from redis.asyncio import Redis


def get_redis(request: Request) -> Redis:
    """The process's one Redis client (its pool is bounded by ``REDIS_POOL_SIZE``)."""
    return cast(Redis, request.state.redis)


RedisDep = Annotated[Redis, Depends(get_redis)]
