"""The Massive REST poller: one snapshot request per poll for every tracked ticker, written to the cache.

The real ``massive.RESTClient`` does the HTTP, with its own urllib3 retries turned off so this loop owns
every retry: it backs off exponentially on failures, honours ``Retry-After`` on 429, polls a rejected
API key only slowly (logging it once), and never drops a price it already has. A poll either succeeds
completely (prices written, ``cache.mark_success()``) or writes nothing, so ``/healthz`` shows the feed
stale while Massive is failing.

Each price carries the snapshot's previous-day close (``prevDay.c``) as its ``previous_close``. History
the database lacks is fetched from Massive's aggregates (``list_aggs``) by a ``Backfiller`` with a
client of its own; both clients count their requests in one ``RequestBudget`` (the plan's 5 a minute),
where the poll keeps its cadence and backfills take what is left.
"""

import asyncio
import json
import logging
import math
import re
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import urllib3
from massive import RESTClient
from massive.rest import BASE as DEFAULT_BASE_URL
from massive.rest.models import TickerSnapshot

from . import config
from .interface import MarketDataSource, PriceCache
from .massive_budget import RequestBudget
from .tickers import normalize_ticker
from .updates import make_update

logger = logging.getLogger("market.massive")

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
AUTH_RETRY_INTERVAL = 60.0  # a rejected key is retried this often, so a fixed key recovers by itself
MAX_BACKOFF = 300.0
MAX_RETRY_AFTER = 3600.0
STOP_TIMEOUT = 5.0
# The tickers go in the query string; URLs past ~8 KB are refused by many servers, so a longer list
# is split into several requests (about 500 tickers each).
MAX_TICKERS_QUERY_CHARS = 7000
_SNAPSHOT_PARTS = ("day", "lastQuote", "lastTrade", "min", "prevDay")


class MassiveError(Exception):
    """A poll that failed; ``str()`` is one line for logs and the UI."""


class MassiveHTTPError(MassiveError):
    """Massive answered with a status other than 200."""

    def __init__(self, status: int, body: str, retry_after: float | None = None):
        self.status = status
        self.body = body
        self.retry_after = retry_after
        super().__init__(f"HTTP {status}: {_error_message(body)}")

    @property
    def is_auth_error(self) -> bool:
        return self.status in (401, 403)


class MassiveInvalidResponse(MassiveError):
    """Massive answered 200 with a body that is not a snapshot (garbage, or an error in JSON)."""


class NoRetryStatusError(urllib3.util.Retry):
    """urllib3 retry policy of the Massive client: never retry, and raise ``MassiveHTTPError`` for any
    answer other than 200, with its status and ``Retry-After``.

    massive's own ``BadResponse`` keeps only the body, and back-off needs the status and the header:
    urllib3 hands every response to its retry policy (``is_retry``, then ``increment``) before massive
    sees it, and massive passes ``connection_pool_kw={"retries": ...}`` to its pool manager as
    documented, so nothing of the client itself is replaced. Connection errors surface as themselves,
    as with ``retries=False``.
    """

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        return status_code != 200

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        if error is not None:
            raise error.with_traceback(_stacktrace)
        if response is not None:
            raise MassiveHTTPError(
                response.status,
                response.data.decode("utf-8", errors="replace"),
                parse_retry_after(response.headers.get("Retry-After")),
            )
        return super().increment(method, url, response, error, _pool, _stacktrace)


