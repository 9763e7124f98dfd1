"""Contracts shared by the helpdesk services: the event envelope, its payloads, stream names.

Nothing here performs I/O; every service imports it and nothing service-specific lives here.
"""

from helpdesk_shared.events import (
    EVENT_TYPES,
    SCHEMA_VERSION,
    Actor,
    AttachmentRef,
    CommentCreated,
    CommentCreatedData,
    Envelope,
    FieldChange,
    SlaBreached,
    SlaData,
    SlaWarning,
    TicketCreated,
    TicketCreatedData,
    TicketMerged,
    TicketMergedData,
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
    "EVENT_TYPES",
    "OUTBOX_NOTIFY_CHANNEL",
    "REALTIME_TOKEN_ALGORITHM",
    "REALTIME_TOKEN_AUDIENCE",
    "REALTIME_TOKEN_ISSUER",
    "REALTIME_TOKEN_TTL_SECONDS",
    "SCHEMA_VERSION",
    "Actor",
    "AttachmentRef",
    "CommentCreated",
    "CommentCreatedData",
    "Envelope",
    "FieldChange",
    "RealtimeClaims",
    "SlaBreached",
    "SlaData",
    "SlaWarning",
    "TicketCreated",
    "TicketCreatedData",
    "TicketMerged",
    "TicketMergedData",
    "TicketUpdated",
    "TicketUpdatedData",
    "parse_event",
    "uuid7",
]
