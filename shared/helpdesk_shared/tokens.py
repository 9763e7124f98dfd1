"""The claims of the short-lived token core issues for a realtime (Socket.IO) connection.

Core signs it (HS256, ``REALTIME_TOKEN_SECRET`` shared by core and realtime); realtime verifies
signature, issuer, audience and expiry locally, without calling core.
"""

import hashlib
from typing import Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

REALTIME_TOKEN_ISSUER: Final = "helpdesk-core"  # noqa: S105 (a name, not a secret)
REALTIME_TOKEN_AUDIENCE: Final = "helpdesk-realtime"  # noqa: S105 (a name, not a secret)
REALTIME_TOKEN_ALGORITHM: Final = "HS256"  # noqa: S105 (a name, not a secret)
REALTIME_TOKEN_TTL_SECONDS: Final = 15 * 60


class RealtimeClaims(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    iss: Literal["helpdesk-core"]
    aud: Literal["helpdesk-realtime"]
    sub: str = Field(pattern=r"^[0-9]+$", description="the user's id, as a string (RFC 7519)")
    org: int = Field(description="the user's organization id")
    role: Literal["admin", "agent", "customer", "bot"]
    iat: int
    exp: int
    # A customer's company, when that company shares tickets among its people: the connection
    # may then join the company's room (its colleagues' tickets). None for everyone else.
    company: int | None = None

    @property
    def user_id(self) -> int:
        return int(self.sub)


# --- API tokens (bots and integrations), verified by other services without calling core ----
#
# Core keeps, for every live API token, a record in Redis under API_TOKEN_KEY_PREFIX + the
# token's SHA-512 digest (the same digest core stores at rest), expiring with the token. Core
# writes it when the token is created, deletes it when the token is revoked, and rewrites the
# whole set when its relay starts (so a Redis that lost its data recovers). A service that caches
# a record must not keep it longer than API_TOKEN_CACHE_SECONDS: revocation holds within a minute.

API_TOKEN_KEY_PREFIX: Final = "helpdesk:api-token:"  # noqa: S105 (a key name, not a secret)
API_TOKEN_CACHE_SECONDS: Final = 30

Scope = Literal["tickets:read", "tickets:write", "ai:classify", "ai:train"]
ALL_SCOPES: Final[tuple[Scope, ...]] = ("tickets:read", "tickets:write", "ai:classify", "ai:train")


def api_token_digest(token: str) -> str:
    """The SHA-512 hex digest by which a token is stored (never the token itself)."""
    return hashlib.sha512(token.encode("utf-8")).hexdigest()


def api_token_key(token: str) -> str:
    return API_TOKEN_KEY_PREFIX + api_token_digest(token)


class ApiTokenRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    organization_id: int
    user_id: int
    role: Literal["admin", "agent", "customer", "bot"]
    scopes: list[Scope]
    expires_at: AwareDatetime | None = None
