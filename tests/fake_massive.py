"""A local HTTP server speaking the part of the Massive REST API the app uses, for tests and demos.

It serves ``GET /v2/snapshot/locale/us/markets/stocks/tickers?tickers=A,B``, the aggregates,
``GET /v2/aggs/ticker/{T}/range/{multiplier}/{timespan}/{from}/{to}`` (``adjusted``, ``sort``,
``limit``; pages linked by ``next_url``), and the reference tickers, ``GET /v3/reference/tickers``
(``market``, ``active``, ``search``, ``limit``, ``cursor``; pages linked by ``next_url``), with
Massive's documented bodies, checks the API key the way
``massive.RESTClient`` sends it (``Authorization: Bearer KEY``; the ``apiKey`` query parameter works
too), records every request, can enforce a plan's rate limit (``rate_limit``: 429 with
``Retry-After`` past it), and can be switched at any moment into each way Massive can fail. In a
test, use the ``fake_massive`` fixture::

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
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit
from zoneinfo import ZoneInfo

import pytest

from market.seed_prices import SEED_PRICES

SNAPSHOT_PATH = "/v2/snapshot/locale/us/markets/stocks/tickers"
REFERENCE_PATH = "/v3/reference/tickers"
# The companies the reference endpoint knows besides the default ten (a listing, as Massive's has).
REFERENCE_NAMES = {
    "AAPL": "Apple Inc.",
    "AMZN": "Amazon.com, Inc.",
    "GOOGL": "Alphabet Inc. Class A Common Stock",
    "JPM": "JPMorgan Chase & Co.",
    "META": "Meta Platforms, Inc. Class A Common Stock",
    "MSFT": "Microsoft Corporation",
    "NFLX": "Netflix, Inc.",
    "NVDA": "NVIDIA Corporation",
    "TSLA": "Tesla, Inc. Common Stock",
    "V": "Visa Inc.",
    "ACMW": "Acme Widgets Holdings, Inc.",
    "ZEBR": "Zebra Technologies Corporation Class A Common Stock",
    "BRK.B": "Berkshire Hathaway Inc. New",
}
AGGS_PATH = re.compile(r"^/v2/aggs/ticker/([^/]+)/range/(\d+)/(minute|hour|day)/([^/]+)/([^/]+)$")
TIMESPAN_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
NEW_YORK = ZoneInfo("America/New_York")
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
        self._rate: tuple[int, float, float | None] | None = None
        self._recent: deque[float] = deque()
        self.max_in_window = 0
        self.aggs_page_size: int | None = None  # results per page (else the request's ``limit``)
        self.aggs_since: float | None = None  # no bars before this Unix time (a listing date)
        self.reference_names: dict[str, str] = dict(REFERENCE_NAMES)  # the companies it lists
        self.reference_page_size: int | None = None  # results per page (else the request's ``limit``)
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

    def rate_limit(
        self, requests: int | None, window: float = 60.0, retry_after: float | None = None
    ) -> None:
        """Answer 429 (``Retry-After``: the seconds until a request would fit, or ``retry_after``) to a
        request that would make more than ``requests`` in any ``window`` seconds; None: no limit.
        ``max_in_window`` keeps the most requests ever seen in one window."""
        with self._lock:
            self._rate = None if requests is None else (requests, window, retry_after)
            self._recent.clear()
            self.max_in_window = 0

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

    def aggs_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if AGGS_PATH.match(r.path)]

    def reference_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == REFERENCE_PATH]

    # The bars it serves (a smooth path around the previous close, the same on every request)

    @classmethod
    def bar_at(cls, ticker: str, start: int, seconds: int) -> dict:
        """The aggregate starting at ``start`` (Unix seconds) and lasting ``seconds``."""
        base = cls.previous_close(ticker)
        path = [round(base * (1 + 0.03 * math.sin(t / 7200.0)), 4) for t in (start, start + seconds)]
        low, high = min(path), max(path)
        return {
            "v": 1000 + start % 997,
            "vw": round((low + high) / 2, 4),
            "o": path[0],
            "c": path[1],
            "h": round(high + 0.01, 4),
            "l": round(low - 0.01, 4),
            "t": start * 1000,
            "n": 10 + start % 13,
        }

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
        limited = self._over_rate()
        if limited is not None:
            return 429, {"Retry-After": limited}, _failure_body(429)
        aggs = AGGS_PATH.match(path)
        if aggs is not None:
            return self._aggs(*aggs.groups(), query)
        if path == REFERENCE_PATH:
            return self._reference(query)
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

    def _over_rate(self) -> str | None:
        """The Retry-After of a request past the rate limit, else None (and the request counts)."""
        with self._lock:
            if self._rate is None:
                return None
            limit, window, retry_after = self._rate
            now = time.monotonic()
            while self._recent and self._recent[0] <= now - window:
                self._recent.popleft()
            if len(self._recent) >= limit:
                wait = retry_after if retry_after is not None else self._recent[0] + window - now
                return f"{max(wait, 0.001):.3f}"
            self._recent.append(now)
            self.max_in_window = max(self.max_in_window, len(self._recent))
            return None

    def _aggs(self, ticker: str, multiplier: str, timespan: str, start: str, end: str, query: dict):
        """``/v2/aggs/ticker/{T}/range/{m}/{timespan}/{from}/{to}``: Massive's aggregates body."""
        try:
            first, last = _aggs_bound(start, timespan, False), _aggs_bound(end, timespan, True)
            limit = min(int(query.get("limit", 5000)), 50000)
        except ValueError:
            return 400, {}, _error_body("ERROR", "Could not parse the time range or limit")
        size = TIMESPAN_SECONDS[timespan] * int(multiplier)
        first = max(first, math.ceil(self.aggs_since)) if self.aggs_since is not None else first
        last = min(last, int(time.time()))
        starts = _bar_starts(first, last, size, timespan)
        if ticker in self.unknown:
            starts = []
        page = self.aggs_page_size or limit
        results = [self.bar_at(ticker, t, size) for t in starts[:page]]
        if query.get("sort") == "desc":
            results.reverse()
        body = {
            "ticker": ticker,
            "queryCount": len(results),
            "resultsCount": len(results),
            "adjusted": query.get("adjusted", "true") != "false",
            "status": "OK",
            "request_id": uuid.uuid4().hex,
            "count": len(results),
        }
        if results:
            body["results"] = results
        if len(starts) > page:
            more = {k: v for k, v in query.items() if k in ("adjusted", "sort", "limit")}
            more["cursor"] = uuid.uuid4().hex[:16]
            next_from = starts[page] * 1000
            body["next_url"] = (
                f"{self.url}/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{next_from}/{end}?"
                + urlencode(more)
            )
        return 200, {}, json.dumps(body).encode()

    def _reference(self, query: dict):
        """``/v3/reference/tickers``: Massive's reference tickers, sorted by ticker, a page at a time."""
        try:
            limit = min(int(query.get("limit", 100)), 1000)
            offset = int(query.get("cursor", "0") or 0)
        except ValueError:
            return 400, {}, _error_body("ERROR", "Could not parse the limit or cursor")
        with self._lock:
            names = sorted(self.reference_names.items())
        if query.get("market", "stocks") != "stocks":
            names = []
        search = query.get("search", "").lower()
        if search:
            names = [(t, n) for t, n in names if search in t.lower() or search in n.lower()]
        page = self.reference_page_size or limit
        chunk = names[offset : offset + page]
        body = {
            "results": [
                {
                    "ticker": ticker,
                    "name": name,
                    "market": "stocks",
                    "locale": "us",
                    "primary_exchange": "XNAS",
                    "type": "CS",
                    "active": True,
                    "currency_name": "usd",
                    "cik": "0000320193",
                    "last_updated_utc": "2026-11-30T00:00:00Z",
                }
                for ticker, name in chunk
            ],
            "status": "OK",
            "request_id": uuid.uuid4().hex,
            "count": len(chunk),
        }
        if offset + page < len(names):
            more = {k: v for k, v in query.items() if k in ("market", "active", "search", "limit", "sort")}
            more["cursor"] = str(offset + page)
            body["next_url"] = f"{self.url}{REFERENCE_PATH}?" + urlencode(more)
        return 200, {}, json.dumps(body).encode()

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


def _aggs_bound(raw: str, timespan: str, end: bool) -> int:
    """Unix seconds of a ``from``/``to`` bound: ``YYYY-MM-DD`` (a whole New York day) or milliseconds."""
    if raw.isdigit():
        return int(raw) // 1000
    day = date.fromisoformat(raw)
    if end:
        day += timedelta(days=1)
    start = int(datetime(day.year, day.month, day.day, tzinfo=NEW_YORK).timestamp())
    return start - 1 if end else start


def _bar_starts(first: int, last: int, size: int, timespan: str) -> list[int]:
    """Bar starts from ``first`` to ``last``: every interval (a 24-hour market), daily bars on weekdays
    at midnight America/New_York."""
    if timespan != "day":
        begin = -(-first // size) * size
        return list(range(begin, last + 1, size))
    starts = []
    day = datetime.fromtimestamp(first, NEW_YORK).date()
    while True:
        midnight = int(datetime(day.year, day.month, day.day, tzinfo=NEW_YORK).timestamp())
        if midnight > last:
            return starts
        if midnight >= first and day.weekday() < 5:
            starts.append(midnight)
        day += timedelta(days=1)


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
