"""Socket.IO connection handling: authenticate on connect, join the rooms events are sent to.

A connection is accepted only with a valid token from core in the auth payload
(``{"token": "<jwt>"}``); otherwise it is refused with ``{"code": ..., "message": ...}`` as
the refusal's data, so the client can tell an expired token (fetch a new one) from an invalid
one. An accepted connection joins ``user:<user_id>`` and, unless it is a customer's,
``org:<org>``. Each event goes to its organization's room and to the room of the customer the
ticket is for (``rooms_for``): staff see the organization's tickets, customers only their own.
"""

from typing import Any

import socketio
import structlog

from app import metrics
from app.auth import TokenError, TokenMissing, verify_token
from helpdesk_shared import Envelope, RealtimeClaims

log = structlog.get_logger("realtime.sockets")


def org_room(organization_id: int) -> str:
    return f"org:{organization_id}"


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


class ConnectionHandlers:
    """The ``connect`` and ``disconnect`` handlers of one server."""

    def __init__(self, sio: Any, token_secret: str) -> None:
        self._sio = sio
        self._secret = token_secret
        # The authenticated connections of this process, so the gauge counts each one once.
        self._connected: dict[str, RealtimeClaims] = {}

    def register(self) -> None:
        self._sio.on("connect", self.connect)
        self._sio.on("disconnect", self.disconnect)

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        remote = environ.get("REMOTE_ADDR")
        try:
            token = auth.get("token") if isinstance(auth, dict) else None
            if not isinstance(token, str) or not token:
                raise TokenMissing('a realtime token is required: connect with auth={"token": ...}')
            claims = verify_token(token, self._secret)
        except TokenError as exc:
            log.info("connect_refused", sid=sid, code=exc.code, reason=exc.message, remote=remote)
            # Two arguments: the message, and the data the client receives beside it
            # (a single dict argument would reach the client as its Python repr).
            raise socketio.exceptions.ConnectionRefusedError(
                exc.message, {"code": exc.code, "message": exc.message}
            ) from None
        await self._sio.save_session(sid, {"claims": claims})
        # Customers see their own tickets only: they never join the organization's room.
        if claims.role != "customer":
            await self._sio.enter_room(sid, org_room(claims.org))
        await self._sio.enter_room(sid, user_room(claims.user_id))
        self._connected[sid] = claims
        metrics.CONNECTED_CLIENTS.inc()
        log.info(
            "client_connected",
            sid=sid,
            user_id=claims.user_id,
            organization_id=claims.org,
            role=claims.role,
            remote=remote,
        )

    async def disconnect(self, sid: str, reason: Any = None) -> None:
        claims = self._connected.pop(sid, None)
        if claims is None:
            return
        metrics.CONNECTED_CLIENTS.dec()
        log.info(
            "client_disconnected",
            sid=sid,
            user_id=claims.user_id,
            organization_id=claims.org,
            reason=str(reason) if reason is not None else None,
        )


def rooms_for(envelope: Envelope) -> list[str]:
    """Who receives an event: its organization's staff (admins, agents, bots), and the customer
    the ticket is for. python-socketio sends once to a connection that is in both rooms."""
    rooms = [org_room(envelope.organization_id)]
    data = envelope.data
    requester = (
        data.get("requester_id") if isinstance(data, dict) else getattr(data, "requester_id", None)
    )
    if isinstance(requester, int):
        rooms.append(user_room(requester))
    return rooms
