"""Load generator for ``bench_stream.py``: many /ws/prices/ clients in one process, on raw sockets.

A minimal RFC 6455 client (handshake, masked client frames, unmasked server frames, pong replies)
on one ``epoll`` loop without asyncio, so a message costs the client a few microseconds and the
latency measured is the server's, not the client's. Each client subscribes to the given tickers and
records, for every ``prices`` frame, the tick's ``timestamp``, the time the kernel received it
(``SO_TIMESTAMP``: when the bytes reached this host's socket, whatever this process was doing) and
the time this process read it (which adds the load generator's own scheduling delay).

Protocol with the parent (stdin/stdout, one JSON object per line):
  out ``{"ready": connected, "failed": n}`` once every client has connected and got its snapshot;
  in  ``{"start": t0, "end": t1}`` (wall-clock window), read while the clients keep receiving;
  out ``{"clients": [...], "cpu_seconds": s}``: per client the ``[tick_timestamp, arrival, read]``
  triples of frames whose tick timestamp lies in the window, and this process's CPU time measuring.
"""

import argparse
import base64
import json
import os
import select
import socket
import struct
import sys
import time

TIMESTAMP_KEY = b'"timestamp":'
SO_TIMESTAMP = getattr(socket, "SO_TIMESTAMP", 29)  # Linux's value; the socket module lacks the name
ANCILLARY_SPACE = socket.CMSG_SPACE(16)  # one struct timeval
PRICES = b'{"type":"prices"'
SNAPSHOT = b'{"type":"snapshot"'


def masked_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A client frame (clients must mask, RFC 6455 5.3)."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    key = (mask * (length // 4 + 1))[:length]
    body = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(length, "big")
    return header + mask + body


class Client:
    __slots__ = ("buffer", "closed", "fragments", "got_snapshot", "samples", "sock")

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = bytearray()
        self.fragments: list[bytes] = []
        self.samples: list[tuple[float, float, float]] = []
        self.got_snapshot = False
        self.closed = False

    def feed(self, data: bytes, arrival: float, read_at: float) -> None:
        """Parse the frames in ``data`` (plus what an earlier read left), without copying payloads."""
        if self.buffer:
            self.buffer += data
            data = bytes(self.buffer)
            self.buffer.clear()
        offset, size = 0, len(data)
        while size - offset >= 2:
            first, length = data[offset], data[offset + 1] & 0x7F
            start = offset + 2
            if length == 126:
                if size - offset < 4:
                    break
                (length,) = struct.unpack_from("!H", data, offset + 2)
                start = offset + 4
            elif length == 127:
                if size - offset < 10:
                    break
                (length,) = struct.unpack_from("!Q", data, offset + 2)
                start = offset + 10
            end = start + length
            if end > size:
                break
            if first == 0x81 and not self.fragments and data.startswith(PRICES, start):
                # The common case, read in place: every entry of a tick carries the tick's timestamp.
                at = data.find(TIMESTAMP_KEY, start, end) + len(TIMESTAMP_KEY)
                self.samples.append((float(data[at : data.find(b",", at, end)]), arrival, read_at))
            else:
                self.frame(first & 0x80, first & 0x0F, data[start:end], arrival, read_at)
            offset = end
        if offset < size:
            self.buffer += data[offset:]

    def frame(self, fin: int, opcode: int, payload: bytes, arrival: float, read_at: float) -> None:
        if opcode == 0x9:
            self.sock.sendall(masked_frame(payload, 0xA))
            return
        if opcode == 0x8:
            self.closed = True
            return
        if opcode not in (0x0, 0x1, 0x2):
            return
        if not fin or self.fragments:
            self.fragments.append(payload)
            if not fin:
                return
            payload, self.fragments = b"".join(self.fragments), []
        if payload.startswith(PRICES):
            at = payload.find(TIMESTAMP_KEY) + len(TIMESTAMP_KEY)
            self.samples.append((float(payload[at : payload.find(b",", at)]), arrival, read_at))
        elif payload.startswith(SNAPSHOT):
            self.got_snapshot = True


def kernel_time(ancillary) -> float | None:
    """The kernel's receive time from ``SO_TIMESTAMP`` ancillary data, if there is one."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMP and len(data) >= 16:
            seconds, microseconds = struct.unpack_from("qq", data)
            return seconds + microseconds / 1e6
    return None


def open_client(host: str, port: int, origin: str, subscribe: bytes, timeout: float = 30.0) -> Client:
    """Connect, upgrade, subscribe and wait for the snapshot (blocking), then go non-blocking."""
    sock = socket.create_connection((host, port), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws/prices/ HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {origin}\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        response += chunk
    head, _, rest = response.partition(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
    client = Client(sock)
    sock.sendall(masked_frame(subscribe))
    now = time.time()
    client.feed(rest, now, now)
    while not client.got_snapshot:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the snapshot")
        now = time.time()
        client.feed(chunk, now, now)
    client.samples.clear()
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)
    sock.setblocking(False)
    return client


def run(args) -> None:
    subscribe = json.dumps({"action": "subscribe", "tickers": args.tickers.split(",")}).encode()
    clients: dict[int, Client] = {}
    failed = 0
    for _ in range(args.clients):
        for attempt in range(5):
            try:
                client = open_client(args.host, args.port, args.origin, subscribe)
                clients[client.sock.fileno()] = client
                break
            except OSError as exc:
                error = exc
                time.sleep(0.2 * (attempt + 1))
        else:
            failed += 1
            print(f"client failed to connect: {error!r}", file=sys.stderr)
    poller = select.epoll()
    for fd in clients:
        poller.register(fd, select.EPOLLIN)
    poller.register(sys.stdin.fileno(), select.EPOLLIN)
    print(json.dumps({"ready": len(clients), "failed": failed}), flush=True)

    cpu_start = time.process_time()
    window = None
    stdin_fd = sys.stdin.fileno()
    while window is None:
        for fd, _ in poller.poll():
            if fd == stdin_fd:
                window = json.loads(sys.stdin.readline())
                continue
            client = clients[fd]
            try:
                data, ancillary, _, _ = client.sock.recvmsg(262144, ANCILLARY_SPACE)
            except BlockingIOError:
                continue
            read_at = time.time()
            if not data:
                client.closed = True
                poller.unregister(fd)
                continue
            client.feed(data, kernel_time(ancillary) or read_at, read_at)
    cpu = time.process_time() - cpu_start
    start, end = window["start"], window["end"]
    report = [
        {"samples": [s for s in client.samples if start <= s[0] <= end], "closed": client.closed}
        for client in clients.values()
    ]
    sys.stdout.write(json.dumps({"clients": report, "cpu_seconds": cpu}) + "\n")
    sys.stdout.flush()
    for client in clients.values():
        client.sock.close()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--origin", default=None)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--tickers", required=True, help="comma-separated tickers to subscribe to")
    args = parser.parse_args(argv)
    args.origin = args.origin or f"http://{args.host}:{args.port}"
    return args


if __name__ == "__main__":
    run(parse_args())
