"""The transactional outbox: events committed with the change they describe.

A row is written in the same transaction as the change, so an event exists if and only if the
change committed. The relay (``run_outbox_relay``) copies rows to the Redis stream in id order
and marks them published.
"""

from typing import ClassVar

from django.db import models
from django.utils import timezone


class OutboxEvent(models.Model):
    id = models.BigAutoField(primary_key=True)  # the order of writing
    event_id = models.UUIDField(unique=True)
    event_type = models.CharField(max_length=64)
    organization_id = models.BigIntegerField()
    # Events of one key (a ticket, or an organization) reach the stream in the order written.
    partition_key = models.CharField(max_length=64)
    # The envelope as JSON, exactly the bytes that are published: serialized once, at write.
    payload = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes: ClassVar[list[models.Index]] = [
            # The relay only ever scans unpublished rows: keep that index small.
            models.Index(
                fields=["id"],
                name="outbox_unpublished_idx",
                condition=models.Q(published_at__isnull=True),
            ),
            models.Index(fields=["partition_key", "id"], name="outbox_partition_idx"),
            models.Index(fields=["published_at"], name="outbox_published_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"
