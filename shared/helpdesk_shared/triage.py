"""What the AI service sends back to core about a ticket it classified (the triage verdict).

The AI service posts it to core's ``POST /api/v1/internal/triage`` with the service credential
(``Authorization: Bearer <HELPDESK_SERVICE_TOKEN>``). Core stores the suggestions apart from what
agents set, and applies category, priority and queue routing itself when the organization's
confidence threshold is met. ``event_id`` (the event that was triaged) makes the call idempotent.
"""

from typing import Final
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

TRIAGE_PATH: Final = "/api/v1/internal/triage"

CATEGORIES: Final = (
    "billing",
    "account_access",
    "technical_issue",
    "bug_report",
    "feature_request",
    "shipping_delivery",
    "refund_return",
    "general_inquiry",
)
SENTIMENTS: Final = ("negative", "neutral", "positive")


class Prediction(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str = Field(min_length=1, max_length=100)
    confidence: float = Field(ge=0.0, le=1.0, description="a calibrated probability")


class TriageVerdict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: UUID = Field(description="the ticket.created or comment.created event triaged")
    organization_id: int
    ticket_id: int
    category: Prediction
    priority: Prediction
    sentiment: Prediction
    language: Prediction
    model_id: str = Field(min_length=1, max_length=100)
    model_version: str = Field(min_length=1, max_length=100)


__all__ = ["CATEGORIES", "SENTIMENTS", "TRIAGE_PATH", "Prediction", "TriageVerdict"]
