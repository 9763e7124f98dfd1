"""Socket.IO connections: authenticate, join rooms, replay, and answer the client's messages.

Connecting: ``auth = {"token", "last_event_id"?, "subscriptions"?: [{"kind", "id"}]}``. A
missing, forged or expired token is refused with ``{"code", "message"}`` as the refusal's
data; so is a user over the connection cap. Once accepted, the connection is replayed what it
missed (``replay``), joins its rooms and gets ``ready`` (or ``resync`` then ``ready``).

Client messages (each answered by an acknowledgement ``{"ok": true, ...}`` or, on refusal,
``{"ok": false, "error": {"code", "message"}}`` and also an ``error`` message, so a client that
asked for no acknowledgement still hears of it): ``subscribe`` / ``unsubscribe``
``{"kind": "ticket" | "queue", "id"}``, ``renew`` ``{"token"}``, ``presence``
``{"ticket_id", "state": "viewing" | "typing" | "left"}``, ``status``
``{"status": "online" | "away"}``. Anything else gets ``error`` with ``unknown_event``.
"""

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import socketio
import structlog

from app import metrics
from app.access import AccessUnavailable, RoomAccessClient
from app.auth import TokenError, TokenMissing, verify_token
from app.codec import message_packet
from app.config import Settings
from app.connection import Connection
from app.fanout import Fanout
from app.limits import ConnectionRegistry, TokenBucket
from app.presence import Presence, TicketPresence
from app.replay import Replayer
from app.rooms import (
    Kind,
    base_rooms,
    is_staff,
    join_allowed,
    kind_room,
    public_name,
    staff_org_room,
)
from app.server import NAMESPACE, RealtimeServer
from helpdesk_shared import RealtimeClaims

MAX_AUTH_SUBSCRIPTIONS: Final = 50
# Refused messages in a row after which a connection is closed (it is not a dashboard).
MAX_REFUSED_IN_A_ROW: Final = 200
log = structlog.get_logger("realtime.sockets")

Reply = dict[str, Any]


class ClientError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _handler(
    name: str,
) -> Callable[
    [Callable[["Realtime", Connection, Any], Awaitable[Reply]]],
    Callable[..., Awaitable[Reply]],
]:
    """Look the connection up, turn ClientError (and any bug) into an error reply."""

    def wrap(
        method: Callable[["Realtime", Connection, Any], Awaitable[Reply]],
    ) -> Callable[..., Awaitable[Reply]]:
        @functools.wraps(method)
        async def handle(self: "Realtime", sid: str, *args: Any) -> Reply:
            data = args[0] if args else None
            conn = self.connections.get(sid)
            try:
                if conn is None:
                    raise ClientError("not_ready", "the connection is not authenticated yet")
                reply = await method(self, conn, data)
            except ClientError as exc:
                return await self.refuse(sid, exc.code, exc.message, name)
            except Exception:
                log.exception("message_failed", sid=sid, event=name)
                return await self.refuse(sid, "internal_error", "the server failed", name)
            metrics.CLIENT_MESSAGES.labels(name, "ok").inc()
            return {"ok": True, **reply}

        return handle

    return wrap


