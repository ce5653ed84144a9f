"""History the database lacks, from Massive's aggregates: asked for by the history endpoint, fetched by
the owner of the source within the plan's rate budget (``market.massive_budget``), stored, and
recorded as covered (``HistoryCoverage``).

``ensure()`` runs in whichever process serves ``GET /api/history/``. With a source that has no
history to give (the simulator) it does nothing. Otherwise, when the range reaches back before what
the database holds and Massive was not yet asked for that span (``HistoryCoverage``), it asks the
source (``request_history``: Massive's source queues the fetch; a mirror passes the request on to
``runfeed`` over the control channel) and answers True: the endpoint then says ``"backfilling":
true`` and serves what the database has meanwhile. Requests are not repeated within
``ASK_AGAIN_AFTER`` seconds.
"""

import json
import logging
import threading
import time
from datetime import timedelta

from django.db import transaction
from massive.rest.models import Agg

from ..feed import get_feed
from .models import HistoryCoverage

logger = logging.getLogger("market.history")

ASK_AGAIN_AFTER = 30.0
AGGS_LIMIT = 50000  # Massive's most per answer: 7 days of minutes, or 10 years of days, in one request
WRITE_CHUNK = 10_000  # rows per INSERT statement
_asked: dict[tuple[str, str], float] = {}
_asked_lock = threading.Lock()


def ensure(ticker: str, kind: str, since: int, bars: list, now: float | None = None) -> bool:
    """Whether ``kind`` bars of ``ticker`` from ``since`` on are being fetched (asking for them if needed).

    ``bars`` are what the database gave for the range (``[t, ...]`` rows, oldest first).
    """
    feed = get_feed()
    if feed.source_name != "massive":
        return False
    now = time.time() if now is None else now
    slack = 86400 if kind == "day" else 3600  # a holiday or the first hour of a range is no gap
    if bars and bars[0][0] <= since + slack:
        return False
    coverage = (
        HistoryCoverage.objects.filter(ticker=ticker, kind=kind).values_list("since", flat=True).first()
    )
    if coverage is not None and coverage <= since + slack:
        return False
    key = (ticker, kind)
    with _asked_lock:
        asked = _asked.get(key)
        if asked is not None and now - asked < ASK_AGAIN_AFTER:
            return True
        _asked[key] = now
    if not feed.source.request_history(ticker, kind, int(since)):
        with _asked_lock:
            _asked.pop(key, None)
        return False
    return True


def forget_requests() -> None:
    """Forget which fetches were asked for (tests)."""
    with _asked_lock:
        _asked.clear()


# The owner's side: fetching


class _Stopped(Exception):
    """The backfiller stopped while a request waited for the budget."""


