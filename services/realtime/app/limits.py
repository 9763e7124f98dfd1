"""Limits: a token bucket per connection for its messages, and a cap on each user's connections
across every node (a sorted set per user in Redis, members expiring unless refreshed)."""

import time
from collections.abc import Iterable
from typing import Final

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger("realtime.limits")

# Admit a connection unless the user already has ``limit`` live ones (expired ones dropped).
_ADMIT: Final = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local known = redis.call('ZSCORE', KEYS[1], ARGV[3])
if not known and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""
# Remove one connection; answer how many live ones the user still has.
_RELEASE: Final = """
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return redis.call('ZCARD', KEYS[1])
"""


class TokenBucket:
    """``rate`` messages per second on average, ``burst`` at once."""

    __slots__ = ("_burst", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class ConnectionRegistry:
    """Every node's connections per user, so that the per-user cap holds across nodes.

    A node refreshes its members every heartbeat; a node that dies leaves members that expire
    after ``ttl`` seconds. When Redis cannot be reached the cap is not enforced (logged): a
    Redis outage should not lock every dashboard out.
    """

    def __init__(self, redis: Redis, prefix: str, node: str, *, limit: int, ttl: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._node = node
        self._limit = limit
        self._ttl = ttl
        self._admit = redis.register_script(_ADMIT)
        self._release = redis.register_script(_RELEASE)

    def key(self, user_id: int) -> str:
        return f"{self._prefix}conns:user:{user_id}"

    def member(self, sid: str) -> str:
        return f"{self._node}/{sid}"

    async def admit(self, user_id: int, sid: str) -> bool:
        now = time.time()
        try:
            admitted = await self._admit(
                keys=[self.key(user_id)],
                args=[now, now + self._ttl, self.member(sid), self._limit, self._ttl * 2],
            )
        except (RedisError, OSError) as exc:
            log.warning("connection_cap_unchecked", user_id=user_id, error=str(exc))
            return True
        return bool(admitted)

    async def release(self, user_id: int, sid: str) -> int | None:
        """Remove a connection; the user's remaining count (None if Redis did not answer)."""
        try:
            remaining = await self._release(
                keys=[self.key(user_id)], args=[time.time(), self.member(sid)]
            )
        except (RedisError, OSError) as exc:
            log.warning("connection_release_failed", user_id=user_id, error=str(exc))
            return None
        return int(remaining)

    async def refresh(self, members: Iterable[tuple[int, str]]) -> None:
        expiry = time.time() + self._ttl
        async with self._redis.pipeline(transaction=False) as pipe:
            for user_id, sid in members:
                pipe.zadd(self.key(user_id), {self.member(sid): expiry}, xx=True)
                pipe.expire(self.key(user_id), self._ttl * 2)
            await pipe.execute()
