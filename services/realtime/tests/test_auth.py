"""Token verification: only core's HS256 tokens for this audience, unexpired, with all claims."""

import time
from typing import Any

import jwt
import pytest

from app.auth import TokenExpired, TokenInvalid, TokenMissing, verify_token
from tests.support import SECRET, claims, make_token


def test_valid_token_gives_the_claims() -> None:
    verified = verify_token(make_token(sub="42", org=3, role="admin"), SECRET)
    assert verified.user_id == 42
    assert verified.org == 3
    assert verified.role == "admin"


def test_expired_token_is_refused_as_expired() -> None:
    now = int(time.time())
    with pytest.raises(TokenExpired) as caught:
        verify_token(make_token(iat=now - 600, exp=now - 60), SECRET)
    assert caught.value.code == "token_expired"


def test_a_few_seconds_of_clock_drift_are_tolerated() -> None:
    now = int(time.time())
    assert verify_token(make_token(iat=now - 300, exp=now - 3), SECRET).user_id == 7


def test_wrong_signature_is_invalid() -> None:
    forged = make_token(secret="another-secret-that-is-long-enough-0123456789")
    with pytest.raises(TokenInvalid) as caught:
        verify_token(forged, SECRET)
    assert caught.value.code == "invalid_token"


@pytest.mark.parametrize(
    ("claim", "value"),
    [("aud", "helpdesk-ai"), ("iss", "someone-else")],
)
def test_wrong_audience_or_issuer_is_invalid(claim: str, value: str) -> None:
    with pytest.raises(TokenInvalid):
        verify_token(make_token(**{claim: value}), SECRET)


def test_alg_none_is_refused() -> None:
    unsigned = jwt.encode(claims(), None, algorithm="none")
    with pytest.raises(TokenInvalid):
        verify_token(unsigned, SECRET)


def test_other_hmac_algorithm_is_refused() -> None:
    with pytest.raises(TokenInvalid):
        verify_token(make_token(secret=SECRET * 2, algorithm="HS512"), SECRET * 2)


@pytest.mark.parametrize("missing", ["exp", "iat", "iss", "aud", "sub", "org", "role"])
def test_missing_claim_is_invalid(missing: str) -> None:
    dropped: dict[str, Any] = {missing: None}
    with pytest.raises(TokenInvalid):
        verify_token(make_token(**dropped), SECRET)


@pytest.mark.parametrize(("claim", "value"), [("sub", "not-a-number"), ("role", "root")])
def test_malformed_claim_is_invalid(claim: str, value: str) -> None:
    with pytest.raises(TokenInvalid):
        verify_token(make_token(**{claim: value}), SECRET)


def test_garbage_is_invalid_and_empty_is_missing() -> None:
    with pytest.raises(TokenInvalid):
        verify_token("not.a.jwt", SECRET)
    with pytest.raises(TokenMissing) as caught:
        verify_token("", SECRET)
    assert caught.value.code == "token_missing"
