"""Per-token rate limits in Redis (the ``limits`` package, fixed windows), shared by replicas."""

import math
import time
from functools import lru_cache

from limits import RateLimitItem, parse_many
from limits.aio.storage import RedisStorage
from limits.aio.strategies import FixedWindowRateLimiter


class RateLimiter:
    def __init__(self, redis_url: str, prefix: str) -> None:
        url = redis_url.replace("redis://", "async+redis://", 1).replace(
            "rediss://", "async+rediss://", 1
        )
        self.storage = RedisStorage(url, implementation="redispy", key_prefix=f"{prefix}ratelimit")
        self.limiter = FixedWindowRateLimiter(self.storage)

    async def hit(self, items: tuple[RateLimitItem, ...], key: str) -> int | None:
        """None when allowed; otherwise the seconds to wait (for ``Retry-After``)."""
        for item in items:
            if not await self.limiter.hit(item, key):
                stats = await self.limiter.get_window_stats(item, key)
                return max(1, math.ceil(stats.reset_time - time.time()))
        return None


@lru_cache(maxsize=32)
def parse(limits: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(limits))
