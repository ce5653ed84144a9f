"""The tick fast path under daphne: one ready-made WebSocket frame, written straight to each socket.

A tick's frame is the same bytes for every socket of a subscription group (server frames are not
masked), so the hub builds it once. Handing it to each socket through ASGI would redo, per socket,
daphne's and autobahn's work (encoding, framing) and Twisted's buffered write (register the socket
for writability, wait a loop turn, send, unregister): measured, about three quarters of the server's
CPU per message and most of the tick-to-client latency with 1,000 sockets.

``direct_writer(server_send)`` recognises daphne's own ASGI ``send`` for a WebSocket and returns a
function that writes a frame: straight to the socket when nothing is waiting in Twisted's buffer,
else appended to that buffer (so order on the wire is kept). While autobahn itself holds frames it is
still sending in pieces (its ``send_queue``: daphne never asks for that today, but autobahn may), the
writer answers ``FALLBACK`` and the hub sends that frame through ASGI ``send``, i.e. through autobahn,
behind what it holds. For any other server (uvicorn, the test communicator, TLS) ``direct_writer``
returns None and the hub always uses ASGI ``send``.

This is the one place that reads a private attribute of a third-party package (Twisted's
``_tempDataLen``, with its ``dataBuffer`` and ``offset``): feature-detected (a missing attribute means
the slow path, with a warning), switchable (``settings.MARKET_STREAM_FAST_PATH = False``), pinned
(Twisted and autobahn in requirements.txt) and tested against the real packages.

A client that stops reading fills its kernel buffer, then Twisted's; once more than ``MAX_UNSENT``
bytes wait there, the writer refuses further frames (returns None) and the hub keeps only which
tickers changed, sending their latest prices when the socket drains. daphne's ping timeout
(``--ping-interval`` 20 s, ``--ping-timeout`` 30 s) then drops a client that is gone for good.
"""

import functools
import logging
import struct
from typing import Protocol

logger = logging.getLogger(__name__)

SERVER_SEND = "finally.server_send"  # scope key: the server's own ``send`` (see ``KeepServerSend``)

MAX_UNSENT = 256 * 1024  # bytes waiting in Twisted for one socket before its ticks are held back
FALLBACK = "fallback"  # a writer's answer: send this frame through ASGI ``send`` instead


class FrameWriter(Protocol):
    """What the hub asks of a socket's writer (``DirectWriter``, or a test's stand-in)."""

    def __call__(self, frame: bytes) -> bool | str | None: ...

    def unsent(self) -> int: ...


def text_frame(payload: bytes) -> bytes:
    """A final, unmasked WebSocket text frame (RFC 6455 5.2) carrying ``payload`` (UTF-8)."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x81, length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x81, 126, length)
    else:
        header = struct.pack("!BBQ", 0x81, 127, length)
    return header + payload


class KeepServerSend:
    """ASGI middleware: remember the server's ``send`` in the scope, before any middleware wraps it."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        await self.app({**scope, SERVER_SEND: send}, receive, send)


def direct_writer(server_send) -> "DirectWriter | None":
    """A frame writer for daphne's WebSocket ``send``, or None for anything else."""
    if not isinstance(server_send, functools.partial) or len(server_send.args) != 1:
        return None
    try:
        from daphne.server import Server
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:
        return None
    if getattr(server_send.func, "__func__", None) is not Server.handle_reply:
        return None
    protocol = server_send.args[0]
    if not isinstance(protocol, WebSocketProtocol):
        return None
    return protocol_writer(protocol)


def protocol_writer(protocol) -> "DirectWriter | None":
    """A frame writer for an autobahn WebSocket protocol on a plain Twisted TCP connection."""
    try:
        from twisted.internet.tcp import Connection
    except ImportError:
        return None
    transport = getattr(protocol, "transport", None)
    if not isinstance(transport, Connection) or getattr(transport, "TLS", True):
        return None  # TLS (or an unknown transport): bytes must go through the transport
    if not all(
        hasattr(transport, name) for name in ("dataBuffer", "offset", "_tempDataLen", "writeSomeData")
    ):
        logger.warning("Twisted's TCP transport changed; price frames take the slower ASGI path")
        return None
    return DirectWriter(protocol, transport)


class DirectWriter:
    """Writes ready-made frames to one daphne WebSocket (see the module docstring)."""

    __slots__ = ("_open_state", "_protocol", "_transport")

    def __init__(self, protocol, transport):
        self._protocol = protocol
        self._transport = transport
        self._open_state = protocol.STATE_OPEN

    def unsent(self) -> int:
        """Bytes handed to this socket that have not reached the kernel yet (waiting in Twisted)."""
        transport = self._transport
        return transport._tempDataLen + len(transport.dataBuffer) - transport.offset

    def __call__(self, frame: bytes) -> bool | str | None:
        """Write ``frame``: True when written, False when the socket is gone (forget it), None when
        too much is still unsent (not written: send the latest state later), ``FALLBACK`` when
        autobahn holds frames of its own (not written: send it through ASGI)."""
        protocol, transport = self._protocol, self._transport
        if protocol.state != self._open_state or not transport.connected or transport.disconnecting:
            return False
        if protocol.send_queue:
            return FALLBACK
        unsent = self.unsent()
        if unsent:
            if unsent > MAX_UNSENT:
                return None
            transport.write(frame)  # bytes are queued already: keep the order
            return True
        sent = transport.writeSomeData(frame)
        if isinstance(sent, BaseException):
            return False  # the connection is lost; Twisted notices on its next read
        if sent < len(frame):
            transport.write(frame[sent:])  # the kernel buffer is full: Twisted sends the rest later
        return True
