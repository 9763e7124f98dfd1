"""One Redis connection pool per process (seed C02), sized by ``REDIS_POOL_SIZE``.

Made lazily so that importing the app never needs Redis; gunicorn workers are forked before
the first request, so each worker gets its own pool.
"""

from functools import cache

import redis
from django.conf import settings


@cache
def get_redis() -> "redis.Redis":
    return redis.Redis.from_url(
        settings.REDIS_URL,
        max_connections=settings.REDIS_POOL_SIZE,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=30,
    )