class Realtime:
    def __init__(
        self,
        sio: RealtimeServer,
        settings: Settings,
        *,
        fanout: Fanout,
        replayer: Replayer,
        access: RoomAccessClient,
        registry: ConnectionRegistry,
        presence: Presence,
    ) -> None:
        self.sio = sio
        self.settings = settings
        self.fanout = fanout
        self.replayer = replayer
        self.access = access
        self.registry = registry
        self.presence = presence
        self.secret = settings.realtime_token_secret.get_secret_value()
        self.connections: dict[str, Connection] = {}
        self.draining = False
        self._tasks: set[asyncio.Task[Any]] = set()

    def register(self) -> None:
        sio = self.sio
        sio.gate = self.gate
        sio.reject = self.refuse
        sio.on("connect", self.connect)
        sio.on("disconnect", self.disconnect)
        sio.on("subscribe", self.on_subscribe)
        sio.on("unsubscribe", self.on_unsubscribe)
        sio.on("renew", self.on_renew)
        sio.on("presence", self.on_presence)
        sio.on("status", self.on_status)
        sio.on("*", self.on_unknown)

    # Connecting -------------------------------------------------------------------------------

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        remote = environ.get("REMOTE_ADDR")
        try:
            # While draining a node still accepts: a refused connection is not retried by the
            # Socket.IO clients, a closed one is (and readiness already sends new ones away).
            token = auth.get("token") if isinstance(auth, dict) else None
            if not isinstance(token, str) or not token:
                raise TokenMissing('a realtime token is required: connect with auth={"token": ...}')
            claims = verify_token(token, self.secret)
            if not await self.registry.admit(claims.user_id, sid):
                raise _Refusal(
                    "too_many_connections",
                    f"at most {self.settings.realtime_max_connections_per_user} connections "
                    "per user; close another one",
                )
        except (TokenError, _Refusal) as exc:
            metrics.REFUSED_CONNECTIONS.labels(exc.code).inc()
            log.info("connect_refused", sid=sid, code=exc.code, reason=exc.message, remote=remote)
            # Two arguments: the message, and the data the client receives beside it.
            raise socketio.exceptions.ConnectionRefusedError(
                exc.message, {"code": exc.code, "message": exc.message}
            ) from None
        assert isinstance(auth, dict)
        conn = Connection(
            sid,
            claims,
            TokenBucket(self.settings.realtime_message_rate, self.settings.realtime_message_burst),
        )
        self.connections[sid] = conn
        metrics.CONNECTED_CLIENTS.inc()
        log.info(
            "client_connected",
            sid=sid,
            user_id=claims.user_id,
            organization_id=claims.org,
            role=claims.role,
            remote=remote,
            replay=auth.get("last_event_id") is not None,
        )
        # After the handler returns python-socketio queues the CONNECT packet (no await in
        # between), so everything the task sends comes after it.
        conn.start_task = self._spawn(
            self._start(conn, auth.get("last_event_id"), auth.get("subscriptions"))
        )

    async def _start(self, conn: Connection, since: Any, wanted: Any) -> None:
        sid, claims = conn.sid, conn.claims
        conn.rooms.update(base_rooms(claims))
        for item in wanted[:MAX_AUTH_SUBSCRIPTIONS] if isinstance(wanted, list) else []:
            try:
                kind, ident = _parse_room_request(item)
                room, _ = await self._authorize(conn, kind, ident)
                conn.rooms.add(room)
            except ClientError as exc:
                await self.refuse(sid, exc.code, exc.message, "subscribe")

        def join() -> bool:
            if self.connections.get(sid) is not conn:
                return False  # gone meanwhile
            for room in conn.rooms:
                self.sio.manager.basic_enter_room(sid, NAMESPACE, room)
            conn.live = True
            return True

        outcome = await self.replayer.hand_over(sid, conn.rooms, since, join)
        if outcome is None:
            return
        if outcome.resync is not None:
            self.fanout.to_sid(
                message_packet("resync", {"reason": outcome.resync, "offset": outcome.offset}), sid
            )
        ready = {
            "offset": outcome.offset,
            "replayed": outcome.replayed,
            "rooms": sorted(public_name(r) for r in conn.rooms),
            "user_id": claims.user_id,
            "exp": claims.exp,
            "node": self.settings.node_id,
        }
        self.fanout.to_sid(message_packet("ready", ready), sid)
        self._schedule_expiry(conn)
        if is_staff(claims):
            try:
                await self.presence.agents_seen([(claims.org, claims.user_id)])
            except Exception as exc:
                log.warning("agent_presence_failed", error=str(exc))

    async def disconnect(self, sid: str, reason: Any = None) -> None:
        conn = self.connections.pop(sid, None)
        if conn is None:
            return
        metrics.CONNECTED_CLIENTS.dec()
        conn.cancel_timers()
        if conn.start_task is not None and not conn.start_task.done():
            conn.start_task.cancel()
        claims = conn.claims
        for ticket_id in list(conn.presence):
            await self._leave_presence(conn, ticket_id)
        remaining = await self.registry.release(claims.user_id, sid)
        if remaining == 0 and is_staff(claims):
            try:
                await self.presence.agent_gone(claims.org, claims.user_id)
            except Exception as exc:
                log.warning("agent_presence_failed", error=str(exc))
        log.info(
            "client_disconnected",
            sid=sid,
            user_id=claims.user_id,
            organization_id=claims.org,
            reason=str(reason) if reason is not None else None,
        )

    # Messages ---------------------------------------------------------------------------------

    def gate(self, sid: str, raw: str) -> tuple[str, str] | None:
        """Size and rate, checked on the raw text before anything is decoded."""
        if len(raw) > self.settings.realtime_max_message_bytes:
            return "message_too_large", (
                f"messages are limited to {self.settings.realtime_max_message_bytes} bytes"
            )
        conn = self.connections.get(sid)
        if conn is None or raw[:1] not in {"2", "3"}:  # only events and acks are counted
            return None
        if conn.bucket.take():
            conn.refused_in_a_row = 0
            return None
        return "rate_limited", (
            f"at most {self.settings.realtime_message_rate:g} messages per second "
            f"(bursts of {self.settings.realtime_message_burst})"
        )

    async def refuse(self, sid: str, code: str, message: str, event: str | None) -> Reply:
        """Tell the client why its message was refused; the acknowledgement's body too."""
        metrics.CLIENT_MESSAGES.labels(event or "<none>", code).inc()
        error = {"code": code, "message": message}
        await self.sio.emit("error", {**error, "event": event}, to=sid)
        conn = self.connections.get(sid)
        if conn is not None:
            conn.refused_in_a_row += 1
            if conn.refused_in_a_row > MAX_REFUSED_IN_A_ROW:
                log.warning("client_dropped", sid=sid, reason="too many refused messages")
                self._spawn(self.sio.disconnect(sid))
        return {"ok": False, "error": error}

    async def on_unknown(self, event: str, sid: str, *_: Any) -> Reply:
        return await self.refuse(sid, "unknown_event", f"no message named {event[:100]!r}", None)

    @_handler("subscribe")
    async def on_subscribe(self, conn: Connection, data: Any) -> Reply:
        kind, ident = _parse_room_request(data)
        room, number = await self._authorize(conn, kind, ident)
        if conn.live:
            self.sio.manager.basic_enter_room(conn.sid, NAMESPACE, room)
        conn.rooms.add(room)
        return {"room": public_name(room), "number": number}

    @_handler("unsubscribe")
    async def on_unsubscribe(self, conn: Connection, data: Any) -> Reply:
        kind, ident = _parse_room_request(data)
        room = kind_room(kind, ident, staff=is_staff(conn.claims))
        was = room in conn.rooms
        conn.rooms.discard(room)
        if conn.live:
            self.sio.manager.basic_leave_room(conn.sid, NAMESPACE, room)
        if kind == "ticket" and ident in conn.presence:
            await self._leave_presence(conn, ident)
        return {"room": public_name(room), "was_subscribed": was}

    @_handler("renew")
    async def on_renew(self, conn: Connection, data: Any) -> Reply:
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise ClientError("invalid_message", 'renew takes {"token": "<a new token>"}')
        try:
            claims = verify_token(token, self.secret)
        except TokenError as exc:
            raise ClientError(exc.code, exc.message) from None
        old = conn.claims
        if (claims.user_id, claims.org, claims.role) != (old.user_id, old.org, old.role):
            raise ClientError("token_mismatch", "the new token is for another user or role")
        if claims.company != old.company:
            self._move_company(conn, old, claims)
        conn.claims = claims
        self._schedule_expiry(conn)
        return {"exp": claims.exp}

    @_handler("presence")
    async def on_presence(self, conn: Connection, data: Any) -> Reply:
        if not is_staff(conn.claims):
            raise ClientError("forbidden", "presence is for staff")
        ticket_id = data.get("ticket_id") if isinstance(data, dict) else None
        state = data.get("state") if isinstance(data, dict) else None
        if not _positive_int(ticket_id) or state not in {"viewing", "typing", "left"}:
            raise ClientError(
                "invalid_message",
                'presence takes {"ticket_id": <id>, "state": "viewing" | "typing" | "left"}',
            )
        assert isinstance(ticket_id, int)
        if state == "left":
            await self._leave_presence(conn, ticket_id)
            return {"presence": await self.presence.current(ticket_id)}
        if kind_room("ticket", ticket_id, staff=True) not in conn.rooms:
            raise ClientError("not_subscribed", "subscribe to the ticket first")
        mine = conn.presence.setdefault(ticket_id, TicketPresence(conn.claims.org, "viewing"))
        mine.state = "typing" if state == "typing" else "viewing"
        mine.typing_until = self.presence.typing_deadline() if state == "typing" else 0.0
        current = await self.presence.set(
            conn.sid, conn.claims.user_id, conn.claims.org, ticket_id, mine.state
        )
        return {"presence": current}

    @_handler("status")
    async def on_status(self, conn: Connection, data: Any) -> Reply:
        status = data.get("status") if isinstance(data, dict) else None
        if not is_staff(conn.claims):
            raise ClientError("forbidden", "status is for staff")
        if status not in {"online", "away"}:
            raise ClientError("invalid_message", 'status takes {"status": "online" | "away"}')
        await self.presence.set_status(conn.claims.org, conn.claims.user_id, status)
        return {"status": status}

    # Helpers ----------------------------------------------------------------------------------

    async def _authorize(self, conn: Connection, kind: Kind, ident: int) -> tuple[str, int | None]:
        claims = conn.claims
        staff = is_staff(claims)
        if kind == "queue" and not staff:
            raise ClientError("forbidden", "customers cannot subscribe to queues")
        try:
            access = await self.access.check(claims.user_id, kind, ident)
        except AccessUnavailable as exc:
            raise ClientError("unavailable", f"cannot check access now ({exc}); retry") from None
        if not access.allowed or access.organization_id != claims.org:
            reason = access.reason or "you may not see it"
            raise ClientError("forbidden", f"{kind} {ident}: {reason}")
        room = kind_room(kind, ident, staff=staff)
        if not join_allowed(claims, room):  # cannot happen: the last line of defence
            raise ClientError("forbidden", "not a room for this connection")
        return room, access.number

    async def _leave_presence(self, conn: Connection, ticket_id: int) -> None:
        mine = conn.presence.pop(ticket_id, None)
        if mine is None:
            return
        try:
            await self.presence.remove(conn.sid, mine.organization_id, ticket_id)
        except Exception as exc:
            log.warning("presence_remove_failed", ticket_id=ticket_id, error=str(exc))

    def _move_company(self, conn: Connection, old: RealtimeClaims, new: RealtimeClaims) -> None:
        for room in set(base_rooms(old)) - set(base_rooms(new)):
            conn.rooms.discard(room)
            if conn.live:
                self.sio.manager.basic_leave_room(conn.sid, NAMESPACE, room)
        for room in set(base_rooms(new)) - conn.rooms:
            conn.rooms.add(room)
            if conn.live:
                self.sio.manager.basic_enter_room(conn.sid, NAMESPACE, room)

    def _schedule_expiry(self, conn: Connection) -> None:
        """``token.expiring`` ahead of the token's expiry, ``token.expired`` and a disconnect
        at it, unless ``renew`` brought a fresh token before."""
        conn.cancel_timers()
        loop = asyncio.get_running_loop()
        left = conn.claims.exp - time.time()
        warn_in = max(left - self.settings.realtime_token_warning_seconds, 0.0)
        payload = {"exp": conn.claims.exp}
        conn.timers.append(
            loop.call_later(
                warn_in, lambda: self._spawn(self.sio.emit("token.expiring", payload, to=conn.sid))
            )
        )
        conn.timers.append(loop.call_later(max(left, 0.0), lambda: self._spawn(self._expire(conn))))

    async def _expire(self, conn: Connection) -> None:
        if self.connections.get(conn.sid) is not conn:
            return
        log.info("token_expired_disconnect", sid=conn.sid, user_id=conn.claims.user_id)
        await self.sio.emit(
            "token.expired",
            {"exp": conn.claims.exp, "message": "get a new token and connect again"},
            to=conn.sid,
        )
        await self.sio.disconnect(conn.sid)

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background_task_failed", error=repr(task.exception()))

    async def cancel_tasks(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)

    # The node: heartbeats, shutdown --------------------------------------------------------

    async def heartbeat(self) -> None:
        conns = list(self.connections.values())
        await self.registry.refresh((c.claims.user_id, c.sid) for c in conns)
        await self.presence.agents_seen(
            (c.claims.org, c.claims.user_id) for c in conns if is_staff(c.claims)
        )
        await self.presence.refresh(
            (c.sid, c.claims.user_id, ticket_id, p)
            for c in conns
            for ticket_id, p in c.presence.items()
        )
        table = self.sio.manager.rooms.get(NAMESPACE, {})
        metrics.ROOMS.set(sum(1 for room in table if isinstance(room, str) and ":" in room))

    def announce_shutdown(self, offset: str | None) -> int:
        """Tell every connection this node is going away: reconnect, replaying from offset."""
        packet = message_packet("reconnect", {"reason": "shutdown", "offset": offset})
        return sum(self.fanout.to_sid(packet, sid) for sid in list(self.connections))

    async def emit_presence(self, ticket_id: int, payload: dict[str, Any]) -> None:
        await self.sio.emit(
            "presence.changed", payload, to=kind_room("ticket", ticket_id, staff=True)
        )


class _Refusal(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _parse_room_request(data: Any) -> tuple[Kind, int]:
    kind = data.get("kind") if isinstance(data, dict) else None
    ident = data.get("id") if isinstance(data, dict) else None
    if kind not in {"ticket", "queue"} or not _positive_int(ident):
        raise ClientError(
            "invalid_message", 'takes {"kind": "ticket" | "queue", "id": <positive integer>}'
        )
    assert isinstance(ident, int)
    return ("ticket" if kind == "ticket" else "queue"), ident


__all__ = ["Realtime", "staff_org_room"]
