"""Writes about accounts: API tokens and realtime tokens."""

import time

import jwt
from django.conf import settings
from knox.models import AuthToken

from helpdesk.accounts.models import User
from helpdesk_shared import (
    REALTIME_TOKEN_ALGORITHM,
    REALTIME_TOKEN_AUDIENCE,
    REALTIME_TOKEN_ISSUER,
    REALTIME_TOKEN_TTL_SECONDS,
)


def api_token_create(*, user: User) -> str:
    """A new personal API token for ``user``; only its digest is stored, so show it once."""
    _instance, token = AuthToken.objects.create(user=user)
    return str(token)


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
        "iat": issued,
        "exp": expires,
    }
    token = jwt.encode(claims, settings.REALTIME_TOKEN_SECRET, algorithm=REALTIME_TOKEN_ALGORITHM)
    return token, expires
