"""Checking that a webhook came from the helpdesk: copy this file into a receiver.

The scheme is Standard Webhooks (https://www.standardwebhooks.com/), so its libraries verify our
requests too. Each request carries three headers:

- ``Webhook-Id``: the event's id (the same on every retry and replay: de-duplicate on it);
- ``Webhook-Timestamp``: Unix seconds at the time of this attempt;
- ``Webhook-Signature``: ``v1,<base64 HMAC-SHA256>`` of ``"<id>.<timestamp>.<body>"``, keyed with
  the base64-decoded part of the endpoint's secret after ``whsec_``. While a rotated secret is
  still honoured the header holds several, separated by spaces.

Verify over the raw body bytes (before any JSON parsing) and refuse old timestamps, or a
captured request could be replayed at you. Only the standard library is used.
"""

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)
DEFAULT_TOLERANCE_SECONDS = 300


class WebhookVerificationError(Exception):
    """The request is not a genuine, fresh webhook; the message says which check failed."""


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One signature, ``v1,<base64>``, as the sender puts it in ``Webhook-Signature``."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    *,
    now: float | None = None,
) -> None:
    """Return if ``body`` and ``headers`` were signed with ``secret`` within ``tolerance``
    seconds of ``now`` (default: the current time); raise WebhookVerificationError otherwise."""
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get("webhook-id")
    raw_timestamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not msg_id or not raw_timestamp or not signatures:
        raise WebhookVerificationError("missing Webhook-Id, Webhook-Timestamp or Webhook-Signature")
    try:
        timestamp = int(raw_timestamp)
    except ValueError:
        raise WebhookVerificationError("Webhook-Timestamp is not an integer") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError("Webhook-Timestamp is outside the tolerance")
    payload = body.encode() if isinstance(body, str) else body
    expected = sign(secret, msg_id, timestamp, payload).encode()
    for candidate in signatures.split():
        if hmac.compare_digest(candidate.encode(), expected):
            return
    raise WebhookVerificationError("no signature matches")
