"""A short-lived cache of ticket list pages and ticket pages, the dashboard's most frequent
reads (seed C48).

Pages are stored in Redis under the organization's version; every committed ticket write
bumps that version (``ticket_lists_changed``), so a cached page is never served after a change
it does not show. Customers get list entries of their own (they see only their tickets) and no
cached ticket pages. What changes with time alone (a ticket's SLA state) bounds an entry's life:
a ticket page lives at most until its next SLA warning or due instant. Without Redis the API
simply reads the database.
"""

import hashlib
import json
from typing import Any, cast

import redis
import structlog
from django.conf import settings
from prometheus_client import Counter

from helpdesk.accounts.models import Role, User
from helpdesk.common.redis import get_redis

TTL_SECONDS = 30
LOOKUPS = Counter(
    "helpdesk_cache_lookups_total", "Cache lookups by cache and result", ["cache", "result"]
)
log = structlog.get_logger(__name__)


VERSION_TTL_SECONDS = 86_400  # far longer than any page lives


def _prefix() -> str:
    return str(settings.CACHE_KEY_PREFIX)


def _version_key(organization_id: int) -> str:
    return f"{_prefix()}:tickets:list-version:{organization_id}"


def _versioned_key(user: User, kind: str, scope: str, rest: str) -> str | None:
    try:
        version = cast(bytes | None, get_redis().get(_version_key(user.organization_id or 0)))
    except redis.RedisError:
        return None
    number = int(version) if version else 0
    return f"{_prefix()}:tickets:{kind}:{user.organization_id}:{number}:{scope}:{rest}"


def list_page_key(*, user: User, query: str) -> str | None:
    """The key of this user's view of this page, at the current version; None without Redis."""
    scope = f"requester-{user.pk}" if user.role == Role.CUSTOMER else "all"
    digest = hashlib.sha256(query.encode()).hexdigest()[:32]
    return _versioned_key(user, "list", scope, digest)


def ticket_page_key(*, user: User, number: int) -> str | None:
    """The key of a ticket's page as staff see it (every agent, admin and bot of the
    organization sees the same page), at the organization's current version; None for
    customers (whose access is decided per ticket, by the database) and without Redis."""
    if user.role == Role.CUSTOMER:
        return None
    return _versioned_key(user, "detail", "staff", str(number))


def ticket_page_get(key: str) -> tuple[str, bytes] | None:
    """A stored ticket page: its ETag and its body, as first answered."""
    try:
        raw = cast(bytes | None, get_redis().get(key))
    except redis.RedisError:
        raw = None
    LOOKUPS.labels("ticket_detail", "hit" if raw else "miss").inc()
    if not raw:
        return None
    tag, _, body = raw.partition(b"\n")
    return tag.decode(), body


def ticket_page_put(key: str, *, etag: str, body: bytes, seconds: int) -> None:
    if seconds <= 0:
        return
    try:
        get_redis().set(key, etag.encode() + b"\n" + body, ex=min(seconds, TTL_SECONDS))
    except redis.RedisError as exc:
        log.warning("cache.put_failed", error=str(exc))


def list_page_get(key: str) -> dict[str, Any] | None:
    try:
        raw = cast(bytes | None, get_redis().get(key))
    except redis.RedisError:
        raw = None
    LOOKUPS.labels("ticket_list", "hit" if raw else "miss").inc()
    return dict(json.loads(raw)) if raw else None


def list_page_put(key: str, page: dict[str, Any]) -> None:
    try:
        get_redis().set(key, json.dumps(page, default=str), ex=TTL_SECONDS)
    except redis.RedisError as exc:
        log.warning("cache.put_failed", error=str(exc))


def page_bytes_get(key: str) -> bytes | None:
    """A stored page as the bytes first answered: served as they are (no parse, no render,
    and the same JSON, datetimes included, as the uncached answer)."""
    try:
        raw = cast(bytes | None, get_redis().get(key))
    except redis.RedisError:
        raw = None
    LOOKUPS.labels("ticket_list", "hit" if raw else "miss").inc()
    return raw


def page_bytes_put(key: str, body: bytes) -> None:
    try:
        get_redis().set(key, body, ex=TTL_SECONDS)
    except redis.RedisError as exc:
        log.warning("cache.put_failed", error=str(exc))


def ticket_lists_changed(*, organization_id: int) -> None:
    """Call on commit of any ticket write: cached pages of the organization become unreachable."""
    try:
        pipe = get_redis().pipeline()
        pipe.incr(_version_key(organization_id))
        pipe.expire(_version_key(organization_id), VERSION_TTL_SECONDS)
        pipe.execute()
    except redis.RedisError as exc:  # pages then live out their short TTL
        log.warning("cache.invalidation_failed", organization_id=organization_id, error=str(exc))
