"""Who is calling: API tokens that core issues, checked against Redis without calling core.

Core keeps an ``ApiTokenRecord`` for every live token under ``api_token_key(token)`` (see
``helpdesk_shared.tokens``), deletes it on revocation and lets it expire with the token. A replica
keeps what it read for at most ``API_TOKEN_CACHE_SECONDS`` (30 s), so a revocation holds within
that; an unknown token is remembered for 5 s only (a new token works almost at once, a flood of
bad ones does not reach Redis on every request).

The service credential (``HELPDESK_SERVICE_TOKEN``) acts for any organization and must name the
one it acts for in the ``X-Organization-ID`` header. It is not rate limited.
"""

import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError
from redis.asyncio import Redis

from app.errors import ApiError
from helpdesk_shared.tokens import (
    API_TOKEN_CACHE_SECONDS,
    ApiTokenRecord,
    Scope,
    api_token_digest,
    api_token_key,
)

ORGANIZATION_HEADER = "X-Organization-ID"
NEGATIVE_CACHE_SECONDS = 5.0
CACHE_MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class Principal:
    organization_id: int
    scopes: frozenset[str]
    rate_key: str | None  # None: not rate limited (the service credential)
    user_id: int | None = None
    service: bool = False


class TokenVerifier:
    def __init__(self, redis: Redis, service_token: str) -> None:
        self.redis = redis
        self.service_token = service_token.encode()
        self._cache: dict[str, tuple[float, ApiTokenRecord | None]] = {}

    async def principal(self, authorization: str | None, organization: str | None) -> Principal:
        token = _bearer(authorization)
        if self.service_token and hmac.compare_digest(token.encode(), self.service_token):
            return self._service(organization)
        digest = api_token_digest(token)
        record = await self._record(token, digest)
        if record is None:
            raise ApiError(401, "authentication_failed", "Invalid or revoked token.")
        if record.expires_at is not None and record.expires_at <= datetime.now(UTC):
            raise ApiError(401, "authentication_failed", "The token has expired.")
        return Principal(
            organization_id=record.organization_id,
            scopes=frozenset(record.scopes),
            rate_key=digest,
            user_id=record.user_id,
        )

    def _service(self, organization: str | None) -> Principal:
        if organization is None or not organization.strip().isdigit():
            raise ApiError(
                400,
                "organization_required",
                f"The service credential must name the organization in {ORGANIZATION_HEADER}.",
            )
        return Principal(
            organization_id=int(organization),
            scopes=frozenset(("ai:classify", "ai:train")),
            rate_key=None,
            service=True,
        )

    async def _record(self, token: str, digest: str) -> ApiTokenRecord | None:
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        raw = await self.redis.get(api_token_key(token))
        record: ApiTokenRecord | None = None
        if raw:
            try:
                record = ApiTokenRecord.model_validate_json(raw)
            except ValidationError:
                record = None  # unreadable: treated as unknown, never as valid
        ttl = API_TOKEN_CACHE_SECONDS if record else NEGATIVE_CACHE_SECONDS
        if len(self._cache) >= CACHE_MAX_ENTRIES:
            self._cache.clear()
        self._cache[digest] = (now + ttl, record)
        return record


def require(principal: Principal, scope: Scope) -> None:
    if scope not in principal.scopes:
        raise ApiError(403, "permission_denied", f"This token lacks the scope {scope!r}.")


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise ApiError(401, "not_authenticated", "Authentication credentials were not provided.")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 512:
        raise ApiError(401, "authentication_failed", "Use 'Authorization: Bearer <token>'.")
    return token