class MassiveDataSource(MarketDataSource):
    """Polls Massive's full-market snapshot for the tracked tickers every ``poll_interval`` seconds.

    Beyond the interface: ``running`` (False once the poll task has ended; the feed's watchdog then
    calls ``start`` again), ``unknown_tickers()``, and ``last_error`` / ``consecutive_failures``
    describing the current failure streak (None / 0 after a success).
    """

    name = "massive"
    provides_previous_close = True

    def __init__(
        self,
        api_key: str,
        price_cache: PriceCache,
        poll_interval: float = 15.0,
        base_url: str | None = None,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        auth_retry_interval: float = AUTH_RETRY_INTERVAL,
        max_backoff: float | None = None,
        budget: RequestBudget | None = None,
    ):
        if not poll_interval > 0:
            raise ValueError("poll_interval must be positive")
        self._cache = price_cache
        self.interval = float(poll_interval)
        # Without ``base_url``, MASSIVE_BASE_URL still applies (tests point the seed's constructor at a fake).
        self.base_url = (base_url or config.massive_base_url() or DEFAULT_BASE_URL).rstrip("/")
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._auth_retry_interval = auth_retry_interval
        self._max_backoff = (
            max_backoff
            if max_backoff is not None
            else max(self.interval, min(16 * self.interval, MAX_BACKOFF))
        )
        self._api_key = api_key
        self.budget = budget if budget is not None else _default_budget()
        self._client = self.new_client()
        self._backfill = None  # made on the first history request (it writes to the database)
        self._directory = None  # made on the first suggestions request (idem)
        self._tickers: list[str] = []
        self._task: asyncio.Task | None = None
        # What was last written per ticker, (price, trade timestamp or None for a close, previous close):
        # an unchanged snapshot is not written again, so a closed market adds no flat points to the history.
        self._written: dict[str, tuple[float, float | None, float | None]] = {}
        self._unknown: set[str] = set()
        self._auth_error_logged = False
        self.last_error: str | None = None
        self.consecutive_failures = 0

    def new_client(self) -> RESTClient:
        """A client set up as the poll's (no retries, non-200 raised with its status), with a pool of
        its own: the history backfill and the ticker directory each get one."""
        return RESTClient(
            api_key=self._api_key,
            base=self.base_url,
            connect_timeout=self._connect_timeout,
            read_timeout=self._read_timeout,
            retries=0,
            connection_pool_kw={"retries": NoRetryStatusError(total=0, redirect=False)},
        )

    # The MarketDataSource interface

    async def start(self, tickers: list[str]) -> None:
        """Track ``tickers`` and start polling (at once); a running poller only takes the new tickers."""
        self._tickers = []
        for ticker in tickers:
            self._track(ticker)
        if not self.running:
            self._task = asyncio.create_task(self._poll_forever(), name="massive-poller")

    async def stop(self) -> None:
        for worker in (self._backfill, self._directory):
            if worker is not None:
                await asyncio.to_thread(worker.stop)
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        # wait() rather than awaiting the task: it neither re-raises the task's end nor hangs if a
        # cancellation is lost (the loop also ends by itself once it is no longer self._task).
        await asyncio.wait({task}, timeout=STOP_TIMEOUT)
        if task.done() and not task.cancelled() and task.exception() is not None:
            logger.error("the Massive poller had failed before it was stopped", exc_info=task.exception())

    async def add_ticker(self, ticker: str) -> None:
        """Track ``ticker`` from the next poll on."""
        self._track(ticker)

    async def remove_ticker(self, ticker: str) -> None:
        """Stop tracking ``ticker`` and forget its price."""
        ticker = normalize_ticker(ticker)
        self._tickers = [t for t in self._tickers if t != ticker]
        self._written.pop(ticker, None)
        self._unknown.discard(ticker)
        self._cache.remove(ticker)

    def get_tickers(self) -> list[str]:
        return list(self._tickers)

    def request_history(self, ticker: str, kind: str, since: int) -> bool:
        """Queue a fetch of Massive's aggregates for ``ticker`` (see ``market.history.backfill``)."""
        if self._backfill is None:
            from .history.backfill import Backfiller

            self._backfill = Backfiller(
                self.new_client(), self.budget, config.minute_bars_days(), config.daily_bars_days()
            )
        self._backfill.start()
        return self._backfill.request(normalize_ticker(ticker), kind, int(since))

    def request_directory(self) -> bool:
        """Load Massive's reference tickers into the directory (``market.directory``), after backfills."""
        if self._directory is None:
            from .directory import DirectoryLoader

            self._directory = DirectoryLoader(self.new_client(), self.budget, busy=self._backfilling)
        return self._directory.request()

    def _backfilling(self) -> bool:
        return self._backfill is not None and self._backfill.pending > 0

    @property
    def directory(self):
        """The ticker directory's loader, once a load was asked for (None before)."""
        return self._directory

    @property
    def backfill(self):
        """The history fetcher, once a fetch was asked for (None before)."""
        return self._backfill

    # State for the feed and the UI

    @property
    def running(self) -> bool:
        """True while the poll task is alive."""
        return self._task is not None and not self._task.done()

    def unknown_tickers(self) -> set[str]:
        """Tracked tickers that Massive left out of its last answer: it does not know them."""
        return set(self._unknown)

    # The poll loop

    def _track(self, ticker: str) -> None:
        ticker = normalize_ticker(ticker)
        if ticker not in self._tickers:
            self._tickers.append(ticker)

    async def _poll_forever(self) -> None:
        this_task = asyncio.current_task()
        while self._task is this_task:
            started = time.monotonic()
            delay = await self._poll()
            if self._task is not this_task:
                return  # stopped (or replaced) while the request was out
            if delay is None:
                # A success keeps the cadence: the request's own time counts towards the interval.
                delay = max(0.0, self.interval - (time.monotonic() - started))
            await asyncio.sleep(delay)

    async def _poll(self) -> float | None:
        """Poll once; return None after a success, else the seconds to wait before the next attempt."""
        tickers = list(self._tickers)
        try:
            snapshots = []
            if tickers:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation (stop()).
                async with asyncio.timeout(self._deadline(tickers)):
                    snapshots = await asyncio.to_thread(self._fetch, tickers)
            self._store(tickers, snapshots)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return self._after_failure(exc)
        self._after_success()
        return None

    def _fetch(self, tickers: list[str]) -> list[TickerSnapshot]:
        """The snapshots of ``tickers`` (blocking; runs in a worker thread). Raises on any failure."""
        snapshots = []
        chunks = list(ticker_chunks(tickers))
        self.budget.reserve_for_polls(self.interval, len(chunks))
        self.budget.poll_slot(self.interval)  # polls never closer than the interval: the reserve holds
        for chunk in chunks:
            self.budget.record()  # the poll's request, counted against the plan (never held back)
            # raw=True: the client would turn a body that is not JSON into an empty list, silently.
            response = self._client.get_snapshot_all("stocks", tickers=chunk, raw=True)
            snapshots.extend(parse_snapshots(response.data))
        return snapshots

    def _deadline(self, tickers: list[str]) -> float:
        # urllib3's read timeout is per socket read; this bounds a server that drips its answer.
        chunks = sum(1 for _ in ticker_chunks(tickers))
        return chunks * (self._connect_timeout + 2 * self._read_timeout)

    def _store(self, requested: list[str], snapshots: list[TickerSnapshot]) -> None:
        now = time.time()
        tracked = set(self._tickers)  # a ticker removed while the request was out stays removed
        updates = []
        returned = set()
        for snapshot in snapshots:
            ticker = snapshot.ticker.strip().upper()
            returned.add(ticker)
            observed = snapshot_price(snapshot)
            if ticker not in tracked or observed is None:
                continue
            close = previous_close(snapshot)
            previous = self._cache.get_price(ticker)
            if previous is not None and self._written.get(ticker) == (*observed, close):
                continue
            price, timestamp = observed
            updates.append(
                make_update(ticker, price, price if previous is None else previous, timestamp or now, close)
            )
            self._written[ticker] = (*observed, close)
        if updates:
            self._cache.apply(updates)
        self._cache.mark_success()
        missing = (set(requested) - returned) & tracked
        newly_unknown = missing - self._unknown
        if newly_unknown:
            logger.warning(
                "Massive does not know %s; left unpriced and reported as unknown",
                ", ".join(sorted(newly_unknown)),
            )
        self._unknown = ((self._unknown - set(requested)) | missing) & tracked

    def _after_success(self) -> None:
        if self.consecutive_failures:
            logger.info(
                "Massive polling recovered after %d failed attempt(s); last error: %s",
                self.consecutive_failures,
                self.last_error,
            )
        self.consecutive_failures = 0
        self.last_error = None
        self._auth_error_logged = False

    def _after_failure(self, exc: Exception) -> float:
        """Record and log a failed poll; return the seconds to wait before the next one."""
        self.consecutive_failures += 1
        reason = describe_error(exc, self.base_url)
        repeated = reason == self.last_error
        self.last_error = reason
        if isinstance(exc, MassiveHTTPError) and exc.is_auth_error:
            delay = max(self.interval, self._auth_retry_interval)
            if not self._auth_error_logged:
                self._auth_error_logged = True
                logger.error(
                    "Massive refused the API key (%s); check MASSIVE_API_KEY and its plan. "
                    "Prices stay as they were; retrying every %gs",
                    reason,
                    delay,
                )
            return delay
        delay = min(self.interval * 2 ** min(self.consecutive_failures, 30), self._max_backoff)
        if isinstance(exc, MassiveHTTPError) and exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        if isinstance(exc, MassiveHTTPError) and exc.status == 429:
            self.budget.block_for(exc.retry_after)  # backfills wait too
        if not isinstance(exc, MassiveError | urllib3.exceptions.HTTPError | OSError) and not repeated:
            logger.exception("Massive poll failed unexpectedly; retrying in %gs", delay)
        elif self.consecutive_failures == 1 or not repeated:
            logger.warning(
                "Massive poll failed (%s); keeping the last prices, retrying in %gs", reason, delay
            )
        else:
            logger.debug("Massive poll failed again (%s); retrying in %gs", reason, delay)
        return delay


