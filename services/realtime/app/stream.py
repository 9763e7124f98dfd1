"""The reader that turns entries of the events stream into deliveries to Socket.IO rooms.

One task per process does ``XREAD BLOCK`` on the stream and delivers each event to the rooms it
concerns. No consumer group: every realtime process must see every event (each holds its own
connections). The reader also keeps the most recent entries in memory (``buffer_size``), so
that a client coming back after a short absence is replayed without a round trip to Redis.

Where it starts: the stream's last entry when the process starts (clients that were away ask
for what they missed; see ``replay``). Afterwards it always continues from the last id it read,
also across a Redis outage: it backs off (0.1 s doubling to 5 s), reconnects and reads on from
that id, so every entry added after the outage (or relayed late by the outbox once Redis is
back) is delivered once. A malformed entry is logged and skipped; nothing in an entry stops
the reader.

Delivery is synchronous (no await between taking an entry and advancing ``last_id``): at any
point where another task runs, every entry up to ``last_id`` has been delivered and none after
it, which is what replay relies on. A read of several entries is delivered inside one
``batch`` (``Fanout.batch``: one write per connection for all of them), still with no await.
"""

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Final

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app import metrics
from app.entries import STREAM_START, Entry, EntryKey, decode_entry, parse_id

Deliver = Callable[[Entry], None]
# Opened around the deliveries of a read that returned several entries (Fanout.batch).
Batch = Callable[[], AbstractContextManager[Any]]

BLOCK_MS: Final = 5_000
COUNT: Final = 300
BACKOFF_INITIAL: Final = 0.1
BACKOFF_MAX: Final = 5.0
# Readiness: a healthy reader completes a read at least every BLOCK_MS; allow for slack.
ALIVE_WITHIN_SECONDS: Final = 15.0
STOP_TIMEOUT: Final = 10.0
STOP_RETRY_INTERVAL: Final = 0.2
BUFFER_SIZE: Final = 10_000

log = structlog.get_logger("realtime.stream")


