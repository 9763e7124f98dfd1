"""Presence: agents online or away (for core's assignment), and who views or replies to a ticket.

Ticket presence lives in Redis, one entry per connection (``<node>/<sid>`` -> ``<user>|<state>``
with an expiry score), so every node sees the same set: a node refreshes its connections'
entries each heartbeat, and entries of a node that died expire after ``ttl`` seconds. Whenever
a ticket's set changes, the node that changed it publishes the new set, with a version that
Redis increments atomically, on one pub/sub channel; every node (itself included) emits it as
``presence.changed`` to the ticket's staff room and drops versions older than one it has
already emitted. Only staff take part: a customer neither announces presence nor sees it.

Agents' presence uses the shared keys core reads (``helpdesk_shared.presence``): the heartbeat
sorted set and the chosen status.
"""

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

import orjson
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from helpdesk_shared.presence import (
    PRESENCE_TTL_SECONDS,
    AgentStatus,
    agents_seen_key,
    agents_status_key,
)

State = Literal["viewing", "typing"]
EmitLocal = Callable[[int, dict[str, Any]], Awaitable[None]]

VERSIONS_KEPT: Final = 20_000
LISTEN_POLL_S: Final = 1.0
log = structlog.get_logger("realtime.presence")

# KEYS: entries (zset: member -> expiry ms), values (hash: member -> "user|state"), version.
# ARGV: now ms, op (set | del | touch), member, value, expiry ms, key ttl s.
# Returns {0} when nothing changed, else {version, value, value, ...}.
_UPDATE: Final = """
local changed = 0
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for _, m in ipairs(expired) do redis.call('HDEL', KEYS[2], m); changed = 1 end
if #expired > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1]) end
if ARGV[2] == 'set' then
  if redis.call('HGET', KEYS[2], ARGV[3]) ~= ARGV[4] then changed = 1 end
  redis.call('ZADD', KEYS[1], ARGV[5], ARGV[3])
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
elseif ARGV[2] == 'touch' then
  if redis.call('HEXISTS', KEYS[2], ARGV[3]) == 1 then
    redis.call('ZADD', KEYS[1], ARGV[5], ARGV[3])
  end
elseif ARGV[2] == 'del' then
  if redis.call('ZREM', KEYS[1], ARGV[3]) == 1 then changed = 1 end
  redis.call('HDEL', KEYS[2], ARGV[3])
end
redis.call('EXPIRE', KEYS[1], ARGV[6]); redis.call('EXPIRE', KEYS[2], ARGV[6])
if changed == 0 then return {0} end
local version = redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], 86400)
local result = {version}
for _, v in ipairs(redis.call('HVALS', KEYS[2])) do table.insert(result, v) end
return result
"""


@dataclass
class TicketPresence:
    """One connection's presence on one ticket, as this node remembers it."""

    organization_id: int
    state: State
    typing_until: float = 0.0


def viewers_of(values: Iterable[str]) -> list[dict[str, Any]]:
    """One line per user (several tabs count once); typing wins over viewing."""
    states: dict[int, str] = {}
    for value in values:
        user, _, state = value.partition("|")
        if not user.isdigit():
            continue
        uid = int(user)
        if states.get(uid) != "typing":
            states[uid] = state
    return [{"user_id": uid, "state": states[uid]} for uid in sorted(states)]


