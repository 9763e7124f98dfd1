"""Writes about accounts: API tokens and realtime tokens."""

import time
from collections.abc import Sequence
from datetime import datetime, timedelta

import jwt
import redis
import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from knox.models import AuthToken

from helpdesk.accounts.models import ApiTokenInfo, Availability, User
from helpdesk.common.redis import get_redis
from helpdesk_shared import (
    REALTIME_TOKEN_ALGORITHM,
    REALTIME_TOKEN_AUDIENCE,
    REALTIME_TOKEN_ISSUER,
    REALTIME_TOKEN_TTL_SECONDS,
)
from helpdesk_shared.tokens import API_TOKEN_KEY_PREFIX, ApiTokenRecord

log = structlog.get_logger(__name__)


def api_token_create(
    *,
    user: User,
    name: str = "",
    scopes: Sequence[str] = (),
    expires_in: timedelta | None = None,
) -> str:
    """A new API token for ``user``; only its digest is stored, so show it once.

    Scopes narrow what the token may do (none: everything the user's role may). Other services
    (the AI) verify it through the record published in Redis on commit (``api_token_publish``).
    """
    with transaction.atomic():
        instance, token = AuthToken.objects.create(user=user, expiry=expires_in)
        ApiTokenInfo.objects.create(token=instance, name=name, scopes=list(scopes))
        digest = instance.digest
        transaction.on_commit(lambda: api_token_publish(digest=digest))
    return str(token)


def api_token_revoke(*, token: AuthToken) -> None:
    digest = token.digest
    with transaction.atomic():
        token.delete()
        transaction.on_commit(lambda: _unpublish(digest))


def _record(token: AuthToken, info: ApiTokenInfo | None) -> ApiTokenRecord:
    user: User = token.user
    return ApiTokenRecord(
        organization_id=user.organization_id or 0,
        user_id=user.pk,
        role=user.role,
        scopes=list(info.scopes) if info and info.scopes else [],
        expires_at=token.expiry,
    )


def _ttl(expiry: datetime | None) -> int | None:
    if expiry is None:
        return None
    return max(1, int((expiry - timezone.now()).total_seconds()))


def _unpublish(digest: str) -> None:
    from helpdesk.accounts.auth import forget_token

    forget_token(digest)
    try:
        get_redis().delete(API_TOKEN_KEY_PREFIX + digest)
    except redis.RedisError as exc:
        # The record expires with the token at the latest; the next full sync removes it.
        log.error("token.unpublish_failed", error=str(exc))


def api_token_publish(*, digest: str) -> None:
    """Write (or rewrite) one token's record in Redis for services that verify tokens."""
    token = AuthToken.objects.select_related("user", "info").filter(digest=digest).first()
    if token is None or not token.user.is_active or token.user.organization_id is None:
        _unpublish(digest)
        return
    record = _record(token, getattr(token, "info", None))
    try:
        get_redis().set(
            API_TOKEN_KEY_PREFIX + digest, record.model_dump_json(), ex=_ttl(token.expiry)
        )
    except redis.RedisError as exc:
        log.error("token.publish_failed", error=str(exc))


def api_tokens_sync() -> int:
    """Publish every live token and remove records of tokens that no longer exist (run when a
    relay starts, so a Redis that lost its data, or missed a revocation, is made whole)."""
    client = get_redis()
    live: set[str] = set()
    now = timezone.now()
    tokens = AuthToken.objects.select_related("user", "info").filter(
        user__is_active=True, user__organization__isnull=False
    )
    pipe = client.pipeline(transaction=False)
    for token in tokens.iterator(chunk_size=500):
        if token.expiry is not None and token.expiry <= now:
            continue
        live.add(token.digest)
        pipe.set(
            API_TOKEN_KEY_PREFIX + token.digest,
            _record(token, getattr(token, "info", None)).model_dump_json(),
            ex=_ttl(token.expiry),
        )
    pipe.execute()
    stale = [
        key
        for key in client.scan_iter(match=API_TOKEN_KEY_PREFIX + "*", count=1000)
        if key.decode().removeprefix(API_TOKEN_KEY_PREFIX) not in live
    ]
    if stale:
        client.delete(*stale)
    return len(live)


def availability_set(*, user: User, availability: str) -> User:
    if availability not in Availability.values:
        raise ValueError(f"availability is one of {', '.join(Availability.values)}")
    user.availability = availability
    user.save(update_fields=["availability"])
    return user


def realtime_token_issue(*, user: User, now: int | None = None) -> tuple[str, int]:
    """A short-lived token for a Socket.IO connection, verified by realtime without calling us.

    Returns the token and its expiry (Unix seconds).
    """
    if user.organization_id is None:
        raise ValueError("Only members of an organization can connect to realtime.")
    issued = int(time.time()) if now is None else now
    expires = issued + REALTIME_TOKEN_TTL_SECONDS
    claims = {
        "iss": REALTIME_TOKEN_ISSUER,
        "aud": REALTIME_TOKEN_AUDIENCE,
        "sub": str(user.pk),
        "org": user.organization_id,
        "role": user.role,
        "company": user.shared_company_id,
        "iat": issued,
        "exp": expires,
    }
    token = jwt.encode(claims, settings.REALTIME_TOKEN_SECRET, algorithm=REALTIME_TOKEN_ALGORITHM)
    return token, expires