class StreamReader:
    def __init__(
        self,
        redis: Redis,
        stream: str,
        deliver: Deliver,
        *,
        buffer_size: int = BUFFER_SIZE,
        block_ms: int = BLOCK_MS,
        count: int = COUNT,
        backoff_initial: float = BACKOFF_INITIAL,
        backoff_max: float = BACKOFF_MAX,
        batch: Batch | None = None,
    ) -> None:
        self._redis = redis
        self._stream = stream
        self._deliver = deliver
        self._batch = batch
        # The latest entries, oldest first; every entry after ``_floor`` is in it.
        self._recent: deque[Entry] = deque(maxlen=buffer_size)
        self._floor: EntryKey | None = None
        self._block_ms = block_ms
        self._count = count
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._task: asyncio.Task[None] | None = None
        self._last_ok: float | None = None  # monotonic time of the last completed read
        self._failing = False
        self._stopping = False
        self.last_id: str | None = None  # None until the start position is known

    @property
    def stream(self) -> str:
        return self._stream

    @property
    def redis(self) -> Redis:
        return self._redis

    def entries_after(self, key: EntryKey) -> list[Entry] | None:
        """The delivered entries after ``key``, in order; None when memory does not reach back
        that far (or the reader has not started): then ask Redis."""
        if self._floor is None or key < self._floor:
            return None
        found: list[Entry] = []
        for entry in reversed(self._recent):
            if entry.key <= key:
                break
            found.append(entry)
        found.reverse()
        return found

    # Lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.create_task(self.run(), name=f"stream-reader:{self._stream}")

    async def stop(self, grace: float = STOP_TIMEOUT) -> None:
        """Stop the loop and wait for it, at most ``grace`` seconds.

        Cancelling once is not enough on Python 3.11: redis-py sends each command under
        ``asyncio.wait_for``, which there swallows a cancellation that arrives just as the send
        completes (CPython gh-86296, fixed in 3.12), and the loop would go on reading. So the
        loop also checks a flag, and the cancellation is repeated until the task has ended.
        """
        self._stopping = True
        task, self._task = self._task, None
        if task is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=STOP_RETRY_INTERVAL)
            if not task.done() and loop.time() >= deadline:
                log.warning("stream_reader_stop_timeout", stream=self._stream)
                return
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def is_alive(self, within: float = ALIVE_WITHIN_SECONDS) -> bool:
        """Whether the last attempt succeeded and it completed a read in the last ``within`` s."""
        if self._task is None or self._task.done() or self._failing or self._last_ok is None:
            return False
        return time.monotonic() - self._last_ok <= within

    async def check_alive(self) -> None:
        """A readiness check (kit ``readiness``): raise when the reader is not reading."""
        if not self.is_alive():
            raise RuntimeError(f"no completed stream read in the last {ALIVE_WITHIN_SECONDS:g} s")

    # The loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        delay = self._backoff_initial
        while not self._stop_requested():
            try:
                await self._read_once()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self._failing = True
                log.warning(
                    "stream_read_failed",
                    stream=self._stream,
                    last_id=self.last_id,
                    error=f"{type(exc).__name__}: {exc}",
                    retry_in_s=delay,
                )
            except Exception:
                # A bug, not an outage: report it, but keep the reader (and the service) going.
                self._failing = True
                log.exception("stream_reader_error", stream=self._stream, retry_in_s=delay)
            else:
                if self._failing:
                    log.info("stream_read_recovered", stream=self._stream, last_id=self.last_id)
                self._failing = False
                delay = self._backoff_initial
                continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff_max)

    def _stop_requested(self) -> bool:
        """Whether to leave the loop, even if a cancellation was swallowed on its way here."""
        task = asyncio.current_task()
        return self._stopping or (task is not None and task.cancelling() > 0)

    async def _read_once(self) -> None:
        if self.last_id is None:
            start = await self._current_last_id()
            self._floor = parse_id(start)
            self.last_id = start
            self._last_ok = time.monotonic()
            log.info("stream_reader_started", stream=self._stream, from_id=self.last_id)
        response = await self._redis.xread(
            {self._stream: self.last_id}, count=self._count, block=self._block_ms
        )
        self._last_ok = time.monotonic()
        entries = list(_entries(response))
        gathering = self._batch if self._batch is not None and len(entries) > 1 else nullcontext
        with gathering():
            for entry_id, fields in entries:
                if self._stop_requested():
                    return  # the rest is left unread, as if the batch had been shorter
                self._handle(entry_id, fields)
                # Advance past every entry, delivered or skipped, so none is read twice.
                self.last_id = entry_id

    async def _current_last_id(self) -> str:
        newest = await self._redis.xrevrange(self._stream, count=1)
        return _text(newest[0][0]) if newest else STREAM_START

    def _handle(self, entry_id: str, fields: Mapping[Any, Any] | None) -> None:
        entry = decode_entry(entry_id, fields)
        if entry is None:
            return
        try:
            self._deliver(entry)
        except Exception:
            log.exception(
                "stream_entry_delivery_failed", entry_id=entry_id, event_id=entry.event_id
            )
        if len(self._recent) == self._recent.maxlen:
            self._floor = self._recent[0].key
        self._recent.append(entry)
        metrics.event_emitted(entry.type, entry.occurred_at)


def _entries(response: Any) -> Iterator[tuple[str, Mapping[Any, Any] | None]]:
    """The entries of an XREAD reply for one stream, in the RESP2 or RESP3 shape."""
    if not response:
        return
    streams = response.values() if isinstance(response, dict) else (s[1] for s in response)
    for entries in streams:
        # RESP3 wraps the entries of each stream in one more list: [[(id, fields), ...]].
        if entries and isinstance(entries[0], list):
            entries = entries[0]
        for entry_id, fields in entries:
            yield _text(entry_id), fields


def _text(value: str | bytes | None) -> str:
    if value is None:
        raise ValueError("stream entry without an id")
    return value.decode() if isinstance(value, bytes) else value
