"""Fan-out frames written straight to a WebSocket connection's transport.

Through the libraries, every delivery costs a wake-up of the connection's Engine.IO writer task
(and the ``asyncio.wait_for`` it polls its queue with), the ASGI ``send`` call, and a WebSocket
frame built by uvicorn for that one connection. Here an event's frame is built once, and for
each connection whose writer is idle it is handed to the connection's transport with one
``transport.write``: no task, no await, no per-connection encoding.

Ordering with what Engine.IO writes itself (the open packet, pings, acknowledgements, messages
sent with ``emit``) is kept by one rule: a frame goes straight to the transport only while the
socket's writer is parked in ``queue.get()`` and the queue is empty, that is, when Engine.IO
holds nothing that should go out first. Otherwise the packet goes into the queue as before
(``fanout``), behind what is there. Everything on the transport goes out in the order it was
written, so the two paths never reorder a connection's messages; and a direct write is as
synchronous as a queued one, so replay's hand-over (``replay``) keeps its guarantee.

What this reaches into (python-engineio 4.x, uvicorn 0.3x+ with websockets' Sans-I/O protocol):

- ``engineio.AsyncServer.create_queue``: each socket's queue is a ``SocketQueue``, which tells
  whether the writer is parked in ``get``; ``AsyncSocket.poll`` is the only caller of ``get``.
- ``AsyncServer._async["websocket"]`` (this server's copy of the driver table): the ASGI
  WebSocket wrapper, replaced by one that links the queue to the connection once accepted. It
  finds the uvicorn protocol as the owner of the ASGI ``send`` callable (``send.__self__``).
- uvicorn's ``WebSocketsSansIOProtocol``: ``transport`` and ``conn`` (websockets'
  ``ServerProtocol``: its ``state`` and negotiated ``extensions``).

Whatever does not look exactly like that (another WebSocket implementation, per-message
deflate negotiated, an upgrade from long-polling, a middleware wrapping ``send``) is simply not
linked: its deliveries take the queue, correct and slower. ``tests/test_direct.py`` checks
each assumption against the installed versions.
"""

import asyncio
import struct
from collections.abc import Awaitable, Callable
from typing import Any, Final

import engineio
from engineio.async_drivers import asgi as eio_asgi
from websockets.protocol import Protocol as WsProtocol  # (uvicorn[standard] brings it)
from websockets.protocol import State as WsState

_TEXT_FIN: Final = 0x81  # FIN + opcode 1 (text)


def text_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented WebSocket text frame (server to client, RFC 6455 5.2)."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", _TEXT_FIN, size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", _TEXT_FIN, 126, size)
    else:
        head = struct.pack("!BBQ", _TEXT_FIN, 127, size)
    return head + payload


def engineio_frame(socketio_packet: str) -> bytes:
    """The frame carrying a Socket.IO packet as an Engine.IO MESSAGE ("4" + packet)."""
    return text_frame(("4" + socketio_packet).encode())


# Link.room_for's answers.
OK: Final = 0
CLOSING: Final = 1
FULL: Final = 2


class Link:
    """One accepted WebSocket connection's transport, with what tells whether it is open."""

    __slots__ = ("_conn", "transport")

    def __init__(self, transport: Any, conn: Any) -> None:
        self.transport = transport
        self._conn = conn

    def writable(self) -> bool:
        """Open for data frames: not closing, no close frame sent or received."""
        return self._conn.state is WsState.OPEN and not self.transport.is_closing()

    def buffered(self) -> int:
        """Bytes written but not yet taken by the kernel."""
        return int(self.transport.get_write_buffer_size())

    def write(self, frame: bytes) -> None:
        self.transport.write(frame)

    def room_for(self, limit: int) -> int:
        """Whether a frame may be written now: ``OK``, ``CLOSING`` (no more data frames) or
        ``FULL`` (more than ``limit`` bytes not yet taken by the kernel). One call per
        delivery, the fan-out's inner loop."""
        transport = self.transport
        if self._conn.state is not WsState.OPEN or transport.is_closing():
            return CLOSING
        if transport.get_write_buffer_size() > limit:
            return FULL
        return OK

    def abort(self) -> None:
        """Drop the connection now (its buffer with it); the ASGI app sees a disconnect."""
        self.transport.abort()


def link_for(asgi_send: Any) -> Link | None:
    """The link to the connection behind an ASGI ``send``, or None when it is not one that can
    be written to directly."""
    protocol = getattr(asgi_send, "__self__", None)
    transport = getattr(protocol, "transport", None)
    conn = getattr(protocol, "conn", None)
    if not isinstance(conn, WsProtocol) or transport is None:
        return None
    if not all(
        callable(getattr(transport, name, None))
        for name in ("write", "is_closing", "get_write_buffer_size", "abort")
    ):
        return None
    if conn.extensions:  # per-message deflate: each connection's frames differ
        return None
    if conn.state is not WsState.OPEN:
        return None
    return Link(transport, conn)


class SocketQueue(asyncio.Queue[Any]):
    """An Engine.IO socket's send queue that also tells whether its writer is idle.

    ``waiting`` is true exactly while a ``get`` is parked with nothing taken: the flag is set
    before waiting and cleared in the same step as the item is taken, so a writer that has a
    packet in hand (about to write it, or waiting for the transport to drain) never looks idle.
    ``link`` is the connection's transport, once it is an accepted WebSocket.
    """

    def __init__(self, maxsize: int = 0) -> None:
        super().__init__(maxsize)
        self.waiting = False
        self.link: Link | None = None

    async def get(self) -> Any:
        self.waiting = True
        try:
            return await super().get()
        finally:
            self.waiting = False

    def direct(self) -> Link | None:
        """The link to write to now, or None when a delivery must take the queue."""
        link = self.link
        if link is not None and self.waiting and self.empty():
            return link
        return None


Handler = Callable[[Any], Awaitable[Any]]


class LinkingWebSocket(eio_asgi.WebSocket):  # type: ignore[misc]  # (untyped library)
    """Engine.IO's ASGI WebSocket wrapper; once the connection is accepted, the socket's queue
    is linked to its transport, and unlinked when the connection ends."""

    def __init__(self, handler: Handler, server: Any) -> None:
        socket = getattr(handler, "__self__", None)

        async def linked(ws: Any) -> Any:
            queue = getattr(socket, "queue", None)
            link = None
            # A fresh WebSocket connection only: an upgrade from long-polling first completes
            # Engine.IO's own handshake over both transports.
            if isinstance(queue, SocketQueue) and socket is not None and not socket.connected:
                link = link_for(ws.asgi_send)
            if link is not None and isinstance(queue, SocketQueue):
                queue.link = link
            try:
                return await handler(ws)
            finally:
                if isinstance(queue, SocketQueue):
                    queue.link = None

        super().__init__(linked, server)


class EngineServer(engineio.AsyncServer):  # type: ignore[misc]  # (untyped library)
    """python-engineio's server with linkable socket queues (``direct=True``)."""

    def __init__(self, *args: Any, direct: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.direct = direct
        if direct:
            # This server's own copy of the driver table: the module's stays untouched.
            drivers: dict[str, Any] = self.__dict__["_async"]
            self.__dict__["_async"] = {**drivers, "websocket": LinkingWebSocket}

    def create_queue(self, *args: Any, **kwargs: Any) -> asyncio.Queue[Any]:
        if self.direct:
            return SocketQueue(*args, **kwargs)
        return asyncio.Queue(*args, **kwargs)
