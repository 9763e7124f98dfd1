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
"""

import asyncio
from collections.abc import Iterable
from typing import Any, Final

import structlog
from engineio import packet as eio_packet

from app import metrics

NAMESPACE: Final = "/"
log = structlog.get_logger("realtime.fanout")


class Fanout:
    def __init__(self, sio: Any, *, max_queued: int) -> None:
        self._sio = sio
        self._max_queued = max_queued
        self._cutting: set[str] = set()

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
        pkt = eio_packet.Packet(eio_packet.MESSAGE, data=packet)
        sockets = self._sio.eio.sockets
        sent = 0
        for eio_sid in targets.values():
            if self._put(sockets.get(eio_sid), eio_sid, pkt):
                sent += 1
        return sent

    def to_sid(self, packet: str, sid: str) -> bool:
        eio_sid = self._sio.manager.eio_sid_from_sid(sid, NAMESPACE)
        if eio_sid is None:
            return False
        pkt = eio_packet.Packet(eio_packet.MESSAGE, data=packet)
        return self._put(self._sio.eio.sockets.get(eio_sid), eio_sid, pkt)

    def _put(self, socket: Any, eio_sid: str, pkt: Any) -> bool:
        if socket is None or socket.closed or socket.closing:
            return False
        queue: asyncio.Queue[Any] = socket.queue
        if queue.qsize() >= self._max_queued:
            self._cut(eio_sid)
            return False
        queue.put_nowait(pkt)
        return True

    def _cut(self, eio_sid: str) -> None:
        if eio_sid in self._cutting:
            return
        self._cutting.add(eio_sid)
        metrics.SLOW_CONSUMERS.inc()
        log.warning("slow_consumer_disconnected", eio_sid=eio_sid, limit=self._max_queued)

        async def close() -> None:
            try:
                await self._sio.eio.disconnect(eio_sid)
            finally:
                self._cutting.discard(eio_sid)

        task = asyncio.get_running_loop().create_task(close())
        _background.add(task)
        task.add_done_callback(_background.discard)


_background: set[asyncio.Task[None]] = set()