class Backfiller:
    """Fetches queued history from Massive's aggregates in a thread of its own, within the budget.

    ``request(ticker, kind, since)`` queues a fetch (a queued one for the same ticker and kind only
    reaches further back). A fetch takes the whole span the database keeps (minute bars: the last
    ``MARKET_MINUTE_BARS_DAYS``; daily bars: at least a year, at most ``MARKET_DAILY_BARS_DAYS``), so
    one request or two per ticker serve every range. Bars are stored without touching recorded ones,
    then the span is recorded as covered. A 429 pauses the queue for its ``Retry-After``; a refused
    key or an unknown ticker ends that fetch (logged once); other failures are retried a few times.
    """

    RETRIES = 3

    def __init__(self, client, budget, minute_days: int, daily_days: int, clock=time.time):
        self.client = client
        self.budget = budget
        self.minute_days = minute_days
        self.daily_days = daily_days
        self.clock = clock
        self._stop = threading.Event()
        self._condition = threading.Condition()
        self._queue: dict[tuple[str, str], int] = {}
        self._attempts: dict[tuple[str, str], int] = {}
        self._busy: tuple[str, str] | None = None
        self._thread: threading.Thread | None = None
        self.fetched = 0

    def request(self, ticker: str, kind: str, since: int) -> bool:
        if kind not in ("minute", "day"):
            return False
        with self._condition:
            key = (ticker, kind)
            self._queue[key] = min(since, self._queue.get(key, since))
            self._condition.notify()
        return True

    @property
    def pending(self) -> int:
        with self._condition:
            return len(self._queue) + (self._busy is not None)

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="massive-backfill", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._condition:
            self._condition.notify_all()
        self.budget.wake()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        from django.db import connection

        try:
            while not self._stop.is_set():
                with self._condition:
                    while not self._queue and not self._stop.is_set():
                        self._condition.wait(1.0)
                    if self._stop.is_set():
                        return
                    key = next(iter(self._queue))
                    since = self._queue.pop(key)
                    self._busy = key
                try:
                    self._fetch_one(*key, since)
                finally:
                    self._busy = None
        finally:
            connection.close()

    def _fetch_one(self, ticker: str, kind: str, since: int) -> None:
        from ..massive_client import MassiveHTTPError, describe_error

        key = (ticker, kind)
        try:
            count = self.fetch(ticker, kind, since)
        except _Stopped:
            return
        except MassiveHTTPError as exc:
            if exc.status == 429:
                self.budget.block_for(exc.retry_after)
                self._requeue(key, since)
                logger.info("Massive rate-limited a history fetch; waiting %ss", exc.retry_after or "60")
                return
            logger.warning("Massive refused the %s history of %s (%s); not retried", kind, ticker, exc)
            return
        except Exception as exc:
            attempts = self._attempts.get(key, 0) + 1
            if attempts < self.RETRIES:
                self._attempts[key] = attempts
                self._requeue(key, since)
            else:
                self._attempts.pop(key, None)
            logger.warning(
                "fetching the %s history of %s failed (%s)%s",
                kind,
                ticker,
                describe_error(exc, self.client.BASE),
                "; retrying" if attempts < self.RETRIES else "; giving up for now",
            )
            self._stop.wait(min(30.0, 2.0**attempts))
            return
        self._attempts.pop(key, None)
        self.fetched += 1
        logger.info("fetched %d %s bars of %s from Massive", count, kind, ticker)

    def _requeue(self, key, since) -> None:
        with self._condition:
            self._queue[key] = min(since, self._queue.get(key, since))

    def fetch(self, ticker: str, kind: str, since: int) -> int:
        """Fetch and store one span (blocking: budget, HTTP, database). Returns the bars stored."""
        from . import calendar, store

        now = self.clock()
        if kind == "minute":
            start = int(now - self.minute_days * 86400)  # the whole span kept: one request serves every range
            aggs = self._aggs(ticker, "minute", start * 1000, int(now * 1000))
            rows = [
                (ticker, int(agg.timestamp // 1000) // 60 * 60, agg.open, agg.high, agg.low, agg.close)
                for agg in aggs
                if _complete(agg)
            ]
            write = store.write_minute_bars
        else:
            start = int(max(min(since, now - 365 * 86400), now - self.daily_days * 86400))
            first_day, today = calendar.new_york_date(start), calendar.new_york_date(now)
            aggs = self._aggs(
                ticker, "day", _midnight_ms(first_day), _midnight_ms(today + timedelta(days=1)) - 1
            )
            # A daily aggregate's timestamp is midnight America/New_York of its day.
            rows = [
                (
                    ticker,
                    calendar.new_york_date(agg.timestamp / 1000 + 1),
                    agg.open,
                    agg.high,
                    agg.low,
                    agg.close,
                )
                for agg in aggs
                if _complete(agg)
            ]
            write = store.write_daily_bars
        # One transaction: a reader sees the whole span and its coverage or none of it, never the old
        # half of a span already marked as fetched (and a failure stores nothing, so it is retried).
        with transaction.atomic():
            for i in range(0, len(rows), WRITE_CHUNK):
                write(rows[i : i + WRITE_CHUNK], merge=False)
            store.write_coverage(ticker, kind, start, now)
        return len(rows)

    def _aggs(self, ticker: str, timespan: str, start_ms: int, end_ms: int) -> list[Agg]:
        """Every aggregate of ``ticker`` in ``[start_ms, end_ms]``, one request at a time, each waiting
        for the budget first. A span Massive answers in several pages (``next_url``) continues from
        the page's last bar, so every request is one the budget counted."""
        aggs: list[Agg] = []
        while True:
            if not self.budget.acquire_spare(self._stop):
                raise _Stopped
            response = self.client.get_aggs(
                ticker, 1, timespan, start_ms, end_ms, sort="asc", limit=AGGS_LIMIT, raw=True
            )
            page, more = parse_aggs(response.data)
            aggs += page
            if not (more and page) or page[-1].timestamp >= end_ms:
                return aggs
            start_ms = int(page[-1].timestamp) + 1


def parse_aggs(body: bytes) -> tuple[list[Agg], bool]:
    """The aggregates of an aggregates answer, and whether Massive has more (a ``next_url``).

    Raises ``MassiveInvalidResponse`` for a body that is not such an answer (the client would give an
    empty list for it, silently).
    """
    from ..massive_client import MassiveInvalidResponse

    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MassiveInvalidResponse(f"Massive answered with a body that is not JSON ({exc})") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("results", []), list):
        raise MassiveInvalidResponse("Massive answered with JSON that is not an aggregates answer")
    results = [Agg.from_dict(item) for item in payload.get("results") or [] if isinstance(item, dict)]
    return results, bool(payload.get("next_url"))


def _midnight_ms(day) -> int:
    """Midnight America/New_York of ``day``, in Unix milliseconds (a daily aggregate's timestamp)."""
    from . import calendar

    return int(calendar.day_start(day) * 1000)


def _complete(agg) -> bool:
    values = (agg.open, agg.high, agg.low, agg.close, agg.timestamp)
    return all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in values)
