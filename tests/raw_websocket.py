"""A WebSocket client that never reads: it does the handshake by hand, then only writes frames.

What an attacker does to make a server hold everything it sends; used by the stream's live tests and
``bench/bench_stream_abuse.py``.
"""

import base64
import os
import socket
import struct
import time


class RawWebSocket:
    """A client that does the handshake by hand and then only writes: it never reads a byte, as the
    attack did, so everything the server sends piles up on the server's side."""

    def __init__(self, port: int, timeout: float = 5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /ws/prices/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Origin: http://127.0.0.1:{port}\r\n\r\n"
            ).encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            response += self.sock.recv(1)  # the handshake's answer only, never the frames after it
        assert response.startswith(b"HTTP/1.1 101"), response

    def send_text(self, text: str) -> bool:
        """One masked text frame; False once the server has closed the connection."""
        payload = text.encode()
        mask = os.urandom(4)
        if len(payload) < 126:
            header = bytes([0x81, 0x80 | len(payload)])
        elif len(payload) < 65536:
            header = bytes([0x81, 0x80 | 126]) + struct.pack("!H", len(payload))
        else:
            header = bytes([0x81, 0x80 | 127]) + struct.pack("!Q", len(payload))
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        try:
            self.sock.sendall(header + mask + masked)
        except OSError:
            return False
        return True

    def read_all(self, deadline: float) -> tuple[bytes, bool]:
        """Everything the server sent until it ended the connection or the deadline came, and whether
        it ended it (closed or reset)."""
        data = b""
        self.sock.settimeout(0.5)
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(1 << 20)
            except TimeoutError:
                continue
            except OSError:
                return data, True
            if not chunk:
                return data, True
            data += chunk
        return data, False


def close_code(data: bytes) -> int | None:
    """The code of the close frame among the server's frames (unmasked), if there is one."""
    position = 0
    while position + 2 <= len(data):
        opcode, length = data[position] & 0x0F, data[position + 1] & 0x7F
        start = position + 2
        if length == 126:
            length, start = struct.unpack_from("!H", data, start)[0], start + 2
        elif length == 127:
            length, start = struct.unpack_from("!Q", data, start)[0], start + 8
        if opcode == 0x8:
            return struct.unpack_from("!H", data, start)[0]
        position = start + length
    return None
