"""The event envelope and the typed payload of each event.

Every event has one envelope. Adding an optional field to a payload is not a breaking change;
removing or renaming one is a new ``schema_version``. Consumers de-duplicate on ``id`` (delivery
is at least once) and ignore types they do not know (see ``parse_event``).
"""

from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

SCHEMA_VERSION: Literal[1] = 1

Priority = Literal["low", "normal", "high", "urgent"]
Status = Literal["new", "open", "pending", "on_hold", "solved", "closed"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Actor(_Strict):
    """Who caused the event: a user (agent, customer, admin or bot) or the system itself."""

    kind: Literal["user", "system"]
    id: int | None = None
    role: Literal["admin", "agent", "customer", "bot"] | None = None


class Envelope(_Strict):
    """The part every event shares. ``data`` is typed by the subclasses below."""

    id: UUID
    type: str
    schema_version: int = Field(default=SCHEMA_VERSION, ge=1)
    occurred_at: AwareDatetime
    organization_id: int
    ticket_id: int | None = None
    actor: Actor
    request_id: str | None = Field(default=None, max_length=200)
    data: dict[str, Any]

    @property
    def partition_key(self) -> str:
        """Events with the same key are delivered in the order they were committed."""
        if self.ticket_id is not None:
            return f"ticket:{self.ticket_id}"
        return f"org:{self.organization_id}"


class TicketCreatedData(_Strict):
    number: int = Field(ge=1)
    subject: str
    description: str
    status: Status
    priority: Priority
    channel: Literal["web", "api"]
    requester_id: int
    created_at: AwareDatetime


class TicketCreated(Envelope):
    type: Literal["ticket.created"] = "ticket.created"
    data: TicketCreatedData  # type: ignore[assignment]


class FieldChange(_Strict):
    """One field's change, as the audit trail shows it: values rendered as text (or null)."""

    field: str
    old: str | None
    new: str | None


class TicketUpdatedData(_Strict):
    number: int = Field(ge=1)
    requester_id: int = Field(description="who the ticket is for: realtime routes it to them")
    version: int = Field(ge=2, description="the ticket's version after this change")
    changes: list[FieldChange] = Field(min_length=1)


class TicketUpdated(Envelope):
    type: Literal["ticket.updated"] = "ticket.updated"
    data: TicketUpdatedData  # type: ignore[assignment]


# Every typed event, by its ``type``. A new event is a new subclass of Envelope added here.
EVENT_TYPES: dict[str, type[Envelope]] = {
    "ticket.created": TicketCreated,
    "ticket.updated": TicketUpdated,
}


def parse_event(raw: str | bytes) -> Envelope:
    """Parse an envelope from JSON: typed when its type is known, generic otherwise.

    A consumer deployed before a producer learns a new event type keeps working: it gets the
    envelope with ``data`` as a plain dict. A known type with a malformed payload raises.
    """
    envelope = Envelope.model_validate_json(raw)
    typed = EVENT_TYPES.get(envelope.type)
    return typed.model_validate_json(raw) if typed else envelope


__all__ = [
    "EVENT_TYPES",
    "SCHEMA_VERSION",
    "Actor",
    "Envelope",
    "FieldChange",
    "Priority",
    "Status",
    "TicketCreated",
    "TicketCreatedData",
    "TicketUpdated",
    "TicketUpdatedData",
    "ValidationError",
    "parse_event",
]
