"""Rate limits of the API, kept in Redis (the ``limits`` library, fixed windows), so that every
worker and every replica counts together.

Each API call counts against its caller (API token, or signed-in session) and its client
address; login attempts against the address and the email tried (seed C15: 5 per minute, in the
app as well as in nginx). Answers carry ``RateLimit-Limit``, ``RateLimit-Remaining`` and
``RateLimit-Reset`` (draft-ietf-httpapi-ratelimit-headers); a refused call gets 429 in the one
error shape with ``Retry-After``. Without Redis, calls are let through (and it is logged):
the gateway's limits still hold.
"""

import hashlib
import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import structlog
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from limits import RateLimitItem, parse
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter

from helpdesk.common.redis import get_redis
from helpdesk_kit.errors import error_body
from helpdesk_kit.request_id import current_request_id

log = structlog.get_logger(__name__)


@cache
def _trusted(
    networks: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(n.strip(), strict=False) for n in networks if n.strip())


def _is_trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in _trusted(tuple(settings.RATE_LIMIT_TRUSTED_PROXIES)))


@cache
def _limiter() -> FixedWindowRateLimiter:
    pool = get_redis().connection_pool
    storage = RedisStorage(
        settings.REDIS_URL,
        connection_pool=pool,
        key_prefix="ratelimit",
        wrap_exceptions=True,
    )
    return FixedWindowRateLimiter(storage)


@cache
def _item(spec: str) -> RateLimitItem:
    return parse(spec)


def client_address(request: HttpRequest) -> str:
    """The client's address. From a trusted proxy: the gateway's X-Real-IP (nginx resolved the
    load balancer's header itself), else the nearest X-Forwarded-For hop that is not itself a
    trusted proxy (a load balancer in front of core). From anyone else: the peer's address, so
    a client cannot choose the address it is counted under."""
    peer = request.META.get("REMOTE_ADDR", "")
    if not _is_trusted(peer):
        return peer or "unknown"
    real = request.META.get("HTTP_X_REAL_IP", "").strip()
    try:
        if real:
            return str(ipaddress.ip_address(real))
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        for hop in reversed([h for h in hops if h]):
            if not _is_trusted(hop):
                return str(ipaddress.ip_address(hop))
    except ValueError:
        pass
    return peer or "unknown"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int


def check(spec: str, *identifiers: str) -> Verdict | None:
    """Count one hit against ``spec`` for ``identifiers``; None when Redis cannot answer."""
    item = _item(spec)
    limiter = _limiter()
    try:
        allowed = limiter.hit(item, settings.CACHE_KEY_PREFIX, *identifiers)
        stats = limiter.get_window_stats(item, settings.CACHE_KEY_PREFIX, *identifiers)
    except Exception as exc:  # limits wraps every storage error in its own StorageError
        log.warning("ratelimit.unavailable", error=str(exc))
        return None
    reset = max(0, math.ceil(stats.reset_time - time.time()))
    return Verdict(allowed, item.amount, max(0, stats.remaining), reset)


def _headers(response: HttpResponse, verdict: Verdict) -> None:
    response["RateLimit-Limit"] = str(verdict.limit)
    response["RateLimit-Remaining"] = str(verdict.remaining)
    response["RateLimit-Reset"] = str(verdict.reset_seconds)


def too_many(verdict: Verdict, message: str) -> JsonResponse:
    response = JsonResponse(error_body("rate_limited", message, current_request_id()), status=429)
    _headers(response, verdict)
    response["Retry-After"] = str(max(1, verdict.reset_seconds))
    return response


def _caller(request: HttpRequest) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header.startswith("Bearer "):
        return "token:" + _digest(header[7:])
    session = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if session:
        return "session:" + _digest(session)
    return None


class RateLimitMiddleware:
    """Limits /api/ calls per caller and per client address (the stricter answer wins)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not settings.RATE_LIMITS_ENABLED or not request.path.startswith("/api/"):
            return self.get_response(request)
        if request.path.startswith("/api/v1/internal/"):
            return self.get_response(request)  # other services of the deployment
        verdicts = []
        caller = _caller(request)
        if caller is not None:
            verdicts.append(check(settings.API_RATE_LIMIT, "api", caller))
        verdicts.append(check(settings.API_IP_RATE_LIMIT, "api-ip", client_address(request)))
        known = [v for v in verdicts if v is not None]
        tightest = min(known, key=lambda v: (v.allowed, v.remaining), default=None)
        if tightest is not None and not tightest.allowed:
            return too_many(tightest, "Too many requests; slow down and retry after a while.")
        response = self.get_response(request)
        if tightest is not None and "RateLimit-Limit" not in response:
            _headers(response, tightest)
        return response


def login_check(request: HttpRequest, email: str) -> Verdict | None:
    """Count a login attempt; the tighter of the per-address and per-account limits."""
    address = check(settings.LOGIN_RATE_LIMIT, "login-ip", client_address(request))
    account = check(settings.LOGIN_RATE_LIMIT, "login-account", _digest(email.strip().lower()))
    known = [v for v in (address, account) if v is not None]
    return min(known, key=lambda v: (v.allowed, v.remaining), default=None)
