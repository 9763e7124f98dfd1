"""Fan-out frames written straight to the WebSocket transport (app.direct), checked against the
installed python-engineio, python-socketio, uvicorn and websockets.

Most tests run a bare Socket.IO server of ours (RealtimeServer + Fanout under uvicorn, in this
event loop) so that they can act between two steps of the loop; the whole app is covered by
the other tests, which all go through the direct path.
"""

import asyncio
import contextlib
import json
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import socketio
import uvicorn
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from app.codec import message_packet
from app.direct import Link, SocketQueue, engineio_frame, link_for, text_frame
from app.entries import Entry
from app.fanout import NAMESPACE, Fanout
from app.server import RealtimeServer
from app.stream import StreamReader
from tests.support import (
    WAIT_S,
    free_port,
    listening,
    make_settings,
    make_token,
    publish,
    serve,
    ticket_created,
)


def writes(way: str) -> float:
    return REGISTRY.get_sample_value("realtime_fanout_writes_total", {"way": way}) or 0.0


def slow_consumers() -> float:
    return REGISTRY.get_sample_value("realtime_slow_consumers_total") or 0.0


@dataclass
class Bare:
    sio: RealtimeServer
    fanout: Fanout
    url: str
    connected: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    gone: asyncio.Queue[str] = field(default_factory=asyncio.Queue)

    def queue_of(self, sid: str) -> Any:
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, NAMESPACE)
        return self.sio.eio.sockets[eio_sid].queue


@contextlib.asynccontextmanager
async def bare_server(
    *, direct: bool = True, deflate: bool = True, max_buffered: int = 1 << 20
) -> AsyncIterator[Bare]:
    sio = RealtimeServer(direct=direct, async_mode="asgi", transports=["websocket"])
    bare = Bare(sio, Fanout(sio, max_queued=10_000, max_buffered=max_buffered), "")

    async def connect(sid: str, environ: Any, auth: Any) -> None:
        await bare.connected.put(sid)

    async def disconnect(sid: str, reason: Any = None) -> None:
        await bare.gone.put(sid)

    sio.on("connect", connect)
    sio.on("disconnect", disconnect)
    port = free_port()
    config = uvicorn.Config(
        socketio.ASGIApp(sio),
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan="off",
        ws_per_message_deflate=deflate,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn stopped before it started"
        await asyncio.sleep(0.02)
    bare.url = f"http://127.0.0.1:{port}"
    try:
        yield bare
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT_S)


@contextlib.asynccontextmanager
async def client(bare: Bare) -> AsyncIterator[tuple[str, asyncio.Queue[tuple[str, Any]]]]:
    """A python-socketio client; yields the server-side sid and what the client receives."""
    received: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    sio_client = socketio.AsyncClient(reconnection=False)

    async def on_any(event: str, data: Any) -> None:
        await received.put((event, data))

    sio_client.on("*", on_any)
    await sio_client.connect(bare.url, transports=["websocket"], wait_timeout=WAIT_S)
    sid = await asyncio.wait_for(bare.connected.get(), WAIT_S)
    try:
        yield sid, received
    finally:
        await sio_client.disconnect()


def waiting(queue: SocketQueue) -> bool:
    """(A call, so that the type checker does not carry a narrowing past an await.)"""
    return queue.waiting


def linked(queue: SocketQueue) -> Link | None:
    return queue.link


async def idle(queue: SocketQueue) -> None:
    """Until the socket's writer is parked with nothing in hand."""
    for _ in range(1000):
        if queue.direct() is not None:
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the writer never became idle")


async def next_events(received: asyncio.Queue[tuple[str, Any]], n: int) -> list[str]:
    return [(await asyncio.wait_for(received.get(), WAIT_S))[0] for _ in range(n)]


# The frame -------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536, 200_000])
async def test_frames_of_every_length_class_reach_a_real_client(size: int) -> None:
    """7-bit, 16-bit and 64-bit payload lengths, read by python-socketio's own client."""
    async with bare_server() as bare, client(bare) as (sid, received):
        await idle(bare.queue_of(sid))
        text = "x" * size
        assert bare.fanout.to_sid(message_packet("big", {"text": text}), sid)
        event, data = await asyncio.wait_for(received.get(), WAIT_S)
        assert (event, data) == ("big", {"text": text})


def test_text_frame_header() -> None:
    assert text_frame(b"hi") == b"\x81\x02hi"
    assert text_frame(b"a" * 126)[:4] == b"\x81\x7e" + struct.pack("!H", 126)
    assert text_frame(b"a" * 70_000)[:10] == b"\x81\x7f" + struct.pack("!Q", 70_000)
    assert engineio_frame('2["x",1]') == b"\x81\x094" + b'2["x",1]'


# The writer's state ---------------------------------------------------------------------------


