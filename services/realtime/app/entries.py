"""A stream entry, decoded once into what fan-out and replay need: its rooms and its packet."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import structlog
from pydantic import ValidationError

from app.codec import event_packet
from app.rooms import rooms_for
from helpdesk_shared import parse_event
from helpdesk_shared.streams import STREAM_FIELD_EVENT

# An id lower than any real one: "from the beginning".
STREAM_START: Final = "0-0"

log = structlog.get_logger("realtime.stream")

EntryKey = tuple[int, int]


def parse_id(entry_id: str) -> EntryKey:
    """A stream id ``<ms>-<seq>`` as a tuple that orders like Redis orders ids."""
    ms, _, seq = entry_id.partition("-")
    if not ms.isdigit() or (seq and not seq.isdigit()):
        raise ValueError(f"not a stream id: {entry_id!r}")
    return int(ms), int(seq or 0)


def valid_id(value: object) -> bool:
    if not isinstance(value, str) or len(value) > 64:
        return False
    try:
        parse_id(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    key: EntryKey
    type: str
    event_id: str
    occurred_at: datetime
    rooms: frozenset[str]
    packet: str


def decode_entry(entry_id: str, fields: Mapping[Any, Any] | None) -> Entry | None:
    """The entry, or None (logged) when it holds no valid envelope."""
    raw = (fields or {}).get(STREAM_FIELD_EVENT)
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    if not isinstance(raw, str):
        log.warning("stream_entry_skipped", entry_id=entry_id, reason="no event field")
        return None
    try:
        envelope = parse_event(raw)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors(include_url=False, include_input=False)[:5]
        ]
        log.warning(
            "stream_entry_skipped",
            entry_id=entry_id,
            reason="malformed envelope",
            errors=exc.error_count(),
            problems=problems,
        )
        return None
    return Entry(
        id=entry_id,
        key=parse_id(entry_id),
        type=envelope.type,
        event_id=str(envelope.id),
        occurred_at=envelope.occurred_at,
        rooms=frozenset(rooms_for(envelope)),
        packet=event_packet(envelope.type, entry_id, raw),
    )
