"""Bearer API tokens (personal tokens and bot keys), hashed at rest by django-rest-knox."""

import hashlib
import time
from datetime import timedelta
from typing import Any

import redis
from django.http import HttpRequest
from django.utils import timezone
from knox.auth import TokenAuthentication
from rest_framework import exceptions

from helpdesk.accounts.models import ApiTokenInfo
from helpdesk.common.redis import get_redis
from helpdesk_shared.tokens import API_TOKEN_CACHE_SECONDS, api_token_key

# Tokens this worker verified lately: sha256(header) -> (until, user, token, info). Verifying
# costs two queries (knox's token and user, and the scopes) that were most of a cached list's
# time. A verification is reused only while the token's record is still in Redis (revocation
# deletes it), looked at no more than once every RECHECK_SECONDS per token (a Redis round trip
# on every request was a third of a cached page's time): a revocation holds at once in the
# worker that made it and within RECHECK_SECONDS in every other; and for
# API_TOKEN_CACHE_SECONDS at most (a deactivated user, or changed scopes, within that bound, as
# in the services that read the records). Without Redis every request is verified in the
# database.
_VERIFIED: dict[bytes, tuple[float, Any, Any, ApiTokenInfo | None]] = {}
_VERIFIED_MAX = 10_000
RECHECK_SECONDS = 1.0
_CONFIRMED: dict[bytes, float] = {}  # sha256(header) -> when its record was last seen


def forget_token(digest: str) -> None:
    """Drop this worker's verifications of a token (knox digest) at once: it was revoked."""
    for key, (_, _, token, _) in list(_VERIFIED.items()):
        if getattr(token, "digest", None) == digest:
            _VERIFIED.pop(key, None)
            _CONFIRMED.pop(key, None)


class BearerTokenAuthentication(TokenAuthentication):  # type: ignore[misc]
    """knox's authentication, refusing users that belong to no organization.

    Every API call is scoped to the caller's organization; a token of a platform superuser
    without one has no tenant to act in.
    """

    def authenticate(self, request: HttpRequest) -> tuple[Any, Any] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        key = hashlib.sha256(header.encode()).digest()
        now = time.monotonic()
        hit = _VERIFIED.get(key) if header else None
        if hit is not None and hit[0] > now and _still_published(header, key, now):
            request._token_info = hit[3]  # type: ignore[attr-defined]  # for token_scopes
            return hit[1], hit[2]
        result = super().authenticate(request)
        if result is not None and result[0].organization_id is None:
            raise exceptions.AuthenticationFailed("This account belongs to no organization.")
        if result is not None:
            info = ApiTokenInfo.objects.filter(token_id=result[1].digest).first()
            _record_use(info)
            request._token_info = info  # type: ignore[attr-defined]  # for token_scopes
            if len(_VERIFIED) >= _VERIFIED_MAX:
                _VERIFIED.clear()
                _CONFIRMED.clear()
            _VERIFIED[key] = (now + API_TOKEN_CACHE_SECONDS, result[0], result[1], info)
            _CONFIRMED.pop(key, None)
        return result  # type: ignore[no-any-return]

    def _cleanup_token(self, auth_token: Any) -> bool:
        """Refuse (and delete) this token if it expired.

        knox also sweeps every other token of the user on every request: one more query per
        API call for work that belongs in a periodic job, not on the hot path.
        """
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False


LAST_USED_RESOLUTION = timedelta(minutes=1)


def _record_use(info: ApiTokenInfo | None) -> None:
    """Keep the token's last-used time, to the minute (one UPDATE a minute at most)."""
    if info is None:
        return
    now = timezone.now()
    if info.last_used_at is None or now - info.last_used_at > LAST_USED_RESOLUTION:
        ApiTokenInfo.objects.filter(pk=info.pk).update(last_used_at=now)
        info.last_used_at = now


def _still_published(header: str, key: bytes, now: float) -> bool:
    if now - _CONFIRMED.get(key, -RECHECK_SECONDS) < RECHECK_SECONDS:
        return True
    token = header.split(" ", 1)[1].strip() if " " in header else ""
    try:
        published = bool(token) and bool(get_redis().exists(api_token_key(token)))
    except redis.RedisError:
        published = False
    if published:
        _CONFIRMED[key] = now
    return published
