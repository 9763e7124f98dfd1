"""Contracts shared by the helpdesk services: the event envelope, its payloads, stream names.

Nothing here performs I/O; every service imports it and nothing service-specific lives here.
"""

from helpdesk_shared.events import (
    SCHEMA_VERSION,
    Actor,
    Envelope,
    FieldChange,
    TicketCreated,
    TicketCreatedData,
    TicketUpdated,
    TicketUpdatedData,
    parse_event,
)
from helpdesk_shared.ids import uuid7
from helpdesk_shared.streams import EVENTS_STREAM, OUTBOX_NOTIFY_CHANNEL
from helpdesk_shared.tokens import (
    REALTIME_TOKEN_ALGORITHM,
    REALTIME_TOKEN_AUDIENCE,
    REALTIME_TOKEN_ISSUER,
    REALTIME_TOKEN_TTL_SECONDS,
    RealtimeClaims,
)

__all__ = [
    "EVENTS_STREAM",
    "OUTBOX_NOTIFY_CHANNEL",
    "REALTIME_TOKEN_ALGORITHM",
    "REALTIME_TOKEN_AUDIENCE",
    "REALTIME_TOKEN_ISSUER",
    "REALTIME_TOKEN_TTL_SECONDS",
    "SCHEMA_VERSION",
    "Actor",
    "Envelope",
    "FieldChange",
    "RealtimeClaims",
    "TicketCreated",
    "TicketCreatedData",
    "TicketUpdated",
    "TicketUpdatedData",
    "parse_event",
    "uuid7",
]
