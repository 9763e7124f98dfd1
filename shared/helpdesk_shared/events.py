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
Audience = Literal["all", "staff"]
SlaMetric = Literal["first_response", "resolution"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Actor(_Strict):
    """Who caused the event: a user (agent, customer, admin or bot), the AI's triage (applied
    through core with the service credential), or the system itself (SLA clock, merges)."""

    kind: Literal["user", "ai", "system"]
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
    # Routing, so that a consumer can route without knowing every payload: who may receive the
    # event ("staff": agents and admins only, never a customer) and which rooms it concerns.
    audience: Audience = "all"
    queue_id: int | None = None
    requester_id: int | None = None
    company_id: int | None = Field(
        default=None, description="the requester's company, when it shares tickets among its people"
    )
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
    queue_id: int | None = None
    assignee_id: int | None = None
    category: str = ""
    tags: list[str] = Field(default_factory=list)


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


class AttachmentRef(_Strict):
    id: int
    name: str
    size: int = Field(ge=0)
    content_type: str


class CommentCreatedData(_Strict):
    """A reply (public) or an internal note (``public`` false; the envelope's audience "staff")."""

    comment_id: int
    number: int = Field(ge=1)
    author_id: int | None
    public: bool
    body: str
    attachments: list[AttachmentRef] = Field(default_factory=list)
    created_at: AwareDatetime
    # True when the author is the requester (or a colleague of theirs): the AI re-triages these.
    from_customer: bool = False


class CommentCreated(Envelope):
    type: Literal["comment.created"] = "comment.created"
    data: CommentCreatedData  # type: ignore[assignment]


class TicketMergedData(_Strict):
    """The envelope's ticket was merged into another and closed; its comments moved there."""

    number: int = Field(ge=1)
    into_ticket_id: int
    into_number: int = Field(ge=1)


class TicketMerged(Envelope):
    type: Literal["ticket.merged"] = "ticket.merged"
    data: TicketMergedData  # type: ignore[assignment]


class SlaData(_Strict):
    number: int = Field(ge=1)
    metric: SlaMetric
    due_at: AwareDatetime
    target_minutes: int = Field(ge=1, description="the target, in business minutes")
    elapsed_share: float = Field(ge=0, description="business time used, as a share of the target")


class SlaWarning(Envelope):
    """A ticket has used the warning share of an SLA target (audience: staff)."""

    type: Literal["sla.warning"] = "sla.warning"
    data: SlaData  # type: ignore[assignment]


class SlaBreached(Envelope):
    """A ticket has passed an SLA target (audience: staff)."""

    type: Literal["sla.breached"] = "sla.breached"
    data: SlaData  # type: ignore[assignment]


# Every typed event, by its ``type``. A new event is a new subclass of Envelope added here.
EVENT_TYPES: dict[str, type[Envelope]] = {
    "ticket.created": TicketCreated,
    "ticket.updated": TicketUpdated,
    "comment.created": CommentCreated,
    "ticket.merged": TicketMerged,
    "sla.warning": SlaWarning,
    "sla.breached": SlaBreached,
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
    "AttachmentRef",
    "Audience",
    "CommentCreated",
    "CommentCreatedData",
    "Envelope",
    "FieldChange",
    "Priority",
    "SlaBreached",
    "SlaData",
    "SlaMetric",
    "SlaWarning",
    "Status",
    "TicketCreated",
    "TicketCreatedData",
    "TicketMerged",
    "TicketMergedData",
    "TicketUpdated",
    "TicketUpdatedData",
    "ValidationError",
    "parse_event",
]
