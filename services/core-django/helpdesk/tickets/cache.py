"""A short-lived cache of ticket list pages, the dashboard's most frequent read (seed C48).

Pages are stored in Redis under the organization's list version; every committed ticket write
bumps that version (``ticket_lists_changed``), so a cached page is never served after a change
it does not show. Customers get entries of their own (they see only their tickets). Without
Redis the API simply reads the database.
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


def list_page_key(*, user: User, query: str) -> str | None:
    """The key of this user's view of this page, at the current version; None without Redis."""
    try:
        version = cast(bytes | None, get_redis().get(_version_key(user.organization_id or 0)))
    except redis.RedisError:
        return None
    scope = f"requester-{user.pk}" if user.role == Role.CUSTOMER else "all"
    digest = hashlib.sha256(query.encode()).hexdigest()[:32]
    number = int(version) if version else 0
    return f"{_prefix()}:tickets:list:{user.organization_id}:{number}:{scope}:{digest}"


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
