"""``Idempotency-Key`` on POST: a retry gets the first answer and creates nothing.

The key is the caller's (user, or client address when anonymous). The first request with a key
runs inside one transaction with the record of its answer, so either both commit or neither
does: a crash between "ticket created" and "answer stored" cannot happen. A retry with the same
key and the same request replays the stored answer (``Idempotent-Replayed: true``); the same key
with a different request is a 422; a retry while the first is still running waits for it (the
unique row's lock) and then replays. Answers of 5xx are not stored, so they can be retried.
Records are kept for ``IDEMPOTENCY_TTL`` (24 hours, like Stripe's).
"""

import hashlib
from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from helpdesk.common.models import IdempotencyRecord
from helpdesk.common.ratelimit import client_address
from helpdesk_kit.errors import error_body
from helpdesk_kit.request_id import current_request_id

IDEMPOTENCY_TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255


def _owner(request: HttpRequest) -> str:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header.startswith("Bearer "):
        return "token:" + hashlib.sha256(header[7:].encode()).hexdigest()[:40]
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return "ip:" + client_address(request)


def _fingerprint(request: HttpRequest) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode() if request.method else b"")
    digest.update(request.get_full_path().encode())
    digest.update(b"\0")
    digest.update(request.body)
    return digest.hexdigest()


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message, current_request_id()), status=status)


def _replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(
        bytes(record.body), status=record.status_code, content_type=record.content_type
    )
    response["Idempotent-Replayed"] = "true"
    return response


class IdempotencyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.META.get("HTTP_IDEMPOTENCY_KEY")
        if key is None or request.method != "POST" or not request.path.startswith("/api/"):
            return self.get_response(request)
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            return _error(
                400, "invalid_idempotency_key", "Idempotency-Key: 1 to 255 printable characters."
            )
        owner, fingerprint = _owner(request), _fingerprint(request)
        cutoff = timezone.now() - IDEMPOTENCY_TTL
        try:
            with transaction.atomic():
                # Lock the key: a concurrent retry waits here until the first one commits.
                existing = (
                    IdempotencyRecord.objects.select_for_update()
                    .filter(owner=owner, key=key, created_at__gte=cutoff)
                    .first()
                )
                if existing is not None:
                    if existing.fingerprint != fingerprint:
                        return _error(
                            422,
                            "idempotency_key_reused",
                            "This Idempotency-Key was used for a different request.",
                        )
                    return _replay(existing)
                IdempotencyRecord.objects.filter(owner=owner, key=key).delete()  # expired
                # Claim the key before doing the work: a concurrent first request with the same
                # key blocks on this row's unique index until we commit, then replays our answer.
                record = IdempotencyRecord.objects.create(
                    owner=owner, key=key, fingerprint=fingerprint, status_code=0, body=b""
                )
                response = self.get_response(request)
                if (
                    response.status_code >= 500
                    or response.status_code == 429
                    or getattr(response, "streaming", False)
                ):
                    transaction.set_rollback(True)
                    return response
                record.status_code = response.status_code
                record.body = response.content
                record.content_type = response.get("Content-Type", "application/json")
                record.save(update_fields=["status_code", "body", "content_type"])
                return response
        except IntegrityError:
            # Another request with this key claimed it first and has committed by now.
            winner = IdempotencyRecord.objects.filter(owner=owner, key=key).first()
            if winner is None or winner.fingerprint != fingerprint:
                return _error(
                    422,
                    "idempotency_key_reused",
                    "This Idempotency-Key was used for a different request.",
                )
            return _replay(winner)
