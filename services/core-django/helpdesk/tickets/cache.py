"""A short-lived cache of ticket list pages and ticket pages, the dashboard's most frequent
reads (seed C48).

Pages are stored in Redis under the organization's version; every committed ticket write
bumps that version (``ticket_lists_changed``), so a cached page is never served after a change
it does not show. Customers get list entries of their own (they see only their tickets) and no
cached ticket pages. What changes with time alone (a ticket's SLA state) bounds an entry's life:
a ticket page lives at most until its next SLA warning or due instant. Without Redis the API
simply reads the database.
"""

import functools
import hashlib
import json
from typing import Any

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


# One round trip for a versioned page: read the organization's version, build the page's key
# from it and read the page. Returns the key (where a fresh page is stored) and the page or nil.
# (The page's key is derived inside the script: fine on a single Redis or a replication group,
# as deployed; Redis Cluster would need the keys to share a hash slot.)
_LOOKUP = """
local version = redis.call('GET', KEYS[1]) or '0'
local key = ARGV[1] .. version .. ARGV[2]
return {key, redis.call('GET', key)}
"""


@functools.cache
def _lookup_script() -> Any:
    return get_redis().register_script(_LOOKUP)


def _lookup(user: User, kind: str, scope: str, rest: str) -> tuple[str | None, bytes | None]:
    organization_id = user.organization_id or 0
    head = f"{_prefix()}:tickets:{kind}:{organization_id}:"
    try:
        key, raw = _lookup_script()(
            keys=[_version_key(organization_id)], args=[head, f":{scope}:{rest}"]
        )
    except redis.RedisError:
        return None, None
    return key.decode(), raw or None


def list_page_lookup(*, user: User, query: str) -> tuple[str | None, bytes | None]:
    """This user's view of this list page: its key at the current version (None without
    Redis) and the page's bytes as first answered, if stored (one round trip)."""
    scope = f"requester-{user.pk}" if user.role == Role.CUSTOMER else "all"
    digest = hashlib.sha256(query.encode()).hexdigest()[:32]
    key, raw = _lookup(user, "list", scope, digest)
    if key is not None:
        LOOKUPS.labels("ticket_list", "hit" if raw else "miss").inc()
    return key, raw


def ticket_page_lookup(*, user: User, number: int) -> tuple[str | None, tuple[str, bytes] | None]:
    """A ticket's page as staff see it (every agent, admin and bot of the organization sees the
    same page): its key at the organization's current version and, if stored, its ETag and
    body (one round trip). No key for customers (whose access is decided per ticket, by the
    database) and without Redis."""
    if user.role == Role.CUSTOMER:
        return None, None
    key, raw = _lookup(user, "detail", "staff", str(number))
    if key is None:
        return None, None
    LOOKUPS.labels("ticket_detail", "hit" if raw else "miss").inc()
    if not raw:
        return key, None
    tag, _, body = raw.partition(b"\n")
    return key, (tag.decode(), body)


def ticket_page_put(key: str, *, etag: str, body: bytes, seconds: int) -> None:
    """Store a ticket page for ``seconds`` (capped at ``TTL_SECONDS``; not at all when 0)."""
    if seconds > 0:
        _put(key, etag.encode() + b"\n" + body, min(seconds, TTL_SECONDS))


def document_lookup(*, user: User, name: str) -> tuple[str | None, dict[str, Any] | None]:
    """A JSON document cached for this user's view (the dashboard's counters, reports) under
    the organization's version: its key, and the document if stored (one round trip)."""
    key, raw = list_page_lookup(user=user, query=name)
    return key, (dict(json.loads(raw)) if raw else None)


def document_put(key: str, document: dict[str, Any]) -> None:
    _put(key, json.dumps(document, default=str).encode(), TTL_SECONDS)


def list_page_put(key: str, body: bytes) -> None:
    _put(key, body, TTL_SECONDS)


def _put(key: str, value: bytes, seconds: int) -> None:
    try:
        get_redis().set(key, value, ex=seconds)
    except redis.RedisError as exc:  # the next reader computes it again
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
