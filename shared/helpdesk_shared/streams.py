"""Names of the Redis stream and the PostgreSQL channel that carry events between services."""

from typing import Final

# Every event the core commits is appended here by the outbox relay, in commit order per ticket.
EVENTS_STREAM: Final = "helpdesk:events"

# The field of a stream entry that holds the envelope as JSON; ``type`` and ``org`` are copied
# beside it so that a consumer can skip entries without parsing them.
STREAM_FIELD_EVENT: Final = "event"
STREAM_FIELD_TYPE: Final = "type"
STREAM_FIELD_ORG: Final = "org"

# The core NOTIFYs this channel in the transaction that writes outbox rows, so that a relay on
# PostgreSQL wakes on commit instead of polling.
OUTBOX_NOTIFY_CHANNEL: Final = "helpdesk_outbox"