async def test_queue_is_direct_only_while_its_writer_is_parked_empty_handed() -> None:
    left, right = socket.socketpair()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(asyncio.Protocol, sock=left)
    try:
        queue = SocketQueue()
        assert queue.direct() is None  # not linked
        queue.link = Link(transport, conn=None)
        assert queue.direct() is None  # linked, but nobody is waiting in get()

        getter = asyncio.create_task(queue.get())
        await asyncio.sleep(0)
        assert queue.waiting
        assert queue.direct() is queue.link

        queue.put_nowait("packet")
        assert queue.direct() is None  # something to send first
        await asyncio.sleep(0)
        # The writer has taken the packet but may not have written it yet: still not direct.
        assert not waiting(queue)
        assert queue.direct() is None
        assert await getter == "packet"

        # A get that ends by timeout (engineio polls with wait_for) leaves it not waiting.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(queue.get(), 0.01)
        assert not waiting(queue)
    finally:
        transport.close()
        right.close()


# Ordering with Engine.IO's own writes ----------------------------------------------------------


async def test_a_delivery_never_overtakes_what_engineio_holds() -> None:
    async with bare_server() as bare, client(bare) as (sid, received):
        queue = bare.queue_of(sid)
        await idle(queue)
        direct, queued = writes("direct"), writes("queued")

        # python-socketio's emit puts its packet in the queue; the writer has not run yet, so the
        # fan-out packet right behind it must wait its turn in the queue too.
        await bare.sio.emit("first", 1, to=sid)
        assert queue.direct() is None
        assert bare.fanout.to_sid(message_packet("second", 2), sid)
        # One step later the writer has taken both out but not necessarily written them.
        await asyncio.sleep(0)
        assert queue.direct() is None
        assert bare.fanout.to_sid(message_packet("third", 3), sid)

        await idle(queue)
        assert bare.fanout.to_sid(message_packet("fourth", 4), sid)
        await bare.sio.emit("fifth", 5, to=sid)
        assert bare.fanout.to_sid(message_packet("sixth", 6), sid)

        assert await next_events(received, 6) == [
            "first",
            "second",
            "third",
            "fourth",
            "fifth",
            "sixth",
        ]
        assert writes("direct") - direct == 1  # "fourth" only
        assert writes("queued") - queued == 3


async def test_many_deliveries_and_emits_interleaved_keep_their_order() -> None:
    async with bare_server() as bare, client(bare) as (sid, received):
        await idle(bare.queue_of(sid))
        expected = []
        for i in range(300):
            name = f"e{i}"
            expected.append(name)
            if i % 7 == 3:
                await bare.sio.emit(name, i, to=sid)
            else:
                assert bare.fanout.to_sid(message_packet(name, i), sid)
            if i % 5 == 0:
                await asyncio.sleep(0)
        assert await next_events(received, 300) == expected


# When not to write directly ---------------------------------------------------------------------


async def _raw_engineio(url: str, *, compress: int) -> tuple[Any, Any]:
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(
        url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket", compress=compress
    )
    assert (await ws.receive_str()).startswith("0{")
    await ws.send_str("40")
    assert (await ws.receive_str()).startswith("40")
    return session, ws


async def test_a_connection_with_per_message_deflate_takes_the_queue() -> None:
    async with bare_server(deflate=True) as bare:
        session, ws = await _raw_engineio(bare.url, compress=15)
        try:
            sid = await asyncio.wait_for(bare.connected.get(), WAIT_S)
            queue = bare.queue_of(sid)
            assert queue.link is None
            direct = writes("direct")
            assert bare.fanout.to_sid(message_packet("hello", {"n": 1}), sid)
            assert json.loads((await ws.receive_str())[2:]) == ["hello", {"n": 1}]
            assert writes("direct") == direct
        finally:
            await ws.close()
            await session.close()


async def test_without_deflate_the_connection_is_linked_and_unlinked_at_its_end() -> None:
    async with bare_server(deflate=True) as bare:
        session, ws = await _raw_engineio(bare.url, compress=0)
        sid = await asyncio.wait_for(bare.connected.get(), WAIT_S)
        queue = bare.queue_of(sid)
        try:
            assert isinstance(queue.link, Link)
            await idle(queue)
            assert bare.fanout.to_sid(message_packet("hello", {"n": 2}), sid)
            assert json.loads((await ws.receive_str())[2:]) == ["hello", {"n": 2}]
        finally:
            await ws.close()
            await session.close()
        assert await asyncio.wait_for(bare.gone.get(), WAIT_S) == sid
        assert linked(queue) is None
        assert not bare.fanout.to_sid(message_packet("late", {}), sid)


async def test_with_direct_writes_off_everything_takes_the_queue() -> None:
    async with bare_server(direct=False) as bare, client(bare) as (sid, received):
        queue = bare.queue_of(sid)
        assert not isinstance(queue, SocketQueue)
        direct = writes("direct")
        assert bare.fanout.to_sid(message_packet("hello", 1), sid)
        assert await next_events(received, 1) == ["hello"]
        assert writes("direct") == direct


def test_link_for_refuses_what_it_does_not_know() -> None:
    async def send(message: Any) -> None:
        pass

    assert link_for(send) is None  # a plain function: no protocol behind it
    assert link_for(None) is None


