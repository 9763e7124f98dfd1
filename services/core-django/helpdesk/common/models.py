"""Rows every part of the API shares."""

from typing import ClassVar

from django.db import models
from django.utils import timezone


class IdempotencyRecord(models.Model):
    """The first response to a POST carrying an ``Idempotency-Key``, replayed for retries.

    Keys are per caller (user, or the client's address for anonymous calls); the request's
    fingerprint (method, path, body) tells a retry from a different request reusing the key.
    """

    owner = models.CharField(max_length=100)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    body = models.BinaryField()
    content_type = models.CharField(max_length=100, default="application/json")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["owner", "key"], name="idempotency_key_per_owner")
        ]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["created_at"], name="idempotency_age_idx")
        ]

    def __str__(self) -> str:
        return f"{self.owner}:{self.key}"