def snapshot_price(snapshot: TickerSnapshot) -> tuple[float, float | None] | None:
    """``(price, trade time in Unix seconds)`` of a snapshot, or None when it holds no price.

    The last trade when there is one; otherwise (market closed, before the open, after the overnight
    reset that zeroes the snapshot) today's close when non-zero, else the previous day's close, with
    no trade time.
    """
    trade = snapshot.last_trade
    if trade is not None:
        price = _positive(trade.price)
        if price is not None:
            return price, unix_seconds(trade.sip_timestamp)
    for bar in (snapshot.day, snapshot.prev_day):
        price = _positive(bar.close) if bar is not None else None
        if price is not None:
            return price, None
    return None


def previous_close(snapshot: TickerSnapshot) -> float | None:
    """The snapshot's previous-day close (``prevDay.c``), or None when it has none."""
    bar = snapshot.prev_day
    return _positive(bar.close) if bar is not None else None


def unix_seconds(timestamp) -> float | None:
    """Unix seconds from a Massive timestamp (nanoseconds; smaller units are recognised by size)."""
    value = _positive(timestamp)
    if value is None:
        return None
    # Today is ~1.7e9 s, ~1.7e12 ms, ~1.7e15 us, ~1.7e18 ns: each unit has its own range of sizes.
    for smallest, per_second in ((1e17, 1e9), (1e14, 1e6), (1e11, 1e3)):
        if value >= smallest:
            return value / per_second
    return value