class Presence:
    def __init__(
        self,
        redis: Redis,
        prefix: str,
        node: str,
        emit_local: EmitLocal,
        *,
        ttl: int,
        typing_ttl: float,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._node = node
        self._emit_local = emit_local
        self._ttl = ttl
        self._typing_ttl = typing_ttl
        self._update = redis.register_script(_UPDATE)
        self._versions: OrderedDict[int, int] = OrderedDict()
        self.channel = f"{prefix}presence"

    # Tickets ----------------------------------------------------------------------------------

    def _keys(self, ticket_id: int) -> list[str]:
        base = f"{self._prefix}presence:ticket:{ticket_id}"
        return [f"{base}:entries", f"{base}:values", f"{base}:version"]

    def _args(self, op: str, member: str, value: str = "") -> list[Any]:
        now_ms = int(time.time() * 1000)
        return [now_ms, op, member, value, now_ms + self._ttl * 1000, self._ttl * 2]

    def member(self, sid: str) -> str:
        return f"{self._node}/{sid}"

    async def set(
        self, sid: str, user_id: int, organization_id: int, ticket_id: int, state: State
    ) -> dict[str, Any]:
        """Record a connection's state on a ticket; the ticket's presence afterwards."""
        result = await self._update(
            keys=self._keys(ticket_id),
            args=self._args("set", self.member(sid), f"{user_id}|{state}"),
        )
        if result and int(result[0]) > 0:
            return await self._publish(organization_id, ticket_id, result)
        return await self.current(ticket_id)

    async def remove(self, sid: str, organization_id: int, ticket_id: int) -> None:
        result = await self._update(
            keys=self._keys(ticket_id), args=self._args("del", self.member(sid))
        )
        if result and int(result[0]) > 0:
            await self._publish(organization_id, ticket_id, result)

    async def current(self, ticket_id: int) -> dict[str, Any]:
        entries, values, _ = self._keys(ticket_id)
        now_ms = int(time.time() * 1000)
        live = await self._redis.zrangebyscore(entries, now_ms, "+inf")
        raw: list[Any] = (
            await cast(Awaitable[list[Any]], self._redis.hmget(values, live)) if live else []
        )
        version = await self._redis.get(self._keys(ticket_id)[2])
        return {
            "ticket_id": ticket_id,
            "version": int(version or 0),
            "viewers": viewers_of(v for v in raw if isinstance(v, str)),
        }

    async def refresh(self, entries: Iterable[tuple[str, int, int, TicketPresence]]) -> None:
        """A heartbeat: keep this node's entries alive; typing not repeated in time ends."""
        now = time.monotonic()
        batch = list(entries)
        if not batch:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for sid, user_id, ticket_id, presence in batch:
                if presence.state == "typing" and presence.typing_until <= now:
                    presence.state = "viewing"
                    args = self._args("set", self.member(sid), f"{user_id}|viewing")
                else:
                    args = self._args("touch", self.member(sid))
                await self._update(keys=self._keys(ticket_id), args=args, client=pipe)
            results = await pipe.execute()
        for (_, _, ticket_id, presence), result in zip(batch, results, strict=True):
            if result and int(result[0]) > 0:
                await self._publish(presence.organization_id, ticket_id, result)

    def typing_deadline(self) -> float:
        return time.monotonic() + self._typing_ttl

    async def _publish(
        self, organization_id: int, ticket_id: int, result: list[Any]
    ) -> dict[str, Any]:
        payload = {
            "ticket_id": ticket_id,
            "version": int(result[0]),
            "viewers": viewers_of(str(v) for v in result[1:]),
        }
        message = {"organization_id": organization_id, **payload}
        await self._redis.publish(self.channel, orjson.dumps(message))
        return payload

    # Every node: presence changes from the channel -> the ticket's staff room ------------------

    async def listen(self, stopping: asyncio.Event) -> None:
        delay = 0.1
        while not stopping.is_set():
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                delay = 0.1
                while not stopping.is_set():
                    message = await pubsub.get_message(timeout=LISTEN_POLL_S)
                    if message is not None and message.get("type") == "message":
                        await self._received(message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("presence_listen_failed", error=str(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            except Exception:
                log.exception("presence_listen_error")
                await asyncio.sleep(delay)
            finally:
                with contextlib.suppress(Exception):  # closing a broken connection
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _received(self, data: Any) -> None:
        try:
            message = orjson.loads(data)
            ticket_id = int(message["ticket_id"])
            version = int(message["version"])
        except (ValueError, KeyError, TypeError):
            log.warning("presence_message_skipped", data=str(data)[:200])
            return
        if self._versions.get(ticket_id, 0) >= version:
            return  # an older state than one already emitted
        self._versions[ticket_id] = version
        self._versions.move_to_end(ticket_id)
        while len(self._versions) > VERSIONS_KEPT:
            self._versions.popitem(last=False)
        message.pop("organization_id", None)
        await self._emit_local(ticket_id, message)

    # Agents (read by core) ---------------------------------------------------------------------

    async def agents_seen(self, agents: Iterable[tuple[int, int]]) -> None:
        """Heartbeat of the agents connected here: (organization, user) pairs."""
        now = time.time()
        by_org: dict[int, dict[str, float]] = {}
        for org, user in agents:
            by_org.setdefault(org, {})[str(user)] = now
        if not by_org:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for org, members in by_org.items():
                pipe.zadd(agents_seen_key(org), members)
                pipe.zremrangebyscore(agents_seen_key(org), "-inf", now - PRESENCE_TTL_SECONDS)
            await pipe.execute()

    async def agent_gone(self, organization_id: int, user_id: int) -> None:
        """The agent's last connection (on any node) closed: offline at once."""
        await self._redis.zrem(agents_seen_key(organization_id), str(user_id))

    async def set_status(self, organization_id: int, user_id: int, status: AgentStatus) -> None:
        await cast(
            Awaitable[int],
            self._redis.hset(agents_status_key(organization_id), str(user_id), status),
        )
