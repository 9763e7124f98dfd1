"""Writing events: ``event_record`` is the one way the core says that something happened."""

from django.db import connection

from helpdesk.outbox.models import OutboxEvent
from helpdesk_shared import OUTBOX_NOTIFY_CHANNEL, Envelope


class NotInTransactionError(RuntimeError):
    """An event written outside a transaction could outlive a change that rolls back."""


def event_record(*, event: Envelope) -> OutboxEvent:
    """Store ``event`` in the outbox, inside the caller's transaction.

    The caller must hold the lock of the event's subject (``select_for_update`` on the ticket,
    or the row it just created) so that, per ticket, outbox ids follow commit order; the relay
    relies on that to publish each ticket's events in order.
    """
    if not connection.in_atomic_block:
        raise NotInTransactionError("event_record must run inside transaction.atomic().")
    row = OutboxEvent.objects.create(
        event_id=event.id,
        event_type=event.type,
        organization_id=event.organization_id,
        partition_key=event.partition_key,
        payload=event.model_dump_json(),
        created_at=event.occurred_at,
    )
    if connection.vendor == "postgresql":
        # Delivered to a LISTENing relay when (and only if) this transaction commits.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [OUTBOX_NOTIFY_CHANNEL])
    return row
