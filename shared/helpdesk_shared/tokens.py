"""The claims of the short-lived token core issues for a realtime (Socket.IO) connection.

Core signs it (HS256, ``REALTIME_TOKEN_SECRET`` shared by core and realtime); realtime verifies
signature, issuer, audience and expiry locally, without calling core.
"""

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

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

    @property
    def user_id(self) -> int:
        return int(self.sub)
