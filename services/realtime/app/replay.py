"""Replay: a reconnecting client gets every event it missed for its rooms, then live ones.

The client sends the ``offset`` of the last event it processed as ``auth.last_event_id``.
The entries after it are taken from this node's memory when it reaches back that far, or read
from Redis (``XRANGE``) in batches until memory does; each is sent to the connection only if
its rooms meet the connection's rooms (so audience rules hold for replay exactly as live).

The hand-over is gap- and duplicate-free because it is synchronous: the last batch from memory
is queued and the connection joins its rooms with no await in between, while the reader only
delivers between awaits (see ``stream``). Every entry up to the reader's position was replayed,
every later one arrives live, each exactly once.

A position the stream no longer holds (trimmed by MAXLEN), older than ``max_age``, not an id,
or beyond the newest entry (a stream that was reset) gets ``resync``: the client refetches its
state over the REST API and continues live from the ``offset`` it is given.
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import structlog
from redis.exceptions import ResponseError

from app import metrics
from app.entries import EntryKey, decode_entry, parse_id, valid_id
from app.fanout import Fanout
from app.stream import StreamReader

BATCH: Final = 500
# How long to wait for this node's reader to reach a position another node already delivered.
CATCH_UP_WAIT_S: Final = 5.0
log = structlog.get_logger("realtime.replay")


@dataclass
class Outcome:
    replayed: int
    offset: str
    resync: str | None = None  # why the client must refetch, when it must


class Replayer:
    def __init__(self, reader: StreamReader, fanout: Fanout, *, max_age_s: int) -> None:
        self._reader = reader
        self._fanout = fanout
        self._max_age_ms = max_age_s * 1000

    async def hand_over(
        self, sid: str, rooms: set[str], since: Any, join: Callable[[], bool]
    ) -> Outcome | None:
        """Replay after ``since`` (None: nothing to replay) and join; None if the connection
        went away meanwhile (``join`` answers False)."""
        reason = None if since is None else await self._unusable(since)
        if since is None or reason is not None:
            await self._reader_started()
            if not join():
                return None
            if reason is not None:
                metrics.REPLAYS.labels(reason).inc()
            return Outcome(0, self._position(), reason)
        replayed, outcome = 0, None
        pos = parse_id(since)
        deadline = time.monotonic() + CATCH_UP_WAIT_S
        while outcome is None:
            recent = self._reader.entries_after(pos)
            if recent is not None and self._reader.last_id is not None:
                if parse_id(self._reader.last_id) < pos:  # we are behind the client
                    if time.monotonic() > deadline:
                        return self._resync(join, "unknown_offset")
                    await asyncio.sleep(0.02)
                    continue
                # From here to the join: no await (see the module's docstring).
                for entry in recent:
                    if entry.rooms & rooms and self._fanout.to_sid(entry.packet, sid):
                        replayed += 1
                if not join():
                    return None
                outcome = Outcome(replayed, self._position())
                break
            pos, sent, progressed = await self._from_redis(sid, rooms, pos)
            replayed += sent
            if not progressed:
                if time.monotonic() > deadline:
                    return self._resync(join, "unknown_offset")
                await asyncio.sleep(0.02)
        metrics.REPLAYS.labels("replayed").inc()
        metrics.DELIVERIES.labels("replay").inc(replayed)
        return outcome

    def _resync(self, join: Callable[[], bool], reason: str) -> Outcome | None:
        if not join():
            return None
        metrics.REPLAYS.labels(reason).inc()
        return Outcome(0, self._position(), reason)

    def _position(self) -> str:
        return self._reader.last_id or "0-0"

    async def _reader_started(self) -> None:
        deadline = time.monotonic() + CATCH_UP_WAIT_S
        while self._reader.last_id is None and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)

    async def _from_redis(
        self, sid: str, rooms: set[str], pos: EntryKey
    ) -> tuple[EntryKey, int, bool]:
        """One batch after ``pos``, not beyond what the reader has delivered live."""
        limit = parse_id(self._reader.last_id) if self._reader.last_id else None
        batch = await self._reader.redis.xrange(
            self._reader.stream, min=f"({pos[0]}-{pos[1]}", max="+", count=BATCH
        )
        sent, start = 0, pos
        for raw_id, fields in batch:
            entry_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            key = parse_id(entry_id)
            if limit is None or key > limit:
                break
            entry = decode_entry(entry_id, fields)
            if entry is not None and entry.rooms & rooms and self._fanout.to_sid(entry.packet, sid):
                sent += 1
            pos = key
        return pos, sent, pos != start

    async def _unusable(self, since: Any) -> str | None:
        """Why replay from ``since`` cannot be complete, or None when it can."""
        if not valid_id(since):
            return "invalid_offset"
        key = parse_id(since)
        if key[0] < time.time() * 1000 - self._max_age_ms:
            return "too_old"
        last = self._reader.last_id
        if (
            last is not None
            and key <= parse_id(last)
            and self._reader.entries_after(key) is not None
        ):
            return None  # this node's memory reaches back that far
        try:
            info = await self._reader.redis.xinfo_stream(self._reader.stream)
        except ResponseError:  # no such stream
            return None if key == (0, 0) else "unknown_offset"
        newest = _text(info.get("last-generated-id")) or "0-0"
        if key > parse_id(newest):
            return "unknown_offset"
        # XDEL: an entry after the position may be gone.
        deleted = _text(info.get("max-deleted-entry-id"))
        if deleted is not None and valid_id(deleted) and key < parse_id(deleted):
            return "trimmed"
        # MAXLEN trimming: entries before the first one were dropped; whether the client had
        # seen them all cannot be told, so a position before the first entry must resync.
        first = info.get("first-entry")
        length, added = info.get("length"), info.get("entries-added")
        trimmed = added is None or (
            isinstance(length, int) and isinstance(added, int) and added > length
        )
        if first and trimmed and key < parse_id(_text(first[0]) or "0-0"):
            return "trimmed"
        return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
