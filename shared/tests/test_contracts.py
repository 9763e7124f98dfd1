"""The contracts beyond ticket.created: comments and their audience, SLA events, triage, tokens."""

import hashlib
from datetime import UTC, datetime
from uuid import UUID

import pytest
from pydantic import ValidationError

from helpdesk_shared import (
    Actor,
    CommentCreated,
    CommentCreatedData,
    SlaBreached,
    SlaData,
    parse_event,
    uuid7,
)
from helpdesk_shared.presence import agents_seen_key, agents_status_key
from helpdesk_shared.tokens import ApiTokenRecord, api_token_digest, api_token_key
from helpdesk_shared.triage import TriageVerdict


def _note(public: bool) -> CommentCreated:
    now = datetime.now(UTC)
    return CommentCreated(
        id=uuid7(),
        occurred_at=now,
        organization_id=1,
        ticket_id=5,
        actor=Actor(kind="user", id=2, role="agent"),
        audience="all" if public else "staff",
        requester_id=9,
        data=CommentCreatedData(
            comment_id=11, number=3, author_id=2, public=public, body="hi", created_at=now
        ),
    )


def test_comment_round_trips_with_its_audience() -> None:
    note = _note(public=False)
    parsed = parse_event(note.model_dump_json())
    assert isinstance(parsed, CommentCreated)
    assert parsed.audience == "staff"
    assert parsed.requester_id == 9
    assert parsed.data.public is False


def test_audience_is_all_or_staff_only() -> None:
    with pytest.raises(ValidationError):
        CommentCreated.model_validate({**_note(public=True).model_dump(), "audience": "customers"})


def test_sla_event_parses() -> None:
    now = datetime.now(UTC)
    event = SlaBreached(
        id=uuid7(),
        occurred_at=now,
        organization_id=1,
        ticket_id=5,
        actor=Actor(kind="system"),
        audience="staff",
        data=SlaData(
            number=3, metric="resolution", due_at=now, target_minutes=60, elapsed_share=1.0
        ),
    )
    assert parse_event(event.model_dump_json()) == event


def test_triage_verdict_rejects_confidence_outside_zero_one() -> None:
    body = {
        "event_id": str(UUID(int=1)),
        "organization_id": 1,
        "ticket_id": 2,
        "category": {"label": "billing", "confidence": 1.5},
        "priority": {"label": "high", "confidence": 0.7},
        "sentiment": {"label": "negative", "confidence": 0.9},
        "language": {"label": "en", "confidence": 0.99},
        "model_id": "default",
        "model_version": "1",
    }
    with pytest.raises(ValidationError):
        TriageVerdict.model_validate(body)
    body["category"] = {"label": "billing", "confidence": 0.5}
    assert TriageVerdict.model_validate(body).category.label == "billing"


def test_api_token_digest_is_sha512_of_the_token() -> None:
    token = "hdp_abc123"
    assert api_token_digest(token) == hashlib.sha512(token.encode()).hexdigest()
    assert api_token_key(token).endswith(api_token_digest(token))
    record = ApiTokenRecord.model_validate_json(
        '{"organization_id": 1, "user_id": 2, "role": "bot", "scopes": ["ai:classify"]}'
    )
    assert record.expires_at is None
    with pytest.raises(ValidationError):
        ApiTokenRecord.model_validate({**record.model_dump(), "scopes": ["root"]})


def test_presence_keys_are_per_organization() -> None:
    assert agents_seen_key(1) != agents_seen_key(2)
    assert agents_status_key(1) != agents_seen_key(1)