# A slow consumer ----------------------------------------------------------------------------------


async def test_a_reader_that_stopped_reading_is_dropped_at_the_buffer_limit() -> None:
    async with bare_server(max_buffered=64 * 1024) as bare:
        port = int(bare.url.rsplit(":", 1)[1])
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(sock, ("127.0.0.1", port))
        try:
            await loop.sock_sendall(
                sock,
                b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
                b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            )
            opened = b""
            while b'0{"sid"' not in opened:  # the handshake's answer, then Engine.IO's open
                opened += await asyncio.wait_for(loop.sock_recv(sock, 4096), WAIT_S)
            # "40" (Socket.IO CONNECT) in a masked frame, as clients must send.
            masked = bytes(a ^ b for a, b in zip(b"40", b"ab", strict=True))
            await loop.sock_sendall(sock, b"\x81\x82abcd" + masked)
            sid = await asyncio.wait_for(bare.connected.get(), WAIT_S)
            queue = bare.queue_of(sid)
            await idle(queue)
            cut = slow_consumers()
            chunk = message_packet("bulk", "y" * 60_000)
            # The client reads nothing more: the kernel's buffers fill, then the transport's.
            for _ in range(2_000):
                if not bare.fanout.to_sid(chunk, sid):
                    break
                await asyncio.sleep(0)
            else:
                raise AssertionError("never cut off")
            assert slow_consumers() == cut + 1
            assert await asyncio.wait_for(bare.gone.get(), WAIT_S) == sid
        finally:
            sock.close()


# The whole app -----------------------------------------------------------------------------------


async def test_live_events_of_the_app_are_written_directly(
    app_url: str, redis: Redis, stream: str
) -> None:
    async with listening(app_url, make_token(org=1)) as org1:
        direct = writes("direct")
        for ticket_id in (1, 2, 3):
            await publish(redis, stream, ticket_created(organization_id=1, ticket_id=ticket_id))
        got = [(await org1.next_event())[1]["ticket_id"] for _ in range(3)]
        assert got == [1, 2, 3]
        assert writes("direct") > direct


async def test_the_app_delivers_with_direct_writes_off(redis: Redis, stream: str) -> None:
    settings = make_settings(stream, realtime_direct_writes=False)
    async with serve(settings) as url, listening(url, make_token(org=1)) as org1:
        direct = writes("direct")
        await publish(redis, stream, ticket_created(organization_id=1, ticket_id=9))
        assert (await org1.next_event())[1]["ticket_id"] == 9
        assert writes("direct") == direct


# Batches ------------------------------------------------------------------------------------------


async def test_a_batch_gives_each_connection_its_frames_in_order_at_its_end() -> None:
    async with (
        bare_server() as bare,
        client(bare) as (first, first_received),
        client(bare) as (second, second_received),
    ):
        for sid in (first, second):
            await idle(bare.queue_of(sid))
            await bare.sio.enter_room(sid, "room")
        # The second connection's writer has something in hand: its share takes the queue,
        # behind that, while the first's is gathered and written at the end of the batch.
        await bare.sio.emit("before", 0, to=second)
        direct = writes("direct")
        with bare.fanout.batch():
            for i in range(5):
                assert bare.fanout.to_rooms(message_packet(f"b{i}", i), ["room"]) == 2
            assert bare.fanout.to_sid(message_packet("only-first", 5), first)
            assert first_received.empty()
        assert writes("direct") - direct == 6
        assert await next_events(first_received, 6) == [*(f"b{i}" for i in range(5)), "only-first"]
        assert await next_events(second_received, 6) == ["before", *(f"b{i}" for i in range(5))]


async def test_the_reader_delivers_a_multi_entry_read_in_one_batch(
    redis: Redis, stream: str
) -> None:
    delivered: list[tuple[str, bool]] = []
    opened: list[int] = []
    inside = False

    @contextlib.contextmanager
    def batch() -> Any:
        nonlocal inside
        opened.append(len(delivered))
        inside = True
        try:
            yield
        finally:
            inside = False

    def deliver(entry: Entry) -> None:
        delivered.append((entry.id, inside))

    reader = StreamReader(redis, stream, deliver, block_ms=200, batch=batch)
    ids = [
        await publish(redis, stream, ticket_created(organization_id=1, ticket_id=n))
        for n in (1, 2, 3)
    ]
    reader.last_id = "0-0"  # read from the start: all three in one XREAD
    try:
        reader.start()
        for _ in range(500):
            if len(delivered) == 3:
                break
            await asyncio.sleep(0.01)
        assert delivered == [(entry_id, True) for entry_id in ids]
        assert opened == [0]
        one = await publish(redis, stream, ticket_created(organization_id=1, ticket_id=4))
        for _ in range(500):
            if len(delivered) == 4:
                break
            await asyncio.sleep(0.01)
        assert delivered[3] == (one, False)  # a single entry needs no batch
    finally:
        await reader.stop()
