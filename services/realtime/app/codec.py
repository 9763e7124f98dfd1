"""Encoding: orjson for every packet, and each event's packet built once from the stream text.

An event reaches a client as the envelope exactly as core wrote it, with one field added in
front: ``offset``, its stream entry id. The Socket.IO packet is assembled from the envelope's
JSON text as read from Redis (validated, never re-serialized), so an event costs one string
concatenation however many connections receive it, and replayed and live copies are the same
bytes.
"""

from typing import Any, Final

import orjson

EVENT_PACKET: Final = "2"  # Socket.IO EVENT, default namespace, no ack id


class OrjsonModule:
    """The ``json`` module python-socketio is given: orjson, same calling convention."""

    @staticmethod
    def dumps(obj: Any, **_: Any) -> str:
        # orjson's output is compact already (the separators python-socketio asks for).
        return orjson.dumps(obj).decode()

    @staticmethod
    def loads(text: str | bytes, **_: Any) -> Any:
        return orjson.loads(text)


def payload_text(offset: str, envelope_json: str) -> str:
    """``{"offset": "<id>", ...the envelope's fields}`` from the envelope's JSON object text."""
    body = envelope_json.strip()
    if not body.startswith("{") or body == "{}":
        raise ValueError("an envelope is a non-empty JSON object")
    return '{"offset":' + orjson.dumps(offset).decode() + "," + body[1:].lstrip()


def event_packet(event: str, offset: str, envelope_json: str) -> str:
    """The Socket.IO EVENT packet text for ``emit(event, payload)``."""
    return (
        EVENT_PACKET
        + "["
        + orjson.dumps(event).decode()
        + ","
        + payload_text(offset, envelope_json)
        + "]"
    )


def message_packet(event: str, data: Any) -> str:
    """A Socket.IO EVENT packet for a message of our own (``ready``, ``resync``, ...)."""
    return EVENT_PACKET + orjson.dumps([event, data]).decode()
