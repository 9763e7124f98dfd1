"""The Socket.IO server: python-socketio with orjson, and a gate in front of every message.

The gate sees each client message as the raw text, before python-socketio decodes it, so that
an oversized, binary, rate-exceeding or undecodable message is answered with an ``error``
message and dropped, and nothing a client sends can raise out of the server.
"""

import functools
from collections.abc import Callable
from typing import Any, Final

import socketio
import structlog
from socketio import packet

from app.codec import OrjsonModule
from app.direct import EngineServer

NAMESPACE: Final = "/"
log = structlog.get_logger("realtime.server")

# (sid, raw message) -> an error (code, message) to answer instead of handling it, or None.
Gate = Callable[[str, str], tuple[str, str] | None]
# Answer an error to a connection.
Reject = Callable[[str, str, str, str | None], Any]


class RealtimeServer(socketio.AsyncServer):  # type: ignore[misc]  # (untyped library)
    def __init__(self, *, gate: Gate | None = None, direct: bool = True, **kwargs: Any) -> None:
        # Engine.IO sockets whose fan-out frames may be written straight to the transport
        # (``direct``); read by _engineio_server_class, which the base constructor calls.
        self._direct = direct
        super().__init__(json=OrjsonModule, **kwargs)
        self.gate: Gate | None = gate
        self.reject: Reject | None = None

    def _engineio_server_class(self) -> Any:
        return functools.partial(EngineServer, direct=self._direct)

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        sid = self.manager.sid_from_eio_sid(eio_sid, NAMESPACE)
        if not isinstance(data, str):
            await self._refuse(eio_sid, sid, "binary_not_supported", "send JSON text messages only")
            return
        if sid is not None and self.gate is not None:
            refused = self.gate(sid, data)
            if refused is not None:
                reply = await self._refuse(eio_sid, sid, *refused)
                ack_id = _ack_id(data)
                if ack_id is not None and reply is not None:
                    # The client waits for an answer to this one: the refusal is the answer.
                    await self._send_packet(
                        eio_sid,
                        self.packet_class(packet.ACK, namespace=NAMESPACE, data=[reply], id=ack_id),
                    )
                return
        try:
            await super()._handle_eio_message(eio_sid, data)
        except Exception as exc:  # a packet python-socketio cannot decode
            log.info("malformed_message", sid=sid, error=f"{type(exc).__name__}: {exc}")
            await self._refuse(eio_sid, sid, "malformed_message", "not a valid Socket.IO packet")

    async def _refuse(self, eio_sid: str, sid: str | None, code: str, message: str) -> Any:
        if sid is None:
            # Not connected to the namespace yet: there is no one to answer; drop the transport.
            await self.eio.disconnect(eio_sid)
            return None
        if self.reject is not None:
            return await self.reject(sid, code, message, None)
        return None


def _ack_id(raw: str) -> int | None:
    """The acknowledgement id of an EVENT packet of the default namespace (``2<id>[...``)."""
    if not raw.startswith("2"):
        return None
    digits = ""
    for char in raw[1:20]:
        if not char.isdigit():
            break
        digits += char
    return int(digits) if digits else None
