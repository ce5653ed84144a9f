"""The daphne fast path: ready-made frames written to the socket, in order, with Twisted as fallback."""

import contextlib
import functools
import socket
import struct
from collections import deque
from types import SimpleNamespace

import pytest
from twisted.internet import tcp

from market.stream.wire import FALLBACK, direct_writer, protocol_writer, text_frame

OPEN, CLOSING = 3, 4


class FakeReactor:
    """What a Twisted transport asks of its reactor when it buffers a write."""

    def __init__(self):
        self.writers = []

    def addWriter(self, descriptor):
        self.writers.append(descriptor)

    def removeWriter(self, descriptor):
        if descriptor in self.writers:
            self.writers.remove(descriptor)


@pytest.fixture
def connection():
    """A real Twisted TCP transport over a socket pair, and the peer socket reading what it sends."""
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    peer.settimeout(2)
    reactor = FakeReactor()
    transport = tcp.Connection(ours, None, reactor)
    transport.connected = True
    protocol = SimpleNamespace(state=OPEN, STATE_OPEN=OPEN, send_queue=deque(), transport=transport)
    yield protocol, transport, peer, reactor
    ours.close()
    peer.close()


def read_exactly(peer: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        data += peer.recv(size - len(data))
    return data


def decode(frame: bytes) -> bytes:
    assert frame[0] == 0x81
    length, start = frame[1], 2
    if length == 126:
        (length,), start = struct.unpack_from("!H", frame, 2), 4
    elif length == 127:
        (length,), start = struct.unpack_from("!Q", frame, 2), 10
    assert len(frame) == start + length
    return frame[start:]


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_text_frame_carries_the_payload_with_the_right_length_encoding(size):
    payload = b"p" * size
    assert decode(text_frame(payload)) == payload


def test_a_frame_goes_straight_to_the_socket_when_nothing_is_queued(connection):
    protocol, _, peer, reactor = connection
    frame = text_frame(b'{"type":"prices"}')
    assert protocol_writer(protocol)(frame) is True
    assert read_exactly(peer, len(frame)) == frame
    assert reactor.writers == []


def test_a_frame_waits_behind_bytes_twisted_still_holds(connection):
    protocol, transport, peer, _reactor = connection
    transport.write(b"earlier")
    frame = text_frame(b"later")
    assert protocol_writer(protocol)(frame) is True
    peer.setblocking(False)
    with pytest.raises(BlockingIOError):
        peer.recv(100)
    peer.settimeout(2)
    transport.doWrite()
    assert read_exactly(peer, len(b"earlier") + len(frame)) == b"earlier" + frame


def test_a_frame_the_kernel_cannot_take_whole_is_finished_by_twisted(connection):
    protocol, transport, peer, reactor = connection
    frame = text_frame(b"x" * 4_000_000)
    assert protocol_writer(protocol)(frame) is True
    assert reactor.writers == [transport]
    received = bytearray()
    peer.setblocking(False)
    while len(received) < len(frame):
        transport.doWrite()  # what the reactor does when the socket is writable again
        with contextlib.suppress(BlockingIOError):
            received += peer.recv(1 << 20)
    assert received == frame


def test_frames_are_held_back_once_too_much_is_unsent(connection, monkeypatch):
    protocol, transport, _peer, _reactor = connection
    monkeypatch.setattr("market.stream.wire.MAX_UNSENT", 10)
    transport.write(b"x" * 11)  # a client that stopped reading: bytes stay in Twisted
    assert protocol_writer(protocol)(text_frame(b"tick")) is None
    assert transport._tempDataLen == 11


def test_a_socket_that_is_closing_refuses_the_frame(connection):
    protocol, *_ = connection
    protocol.state = CLOSING
    assert protocol_writer(protocol)(text_frame(b"x")) is False


def test_a_tls_transport_gets_no_fast_path(connection):
    protocol, transport, *_ = connection
    transport.TLS = True
    assert protocol_writer(protocol) is None


def test_daphnes_own_send_is_recognised_and_anything_else_is_not(connection):
    from daphne.server import Server
    from daphne.ws_protocol import WebSocketProtocol

    protocol = WebSocketProtocol()
    protocol.transport = connection[1]
    server = Server.__new__(Server)
    assert direct_writer(functools.partial(server.handle_reply, protocol)) is not None

    async def other_send(message):
        pass

    assert direct_writer(other_send) is None
    assert direct_writer(None) is None
    assert direct_writer(functools.partial(other_send)) is None


def test_a_frame_never_jumps_ahead_of_what_autobahn_is_still_sending(connection):
    """autobahn sends a frame in pieces from its own queue when asked to (``chopsize``): the fast path
    must then leave the socket to autobahn, so the hub sends that tick through ASGI, behind it."""
    from autobahn.websocket.protocol import TrafficStats
    from daphne.ws_protocol import WebSocketProtocol

    _, transport, peer, _reactor = connection
    protocol = WebSocketProtocol()
    protocol.transport = transport
    protocol.state = WebSocketProtocol.STATE_OPEN
    # What autobahn's connection set-up gives every protocol.
    protocol.send_queue, protocol.triggered, protocol.trafficStats = deque(), False, TrafficStats()
    protocol.logOctets = False
    earlier = text_frame(b"x" * 64)
    protocol.sendData(earlier, chopsize=16)  # autobahn's own chunked send: its first piece goes now
    assert protocol.send_queue, "autobahn keeps the rest of the frame in its queue"
    assert protocol_writer(protocol)(text_frame(b"later")) == FALLBACK
    transport.doWrite()  # the reactor flushes what was handed to Twisted
    assert read_exactly(peer, 16) == earlier[:16]
    peer.setblocking(False)
    with pytest.raises(BlockingIOError):
        peer.recv(100)  # nothing of ours went onto the wire ahead of autobahn's pieces
