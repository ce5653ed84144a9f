"""A local HTTP server speaking the part of the Massive REST API the poller uses, for tests and demos.

It serves ``GET /v2/snapshot/locale/us/markets/stocks/tickers?tickers=A,B`` with Massive's documented
body, checks the API key the way ``massive.RESTClient`` sends it (``Authorization: Bearer KEY``; the
``apiKey`` query parameter works too), records every request, and can be switched at any moment into
each way Massive can fail. In a test, use the ``fake_massive`` fixture::

    from tests.fake_massive import fake_massive_fixture  # noqa: F401 (provides the fake_massive fixture)

    async def test_x(fake_massive):
        source = MassiveDataSource(fake_massive.api_key, cache, 0.05, base_url=fake_massive.url)

By hand (then run the app with ``MASSIVE_API_KEY=demo MASSIVE_BASE_URL=http://127.0.0.1:8765``)::

    python -m tests.fake_massive --port 8765 --key demo
"""

import argparse
import dataclasses
import json
import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest

from market.seed_prices import SEED_PRICES

SNAPSHOT_PATH = "/v2/snapshot/locale/us/markets/stocks/tickers"
DEFAULT_PRICE = 100.0
MARKET_STATES = ("open", "closed", "before_open", "overnight_reset")


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received (``time`` is ``time.monotonic()`` on arrival)."""

    method: str
    target: str  # the raw path and query, as sent
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    time: float
    status: int = 0

    @property
    def tickers(self) -> list[str]:
        raw = self.query.get("tickers", "")
        return [t for t in raw.split(",") if t]


@dataclass
class _Behaviour:
    """How the server answers right now (replaced as a whole under the lock)."""

    status: int = 200
    retry_after: str | None = None
    body: str | None = None
    delay: float = 0.0
    garbage: bool = False
    market: str = "open"


@dataclass
class _Trade:
    price: float
    timestamp_ns: int


@dataclass
class FakeMassive:
    """The server; ``start()`` binds 127.0.0.1 on a free port (or ``port``) and serves in a thread."""

    api_key: str = "test-key"
    port: int = 0
    host: str = "127.0.0.1"
    unknown: set[str] = field(default_factory=set)  # tickers it does not know: left out of answers

    def __post_init__(self):
        self._lock = threading.Lock()
        self._behaviour = _Behaviour()
        self._trades: dict[str, _Trade] = {}
        self._requests: list[RecordedRequest] = []
        self._snapshots_served = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # Lifecycle

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "FakeMassive":
        """Listen (again, on the same port after ``stop()``) and serve in a daemon thread."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = ThreadingHTTPServer((self.host, self.port), _Handler)
        server.fake = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name=f"fake-massive-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: from now on a client's connection is refused until ``start()``."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # cuts a slow answer short
        server.shutdown()
        server.server_close()
        self._thread.join(5)

    restart = start

    # Behaviour switches (each replaces the previous one)

    def serve_normally(self) -> None:
        """Answer 200 with live prices that move between requests."""
        self._set(_Behaviour())

    def fail_with(
        self, status: int, retry_after: int | float | str | None = None, body: str | None = None
    ) -> None:
        """Answer every request with ``status`` (401, 403, 429, 500, 502, 503...) and Massive's error body.

        ``retry_after`` goes out as the ``Retry-After`` header: seconds, or a string (an HTTP date).
        """
        header = None if retry_after is None else str(retry_after)
        self._set(_Behaviour(status=status, retry_after=header, body=body))

    def respond_slowly(self, seconds: float) -> None:
        """Wait ``seconds`` before answering normally (longer than a client's read timeout: a time-out)."""
        self._set(_Behaviour(delay=seconds))

    def send_invalid_json(self) -> None:
        """Answer 200 with a body that is not JSON."""
        self._set(_Behaviour(garbage=True))

    def set_market(self, state: str) -> None:
        """Answer 200 as the market stands in ``state``.

        - ``open``: live trades (``lastTrade`` with the price, ``t`` in nanoseconds);
        - ``closed``: no ``lastTrade``; ``day.c`` holds today's close (``day_close()``);
        - ``before_open``: no ``lastTrade``; ``day`` zeroed; ``prevDay.c`` (``previous_close()``);
        - ``overnight_reset``: ``lastTrade``, ``min`` and ``day`` present but all zeros; ``prevDay.c``.
        """
        if state not in MARKET_STATES:
            raise ValueError(f"market state must be one of {MARKET_STATES}, got {state!r}")
        self._set(_Behaviour(market=state))

    def set_trade(self, ticker: str, price: float, timestamp_ns: int | None = None) -> None:
        """Pin ``ticker``'s last trade (it stops moving) at ``price`` and ``timestamp_ns``."""
        with self._lock:
            self._trades[ticker] = _Trade(price, time.time_ns() if timestamp_ns is None else timestamp_ns)

    def _set(self, behaviour: _Behaviour) -> None:
        with self._lock:
            self._behaviour = behaviour

    # Prices the server quotes

    @staticmethod
    def previous_close(ticker: str) -> float:
        return SEED_PRICES.get(ticker, DEFAULT_PRICE)

    @classmethod
    def day_close(cls, ticker: str) -> float:
        return round(cls.previous_close(ticker) * 1.02, 2)

    # What it received

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def snapshot_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == SNAPSHOT_PATH]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # Answering (called by the handler threads)

    def _answer(self, method: str, target: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        with self._lock:
            behaviour = self._behaviour
            index = len(self._requests)
            self._requests.append(
                RecordedRequest(method, target, parts.path, query, headers, time.monotonic())
            )
        status, extra, body = self._respond(behaviour, parts.path, query, headers)
        with self._lock:
            self._requests[index] = dataclasses.replace(self._requests[index], status=status)
        return status, extra, body

    def _respond(self, behaviour, path, query, headers) -> tuple[int, dict[str, str], bytes]:
        if behaviour.delay and self._stopping.wait(behaviour.delay):
            return 503, {}, _error_body("ERROR", "server stopping")
        if behaviour.status != 200:
            extra = {"Retry-After": behaviour.retry_after} if behaviour.retry_after is not None else {}
            body = behaviour.body.encode() if behaviour.body is not None else _failure_body(behaviour.status)
            return behaviour.status, extra, body
        key = query.get("apiKey") or headers.get("authorization", "").removeprefix("Bearer ").strip()
        if key != self.api_key:
            return 401, {}, _failure_body(401)
        if path != SNAPSHOT_PATH:
            return 404, {}, _error_body("NOT_FOUND", "Route not found")
        if behaviour.garbage:
            return (
                200,
                {},
                b'{"status": "OK", "tickers": [{"ticker": "AAPL", "lastTr<html>502 Bad Gateway</html>',
            )
        requested = [t for t in query.get("tickers", "").split(",") if t] or list(SEED_PRICES)
        with self._lock:
            self._snapshots_served += 1
            step = self._snapshots_served
            trades = dict(self._trades)
        snapshots = [
            self._snapshot(ticker, behaviour.market, step, trades.get(ticker))
            for ticker in requested
            if ticker not in self.unknown
        ]
        payload = {
            "status": "OK",
            "request_id": uuid.uuid4().hex,
            "count": len(snapshots),
            "tickers": snapshots,
        }
        return 200, {}, json.dumps(payload).encode()

    def _snapshot(self, ticker: str, market: str, step: int, trade: _Trade | None) -> dict:
        """One ticker's snapshot in Massive's documented shape."""
        previous = self.previous_close(ticker)
        if trade is None:
            # Moves on every request; sin of consecutive integers never repeats.
            trade = _Trade(round(previous * (1 + 0.01 * math.sin(step)), 4), time.time_ns())
        price = trade.price
        if market == "closed":
            price = self.day_close(ticker)
        day = _bar(previous, price)
        if market in ("before_open", "overnight_reset"):
            day = _bar(0, 0)
        updated = trade.timestamp_ns if market == "open" else 0
        snapshot = {
            "ticker": ticker,
            "todaysChange": round(price - previous, 4) if market in ("open", "closed") else 0,
            "todaysChangePerc": round(100 * (price - previous) / previous, 4)
            if market in ("open", "closed")
            else 0,
            "updated": updated,
            "day": day,
            "min": {**_bar(price, price), "av": 1000, "t": updated // 1_000_000, "n": 10},
            "prevDay": _bar(previous * 0.99, previous),
        }
        if market == "open":
            snapshot["lastQuote"] = {
                "P": round(price + 0.01, 4),
                "S": 2,
                "p": round(price - 0.01, 4),
                "s": 3,
                "t": updated,
            }
            snapshot["lastTrade"] = {
                "c": [14, 41],
                "i": "71675577320245",
                "p": price,
                "s": 100,
                "t": updated,
                "x": 4,
            }
        elif market == "overnight_reset":
            snapshot["min"] = {"av": 0, "t": 0, "n": 0, "o": 0, "h": 0, "l": 0, "c": 0, "v": 0, "vw": 0}
            snapshot["lastQuote"] = {"P": 0, "S": 0, "p": 0, "s": 0, "t": 0}
            snapshot["lastTrade"] = {"c": None, "i": "", "p": 0, "s": 0, "t": 0, "x": 0}
        return snapshot


def _bar(open_: float, close: float) -> dict:
    return {
        "o": round(open_, 4),
        "h": round(max(open_, close), 4),
        "l": round(min(open_, close), 4),
        "c": round(close, 4),
        "v": 1_000_000 if close else 0,
        "vw": round((open_ + close) / 2, 4),
    }


def _error_body(status: str, message: str) -> bytes:
    return json.dumps({"status": status, "request_id": uuid.uuid4().hex, "error": message}).encode()


def _failure_body(status: int) -> bytes:
    if status == 401:
        return _error_body("ERROR", "Unknown API Key")
    if status == 403:
        return _error_body("NOT_AUTHORIZED", "You are not entitled to this data. Please upgrade your plan.")
    if status == 429:
        return _error_body(
            "ERROR", "You've exceeded the maximum requests per minute, please wait or upgrade."
        )
    if status >= 500:
        return f"<html><body><h1>{status} Server Error</h1></body></html>".encode()
    return _error_body("ERROR", f"HTTP {status}")


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeMassive/1.0"
    # HTTP/1.0: one request per connection, so stop() really refuses the next one (no kept-alive socket).
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, extra, body = self.server.fake._answer("GET", self.path, headers)
        content_type = "application/json" if body[:1] in (b"{", b"[") else "text/html"
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Date", formatdate(usegmt=True))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a read time-out): nothing to answer

    def log_message(self, format, *args):
        pass


@pytest.fixture(name="fake_massive")
def fake_massive_fixture():
    """A running ``FakeMassive`` (key ``test-key``), stopped after the test."""
    server = FakeMassive().start()
    yield server
    server.stop()


# Importing either name into a test module provides the ``fake_massive`` fixture there; importing
# ``fake_massive_fixture`` keeps linters from reading the test's ``fake_massive`` argument as a redefinition.
fake_massive = fake_massive_fixture


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Massive snapshot API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--key", default="demo", help="the API key it accepts (default: demo)")
    parser.add_argument("--market", choices=MARKET_STATES, default="open")
    parser.add_argument("--unknown", default="", help="comma-separated tickers it does not know")
    args = parser.parse_args(argv)
    server = FakeMassive(api_key=args.key, port=args.port, unknown=set(filter(None, args.unknown.split(","))))
    server.set_market(args.market)
    server.start()
    print(f"Fake Massive API on {server.url} (market {args.market}); Ctrl-C stops it. Run the app with:")
    print(f"  MASSIVE_API_KEY={args.key} MASSIVE_BASE_URL={server.url} MASSIVE_POLL_INTERVAL=2 scripts/serve")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
