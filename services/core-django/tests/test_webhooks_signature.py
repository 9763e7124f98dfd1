"""The signature scheme (Standard Webhooks) and the verification helper receivers copy."""

import base64

import pytest

from helpdesk.webhooks.signing import secret_generate, signed_headers
from helpdesk.webhooks.verify import WebhookVerificationError, sign, verify_signature

# The published Standard Webhooks test vector: reproducing it shows that receivers' existing
# libraries (standardwebhooks, svix) accept what we send, not merely that we agree with ourselves.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def _headers(
    signature: str = VECTOR_SIGNATURE, timestamp: int = VECTOR_TIMESTAMP
) -> dict[str, str]:
    return {
        "Webhook-Id": VECTOR_ID,
        "Webhook-Timestamp": str(timestamp),
        "Webhook-Signature": signature,
    }


def test_signatures_match_the_standard_webhooks_test_vector() -> None:
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE
    verify_signature(VECTOR_SECRET, _headers(), VECTOR_BODY, 300, now=VECTOR_TIMESTAMP)


def test_header_names_are_matched_whatever_their_case() -> None:
    lowered = {name.lower(): value for name, value in _headers().items()}
    verify_signature(VECTOR_SECRET, lowered, VECTOR_BODY.decode(), now=VECTOR_TIMESTAMP + 10)


@pytest.mark.parametrize(
    ("secret", "headers", "body", "now", "reason"),
    [
        (VECTOR_SECRET, _headers(), VECTOR_BODY + b" ", VECTOR_TIMESTAMP, "no signature matches"),
        (secret_generate(), _headers(), VECTOR_BODY, VECTOR_TIMESTAMP, "no signature matches"),
        (VECTOR_SECRET, _headers("v1,bm9wZQ=="), VECTOR_BODY, VECTOR_TIMESTAMP, "no signature"),
        (VECTOR_SECRET, _headers(), VECTOR_BODY, VECTOR_TIMESTAMP + 301, "outside the tolerance"),
        (VECTOR_SECRET, _headers(), VECTOR_BODY, VECTOR_TIMESTAMP - 301, "outside the tolerance"),
        (
            VECTOR_SECRET,
            _headers(timestamp=VECTOR_TIMESTAMP + 1),
            VECTOR_BODY,
            VECTOR_TIMESTAMP,
            "no signature matches",
        ),
        (VECTOR_SECRET, {"Webhook-Id": VECTOR_ID}, VECTOR_BODY, VECTOR_TIMESTAMP, "missing"),
        (
            VECTOR_SECRET,
            {**_headers(), "Webhook-Timestamp": "soon"},
            VECTOR_BODY,
            VECTOR_TIMESTAMP,
            "not an integer",
        ),
    ],
    ids=[
        "tampered body",
        "another secret",
        "wrong signature",
        "too old",
        "from the future",
        "timestamp changed",
        "headers missing",
        "garbled timestamp",
    ],
)
def test_anything_but_a_fresh_genuine_request_is_refused(
    secret: str, headers: dict[str, str], body: bytes, now: float, reason: str
) -> None:
    with pytest.raises(WebhookVerificationError, match=reason):
        verify_signature(secret, headers, body, 300, now=now)


def test_any_one_of_several_signatures_is_enough() -> None:
    """During a secret rotation each request carries a signature per secret."""
    new, old = secret_generate(), VECTOR_SECRET
    headers = signed_headers(
        keys=[new, old], msg_id=VECTOR_ID, timestamp=VECTOR_TIMESTAMP, body=VECTOR_BODY
    )
    assert len(headers["Webhook-Signature"].split(" ")) == 2
    for secret in (new, old):
        verify_signature(secret, headers, VECTOR_BODY, now=VECTOR_TIMESTAMP)


def test_secrets_are_32_random_bytes_in_the_standard_format() -> None:
    secret = secret_generate()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert secret_generate() != secret


def test_the_verification_helper_needs_nothing_but_the_standard_library() -> None:
    """Receivers copy helpdesk/webhooks/verify.py as it is."""
    import ast
    import sys
    from pathlib import Path

    import helpdesk.webhooks.verify as module

    tree = ast.parse(Path(module.__file__).read_text())
    imported = {
        (node.module or "" if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= sys.stdlib_module_names
