"""Verification of the short-lived token core issues for a realtime connection.

Realtime never calls core to authenticate: core signs the token with the secret both share
(HS256) and realtime checks it locally. Only HS256 is accepted, whatever the token's header
says, so neither ``none`` nor an algorithm confusion gets through. The reasons a token is
refused are distinct so that a client can tell "get a new token" (expired) from "give up"
(invalid).
"""

from typing import Any, Final

import jwt
from pydantic import ValidationError

from helpdesk_shared import (
    REALTIME_TOKEN_ALGORITHM,
    REALTIME_TOKEN_AUDIENCE,
    REALTIME_TOKEN_ISSUER,
    RealtimeClaims,
)

# Clock drift tolerated between core (which stamps iat/exp) and this process.
LEEWAY_SECONDS: Final = 10
REQUIRED_CLAIMS: Final = ("exp", "iat", "iss", "aud", "sub")


class TokenError(Exception):
    """A token was refused; ``code`` is stable and machine-readable, the message is for people."""

    code: str = "invalid_token"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TokenMissing(TokenError):
    code = "token_missing"


class TokenExpired(TokenError):
    code = "token_expired"


class TokenInvalid(TokenError):
    code = "invalid_token"


def verify_token(token: str, secret: str, *, leeway: float = LEEWAY_SECONDS) -> RealtimeClaims:
    """The claims of a valid token; raise a ``TokenError`` subclass otherwise."""
    if not token:
        raise TokenMissing("a realtime token is required")
    try:
        payload: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[REALTIME_TOKEN_ALGORITHM],
            audience=REALTIME_TOKEN_AUDIENCE,
            issuer=REALTIME_TOKEN_ISSUER,
            leeway=leeway,
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.ExpiredSignatureError:
        raise TokenExpired("the realtime token has expired; ask core for a new one") from None
    except jwt.InvalidTokenError as exc:
        # The library's message says which check failed; it reveals nothing about the secret.
        raise TokenInvalid(f"the realtime token is invalid: {exc}") from None
    try:
        return RealtimeClaims.model_validate(payload)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in err["loc"]) for err in exc.errors()})
        raise TokenInvalid(
            f"the realtime token's claims are malformed: {', '.join(fields)}"
        ) from None
