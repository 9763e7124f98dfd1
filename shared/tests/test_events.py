import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from helpdesk_shared import Actor, Envelope, TicketCreated, TicketCreatedData, parse_event, uuid7


def _ticket_created(**overrides: object) -> TicketCreated:
    now = datetime.now(UTC)
    fields: dict[str, object] = {
        "id": uuid7(),
        "occurred_at": now,
        "organization_id": 1,
        "ticket_id": 7,
        "actor": Actor(kind="user", id=3, role="customer"),
        "request_id": "req-1",
        "data": TicketCreatedData(
            number=1,
            subject="Printer on fire",
            description="Smoke everywhere",
            status="new",
            priority="normal",
            channel="api",
            requester_id=3,
            created_at=now,
        ),
    }
    fields.update(overrides)
    return TicketCreated.model_validate(fields)


def test_uuid7_ids_sort_by_creation_time() -> None:
    ids = [uuid7(now_ns=1_700_000_000_000_000_000 + i * 300) for i in range(1000)]
    assert ids == sorted(ids)
    assert all(i.version == 7 for i in ids)
    assert len(set(ids)) == len(ids)


def test_envelope_round_trips_through_json() -> None:
    event = _ticket_created()
    parsed = parse_event(event.model_dump_json())
    assert parsed == event
    assert isinstance(parsed, TicketCreated)
    assert parsed.partition_key == "ticket:7"


def test_unknown_type_parses_as_generic_envelope() -> None:
    raw = json.loads(_ticket_created().model_dump_json())
    raw["type"] = "ticket.exploded"
    raw["data"] = {"anything": 1}
    parsed = parse_event(json.dumps(raw))
    assert type(parsed) is Envelope
    assert parsed.data == {"anything": 1}


def test_known_type_with_bad_payload_is_rejected() -> None:
    raw = json.loads(_ticket_created().model_dump_json())
    raw["data"]["priority"] = "whenever"
    with pytest.raises(ValidationError):
        parse_event(json.dumps(raw))


def test_unknown_envelope_fields_are_rejected() -> None:
    raw = json.loads(_ticket_created().model_dump_json())
    raw["surprise"] = True
    with pytest.raises(ValidationError):
        parse_event(json.dumps(raw))


def test_naive_timestamps_are_rejected() -> None:
    with pytest.raises(ValidationError):
        _ticket_created(occurred_at=datetime(2026, 1, 1))


def test_ticket_updated_carries_its_changes_and_new_version() -> None:
    from helpdesk_shared import FieldChange, TicketUpdated, TicketUpdatedData

    event = TicketUpdated(
        id=uuid7(),
        occurred_at=datetime.now(UTC),
        organization_id=1,
        ticket_id=7,
        actor=Actor(kind="user", id=2, role="agent"),
        data=TicketUpdatedData(
            number=3,
            requester_id=5,
            version=2,
            changes=[FieldChange(field="status", old="new", new="open")],
        ),
    )
    parsed = parse_event(event.model_dump_json())
    assert isinstance(parsed, TicketUpdated)
    assert parsed.data.changes[0].new == "open"
    with pytest.raises(ValidationError):
        TicketUpdatedData.model_validate(
            {"number": 3, "requester_id": 5, "version": 2, "changes": []}
        )