def parse_snapshots(body: bytes) -> list[TickerSnapshot]:
    """The snapshots in a snapshot answer's body; raises ``MassiveInvalidResponse`` for anything else."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MassiveInvalidResponse(f"Massive answered with a body that is not JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise MassiveInvalidResponse("Massive answered with JSON that is not a snapshot object")
    status = payload.get("status")
    if isinstance(status, str) and status.upper() in ("ERROR", "NOT_AUTHORIZED", "NOT_FOUND"):
        raise MassiveInvalidResponse(f"Massive answered {status}: {_error_message(json.dumps(payload))}")
    items = payload.get("tickers") or []
    if not isinstance(items, list):
        raise MassiveInvalidResponse("Massive answered with a 'tickers' field that is not a list")
    return [
        # A part that is not an object (null) would make the model's from_dict fail: drop it.
        TickerSnapshot.from_dict(
            {
                key: value
                for key, value in item.items()
                if key not in _SNAPSHOT_PARTS or isinstance(value, dict)
            }
        )
        for item in items
        if isinstance(item, dict) and isinstance(item.get("ticker"), str)
    ]


def _default_budget() -> RequestBudget:
    try:
        return RequestBudget.from_settings()
    except Exception:  # settings not configured (a script without Django)
        return RequestBudget()


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), capped at an hour."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def ticker_chunks(tickers: Iterable[str]) -> Iterator[list[str]]:
    """Split tickers into lists whose comma-joined, URL-encoded form stays under the URL budget."""
    chunk: list[str] = []
    size = 0
    for ticker in tickers:
        cost = len(ticker) + 3  # the URL-encoded comma, %2C
        if chunk and size + cost > MAX_TICKERS_QUERY_CHARS:
            yield chunk
            chunk, size = [], 0
        chunk.append(ticker)
        size += cost
    if chunk:
        yield chunk


def describe_error(exc: BaseException, base_url: str) -> str:
    """One line saying why a poll failed."""
    errors = urllib3.exceptions
    if isinstance(exc, errors.MaxRetryError) and exc.reason is not None:
        return describe_error(exc.reason, base_url)
    if isinstance(exc, MassiveError):
        return str(exc)
    if isinstance(exc, errors.NewConnectionError | ConnectionRefusedError):
        return f"cannot connect to {base_url} (connection refused or unreachable)"
    if isinstance(exc, errors.ReadTimeoutError | errors.ConnectTimeoutError | TimeoutError):
        return f"{base_url} timed out"
    if isinstance(exc, errors.ProtocolError):
        return f"the connection to {base_url} broke ({exc})"
    return f"{type(exc).__name__}: {exc}"


def _positive(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) and value > 0 else None


def _error_message(body: str) -> str:
    """The human part of a Massive error body ({"status", "error" or "message"}), else the body, short."""
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        for key in ("error", "message", "status"):
            if isinstance(payload.get(key), str) and payload[key]:
                return payload[key][:200]
    text = " ".join(re.sub(r"<[^>]*>", " ", body).split())  # an HTML error page keeps only its words
    return text[:200] or "(empty body)"
