"""Per-token rate limits in Redis, fixed windows, shared by every replica.

One round trip per request on the process's shared Redis pool: for each limit a pipeline of
``INCR <key>`` and ``EXPIRE <key> <period> NX`` (the window starts at its first hit and Redis ends
it; no replica's clock is involved). A request is refused when any counter is over its amount;
only then is a second round trip made, for the ``TTL`` that becomes ``Retry-After``. Counters go
up on refused requests too (as in the ``limits`` package's fixed windows): a client that keeps
hammering stays throttled until it waits out the window.

The notation is the ``limits`` package's (``"100/second"``, ``"6000/minute;200/second"``), parsed
once per setting.
"""

from dataclasses import dataclass
from functools import lru_cache

from limits import parse_many
from redis.asyncio import Redis


@dataclass(frozen=True)
class Limit:
    amount: int
    seconds: int
    name: str  # "100/1second": part of the key, so that two limits never share a counter


class RateLimiter:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = f"{prefix}ratelimit:"

    async def hit(self, limits: tuple[Limit, ...], key: str) -> int | None:
        """None when allowed; otherwise the seconds to wait (for ``Retry-After``)."""
        keys = [f"{self.prefix}{limit.name}:{key}" for limit in limits]
        async with self.redis.pipeline(transaction=False) as pipe:
            for redis_key, limit in zip(keys, limits, strict=True):
                pipe.incr(redis_key)
                pipe.expire(redis_key, limit.seconds, nx=True)
            replies = await pipe.execute()
        counts = replies[::2]
        over = [k for k, limit, n in zip(keys, limits, counts, strict=True) if n > limit.amount]
        if not over:
            return None
        async with self.redis.pipeline(transaction=False) as pipe:
            for redis_key in over:
                pipe.ttl(redis_key)
            ttls = await pipe.execute()
        # A TTL of -2 (the window just ended) or -1 (no expiry: cannot follow EXPIRE NX) means 1.
        return max(1, *(int(t) for t in ttls))


@lru_cache(maxsize=32)
def parse(limits: str) -> tuple[Limit, ...]:
    items = parse_many(limits)
    return tuple(
        Limit(
            item.amount, item.get_expiry(), f"{item.amount}/{item.multiples}{item.GRANULARITY.name}"
        )
        for item in items
    )
