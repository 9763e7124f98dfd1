"""Putting one encoded packet into the send queues of every connection in some rooms.

python-socketio's ``emit`` to a room creates one asyncio task per recipient (and each send
checks ping timeouts and formats a log line); for 1,000 dashboards that is 1,000 tasks per
event, the largest cost of a fan-out. Here the packet, encoded once, is put straight into each
connection's Engine.IO queue (the queue its writer task already drains), with no task and no
await: a delivery is atomic with respect to everything else on the event loop, which is what
lets replay hand a connection over to the live stream without a gap or a duplicate.

This reaches into python-socketio's room table and python-engineio's sockets (pinned versions,
covered by the tests). A connection whose queue is longer than ``max_queued`` is too slow to
keep up: it is closed at the transport level, so its client reconnects and replays.

A connection linked to its transport (``direct``: an accepted WebSocket) whose writer is idle
gets the event's WebSocket frame, built once for all, straight onto its transport instead; the
queue is still used whenever Engine.IO has something of its own to send first. There the limit
is ``max_buffered`` bytes the kernel has not taken yet: above it the connection is dropped at
once (the same outcome: its client reconnects and replays).

Inside ``batch()`` (the stream reader opens one when a read returns several entries, i.e. when
it is catching up) the direct frames are gathered and each connection gets one write with all
of its frames, in order, at the end: a node that fell behind catches up with fewer system calls
instead of more.
"""

import asyncio
import contextlib
from collections.abc import Iterable, Iterator
from typing import Any, Final

import structlog
from engineio import packet as eio_packet

from app import metrics
from app.direct import FULL, OK, Link, SocketQueue, engineio_frame

NAMESPACE: Final = "/"
log = structlog.get_logger("realtime.fanout")


class Fanout:
    def __init__(self, sio: Any, *, max_queued: int, max_buffered: int = 1 << 20) -> None:
        self._sio = sio
        self._max_queued = max_queued
        self._max_buffered = max_buffered
        self._cutting: set[str] = set()
        # Inside batch(): the frames gathered for each linked connection, in order.
        self._pending: dict[Link, list[bytes]] | None = None

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Gather direct writes until the block ends, then one write per connection.

        No await may happen inside: nothing else may write to a connection meanwhile (every
        delivery inside is synchronous, like the reader's loop that opens it).
        """
        if self._pending is not None:  # already in one
            yield
            return
        self._pending = {}
        try:
            yield
        finally:
            pending, self._pending = self._pending, None
            self._flush(pending)

    @staticmethod
    def _flush(pending: dict[Link, list[bytes]]) -> None:
        joined: dict[tuple[int, ...], bytes] = {}  # connections of the same rooms share one
        for link, frames in pending.items():
            if len(frames) == 1:
                data = frames[0]
            else:
                key = tuple(map(id, frames))
                data = joined.get(key) or joined.setdefault(key, b"".join(frames))
            try:
                if link.writable():
                    link.write(data)
            except Exception:  # one connection's failure is not the others'
                log.exception("batched_write_failed")

    def to_rooms(self, packet: str, rooms: Iterable[str]) -> int:
        """Deliver to every connection in any of ``rooms``, once each; return how many."""
        table = self._sio.manager.rooms.get(NAMESPACE)
        if not table:
            return 0
        targets: dict[str, str] = {}
        for room in rooms:
            members = table.get(room)
            if members:
                targets.update(members._fwdm)  # sid -> eio sid (python-socketio's bidict)
        if not targets:
            return 0
        out = _Outgoing(packet)
        sockets = self._sio.eio.sockets
        sent = 0
        for eio_sid in targets.values():
            if self._put(sockets.get(eio_sid), eio_sid, out):
                sent += 1
        _count(out, sent)
        return sent

    def to_sid(self, packet: str, sid: str) -> bool:
        eio_sid = self._sio.manager.eio_sid_from_sid(sid, NAMESPACE)
        if eio_sid is None:
            return False
        out = _Outgoing(packet)
        sent = self._put(self._sio.eio.sockets.get(eio_sid), eio_sid, out)
        _count(out, int(sent))
        return sent

    def _put(self, socket: Any, eio_sid: str, out: "_Outgoing") -> bool:
        if socket is None or socket.closed or socket.closing:
            return False
        queue: asyncio.Queue[Any] = socket.queue
        link = queue.direct() if isinstance(queue, SocketQueue) else None
        if link is not None:
            room = link.room_for(self._max_buffered)
            if room != OK:
                if room == FULL:
                    self._cut(eio_sid, link)
                return False  # closing (or cut): its client reconnects and replays
            pending = self._pending
            if pending is None:
                link.transport.write(out.frame())
            elif link in pending:
                pending[link].append(out.frame())
            else:
                pending[link] = [out.frame()]
            out.direct += 1
            return True
        if queue.qsize() >= self._max_queued:
            self._cut(eio_sid)
            return False
        queue.put_nowait(out.packet())
        return True

    def _cut(self, eio_sid: str, link: Link | None = None) -> None:
        if eio_sid in self._cutting:
            return
        metrics.SLOW_CONSUMERS.inc()
        if link is not None:
            log.warning(
                "slow_consumer_disconnected", eio_sid=eio_sid, buffered_limit=self._max_buffered
            )
            link.abort()  # the ASGI app sees the disconnect; nothing to wait for
            return
        self._cutting.add(eio_sid)
        log.warning("slow_consumer_disconnected", eio_sid=eio_sid, limit=self._max_queued)

        async def close() -> None:
            try:
                await self._sio.eio.disconnect(eio_sid)
            finally:
                self._cutting.discard(eio_sid)

        task = asyncio.get_running_loop().create_task(close())
        _background.add(task)
        task.add_done_callback(_background.discard)


class _Outgoing:
    """One Socket.IO packet on its way to many connections: the Engine.IO packet (queue) and
    the WebSocket frame (direct), each made once, when first needed."""

    __slots__ = ("_frame", "_packet", "direct", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.direct = 0  # how many went straight to a transport
        self._packet: Any = None
        self._frame: bytes | None = None

    def packet(self) -> Any:
        if self._packet is None:
            self._packet = eio_packet.Packet(eio_packet.MESSAGE, data=self.text)
        return self._packet

    def frame(self) -> bytes:
        if self._frame is None:
            self._frame = engineio_frame(self.text)
        return self._frame


def _count(out: _Outgoing, sent: int) -> None:
    if out.direct:
        metrics.FANOUT_WRITES.labels("direct").inc(out.direct)
    if sent > out.direct:
        metrics.FANOUT_WRITES.labels("queued").inc(sent - out.direct)


_background: set[asyncio.Task[None]] = set()
