"""Signing what the worker sends (Standard Webhooks; the receiver's side is in verify.py)."""

import base64
import secrets
from datetime import datetime

from helpdesk.webhooks.models import WebhookEndpoint
from helpdesk.webhooks.verify import SECRET_PREFIX, sign

SECRET_BYTES = 32


def secret_generate() -> str:
    """A new signing key in the Standard Webhooks format: ``whsec_`` and 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signing_secrets(endpoint: WebhookEndpoint, *, now: datetime) -> list[str]:
    """The keys to sign with: the current one, and the previous one during its grace period."""
    keys = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > now:
        keys.append(endpoint.previous_secret)
    return keys


def signed_headers(*, keys: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers of one attempt (the timestamp, hence the signature, is fresh each time)."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "helpdesk-webhooks/1",
        "Webhook-Id": msg_id,
        "Webhook-Timestamp": str(timestamp),
        "Webhook-Signature": " ".join(sign(key, msg_id, timestamp, body) for key in keys),
    }
