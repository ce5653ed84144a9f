"""``BarRecorder``: the owner's tick listener that turns ticks into stored bars and latest prices.

On the tick's path it only updates NumPy arrays indexed by cache slot (the open, high, low and close
of the current minute), vectorised over the batch (in place, by slices, when the batch's slots are
consecutive, as a simulator tick's are). Everything else happens elsewhere:

- a one-second timer in the feed's loop notices the end of a minute (also when no tick comes) and of
  a New York day, and every ``checkpoint_interval`` seconds (5) copies the latest prices;
- each minute's end hands the finished minute's bars to the writer; the day's bars so far go every
  ``daily_interval`` seconds (5 minutes), at the New York day's end and at a clean stop (which
  hands over the minute so far too). A SIGKILL loses the minute in progress, at most 5 s of latest
  prices and up to 5 minutes of the day's bar (today's bar in the history endpoint is built from
  the minute bars, so it is exact all the same);
- a worker thread (``_Writer``) writes what it is handed, each kind of row in ONE statement for all
  tickers (``market.history.store``), retries when the database is in trouble (locked, down, not
  migrated: logged once, and once more when it recovers), and prunes bars by age.

``start()`` runs before the source starts: it loads the latest stored prices and previous closes, puts
the prices newer than what the cache holds into the cache (``runfeed`` has already put the prices it
kept in Redis there: the newer of the two wins) and resumes the source from them
(``source.resume_from``), so a restarted owner continues every ticker where it was. It sets each
ticker's previous close in the cache, and again at each New York midnight (the day's close), unless
the source provides previous closes itself (Massive's snapshots). ``stop()`` writes the last state
and waits (bounded) for the writer.

Minutes are UTC minutes (New York's are the same); days are New York days (``calendar``).
"""

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
from django.db import DatabaseError, close_old_connections, connection, transaction

from .. import config
from ..listeners import TickListener
from ..updates import make_update
from . import calendar, store

if TYPE_CHECKING:
    from ..feed import Feed

logger = logging.getLogger("market.history")

CHECKPOINT_INTERVAL = 5.0  # the latest prices reach the database this often
DAILY_INTERVAL = 300.0  # and the day's bars this often (and at the day's end)
TIMER_INTERVAL = 1.0
PRUNE_INTERVAL = 300.0
LOAD_TIMEOUT = 10.0  # a starting owner waits at most this long for the stored prices
STOP_TIMEOUT = 15.0  # and a stopping one this long for its last write
RETRY_MIN, RETRY_MAX = 1.0, 5.0  # pauses between attempts while the database is in trouble
IDLE_CHECK = 1.0  # an idle writer checks this often whether its feed's loop still exists
MAX_PENDING_MINUTES = 180  # minutes kept in memory while the database is away (then the oldest go)
_INITIAL_CAPACITY = 64


@dataclass
class _Chunk:
    """Copies of some slots' arrays for one period (a minute, a day) or of their latest prices.

    ``tickers[slots[i]]`` owns row i (``tickers`` is the recorder's slot table of that moment, shared:
    it is replaced, never changed). A ``full`` chunk covers every slot that had data then, so a later
    full chunk of the same period replaces an earlier one. Rows are built in the writer's thread.
    """

    tickers: list
    slots: np.ndarray
    columns: tuple[np.ndarray, ...]  # open, high, low, close; or the price alone
    full: bool = True

    def rows(self, key) -> list[tuple]:
        tickers = self.tickers
        lists = [column.tolist() for column in self.columns]
        return [
            (tickers[slot], key, *values)
            for slot, *values in zip(self.slots.tolist(), *lists, strict=True)
            if tickers[slot] is not None
        ]


def _add(chunks: list[_Chunk], chunk: _Chunk) -> list[_Chunk]:
    if chunk.full:
        chunks = [existing for existing in chunks if not existing.full]
    return [*chunks, chunk]


@dataclass
class _Work:
    """What the writer has still to write. Keys: a minute's start, a day, the latest prices' time."""

    minutes: "OrderedDict[int, list[_Chunk]]" = field(default_factory=OrderedDict)
    days: dict[date, list[_Chunk]] = field(default_factory=dict)
    latest: dict[float, list[_Chunk]] = field(default_factory=dict)
    lookups: set[str] = field(default_factory=set)  # tickers whose previous close to look up

    def __bool__(self) -> bool:
        return bool(self.minutes or self.days or self.latest or self.lookups)

    def absorb(self, newer: "_Work") -> None:
        for start, chunks in newer.minutes.items():
            for chunk in chunks:
                self.minutes[start] = _add(self.minutes.get(start, []), chunk)
        for day, chunks in newer.days.items():
            for chunk in chunks:
                self.days[day] = _add(self.days.get(day, []), chunk)
        for when, chunks in newer.latest.items():
            if any(chunk.full for chunk in chunks):  # newer prices of every ticker: older ones can go
                self.latest = {old: [c for c in kept if not c.full] for old, kept in self.latest.items()}
            self.latest[when] = [*self.latest.get(when, []), *chunks]
        self.lookups |= newer.lookups
        while len(self.minutes) > MAX_PENDING_MINUTES:
            start, _ = self.minutes.popitem(last=False)
            logger.warning("dropped the minute bars of %s: the database has been away too long", start)

    def rows(self) -> tuple[list[tuple], list[tuple], list[tuple]]:
        """Minute, daily and latest-price rows, one per key (later chunks win)."""
        minutes = [
            row for start, chunks in self.minutes.items() for row in _by_ticker(chunks, start).values()
        ]
        days = [row for day, chunks in self.days.items() for row in _by_ticker(chunks, day).values()]
        latest: dict[str, tuple] = {}
        for when in sorted(self.latest):
            for chunk in self.latest[when]:
                for ticker, _, price in chunk.rows(when):
                    latest[ticker] = (ticker, price, when)
        return minutes, days, list(latest.values())


def _by_ticker(chunks: list[_Chunk], key) -> dict[str, tuple]:
    found: dict[str, tuple] = {}
    for chunk in chunks:
        for row in chunk.rows(key):
            found[row[0]] = row
    return found


class BarRecorder(TickListener):
    """Records one-minute and daily bars and the latest prices of the feed's cache (owner only)."""

    owner_only = True

    def __init__(
        self,
        checkpoint_interval: float = CHECKPOINT_INTERVAL,
        timer_interval: float = TIMER_INTERVAL,
        daily_interval: float = DAILY_INTERVAL,
        minute_days: int | None = None,
        daily_days: int | None = None,
        clock=time.time,
    ):
        self.checkpoint_interval = checkpoint_interval
        self.timer_interval = timer_interval
        self.daily_interval = daily_interval
        self.minute_days = minute_days if minute_days is not None else config.minute_bars_days()
        self.daily_days = daily_days if daily_days is not None else config.daily_bars_days()
        self.clock = clock
        self.feed: Feed | None = None
        self.cache = None
        self._lock = threading.Lock()
        self._capacity = 0
        self._allocate(_INITIAL_CAPACITY)
        self._tickers: list[str | None] = []  # replaced, never mutated: chunks share it safely
        self._layout = -1
        self._minute = 0
        self._minute_end = -math.inf
        self._day: date | None = None
        self._day_end = -math.inf
        self._next_checkpoint = 0.0
        self._next_daily = 0.0
        self._source_closes = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.Task | None = None
        self._writer: _Writer | None = None
        self.resumed: dict[str, float] = {}

    # Arrays by cache slot

    def _allocate(self, capacity: int) -> None:
        old = self._capacity
        for name, fill in (
            ("_open", 0.0),
            ("_high", 0.0),
            ("_low", 0.0),
            ("_close", 0.0),  # also the latest price: not reset at a minute's end
            ("_day_open", 0.0),
            ("_day_high", 0.0),
            ("_day_low", 0.0),
            ("_day_close", 0.0),
        ):
            array = np.full(capacity, fill)
            if old:
                array[:old] = getattr(self, name)
            setattr(self, name, array)
        for name in ("_seen", "_day_seen", "_has"):  # this minute, this day, ever
            array = np.zeros(capacity, dtype=bool)
            if old:
                array[:old] = getattr(self, name)
            setattr(self, name, array)
        self._capacity = capacity

    # Lifecycle

    async def start(self, feed: "Feed") -> None:
        self.feed, self.cache = feed, feed.cache
        self._loop = asyncio.get_running_loop()
        self._source_closes = bool(getattr(feed.source, "provides_previous_close", False))
        now = self.clock()
        tickers = set(feed.starting_tickers)
        stored, closes = await self._load(tickers, calendar.new_york_date(now))
        self._resume(stored, tickers)
        if closes:
            self.cache.set_previous_closes(closes, now)
        self.attach(self.cache, now)
        self._writer = _Writer(self)
        if stored is None:
            self._writer.submit(_Work(lookups=tickers))  # retried by the writer until the database answers
        self._writer.start()
        self._timer = asyncio.create_task(self._run_timer(), name="bar-recorder-timer")

    def attach(self, cache, now: float) -> None:
        """Follow ``cache``'s slots from ``now`` on: the arrays only, no database and no writer (what
        ``start`` does once it has loaded the stored state; the tick benchmark uses it alone)."""
        self.cache = cache
        with self._lock:
            self._resync()
            self._begin_minute(now)
            self._begin_day(now)
            self._next_checkpoint = now + self.checkpoint_interval
            # Half a period off the minutes' ends, so the day's write never joins a minute's.
            self._next_daily = now + self.daily_interval / 2

    async def stop(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
            await asyncio.gather(timer, return_exceptions=True)
        writer, self._writer = self._writer, None
        if writer is None:
            return
        with self._lock:
            work = self._snapshot(self.clock(), bars=True)
        writer.submit(work)
        await asyncio.to_thread(writer.finish, STOP_TIMEOUT)

    async def _load(self, tickers: set[str], today: date):
        """The stored latest prices and the previous closes, or (None, {}) when the database cannot say."""

        def load():
            try:
                return store.latest_prices(), store.previous_closes(tickers, today)
            finally:
                connection.close()

        try:
            async with asyncio.timeout(LOAD_TIMEOUT):
                return await asyncio.to_thread(load)
        except Exception as exc:  # DatabaseError, a time-out, or database access refused (a test)
            logger.warning(
                "could not read the stored prices (%s); starting from the source's own prices, "
                "and recording once the database answers",
                _describe(exc),
            )
            return None, {}

    def _resume(self, stored: dict[str, tuple[float, float]] | None, tickers: set[str]) -> None:
        """Continue from the stored prices that are newer than the cache's (runfeed's from Redis)."""
        if not stored:
            return
        current = self.cache.get_many(stored)
        newer = {
            ticker: price
            for ticker, (price, ts) in stored.items()
            if ticker not in current or ts > current[ticker].timestamp
        }
        if not newer:
            return
        self.feed.source.resume_from(newer)
        self.cache.apply(
            make_update(ticker, price, price, stored[ticker][1])
            for ticker, price in newer.items()
            if ticker in tickers
        )
        self.resumed = newer
        logger.info("resumed %d tickers from their stored prices", len(newer))

    # The tick's path

    def on_tick(self, batch) -> None:
        slots, prices = batch.slots, batch.prices
        count = len(slots)
        if count == 0:
            return
        # A source's whole tick is usually a run of consecutive slots: slices then update the arrays
        # in place, several times cheaper than gathering and scattering by index.
        first = int(slots[0])
        if int(slots[-1]) - first == count - 1 and (count == 1 or bool((np.diff(slots) == 1).all())):
            index = slice(first, first + count)
        else:
            index = slots
        with self._lock:
            if self.cache.layout_version != self._layout:
                self._resync()
            if batch.timestamp >= self._minute_end:
                self._roll(batch.timestamp)
            seen = self._seen[index]
            if not seen.all():
                fresh = ~seen
                new, opening = slots[fresh], prices[fresh]
                self._open[new] = opening
                self._high[new] = opening
                self._low[new] = opening
                self._seen[new] = True
                self._has[new] = True
            if isinstance(index, slice):
                high, low = self._high[index], self._low[index]  # views
                np.maximum(high, prices, out=high)
                np.minimum(low, prices, out=low)
            else:
                self._high[index] = np.maximum(self._high[index], prices)
                self._low[index] = np.minimum(self._low[index], prices)
            self._close[index] = prices

    # Periods (the caller holds the lock)

    def _resync(self) -> None:
        """Follow the cache's slots: a slot that changed hands starts clean (its old bars are written)."""
        tickers = self.cache.slot_tickers()
        if len(tickers) > self._capacity:
            self._allocate(max(len(tickers), 2 * self._capacity))
        old = self._tickers
        changed = [
            slot for slot in range(max(len(old), len(tickers))) if _at(old, slot) != _at(tickers, slot)
        ]
        if changed:
            gone = np.array([slot for slot in changed if _at(old, slot) is not None], dtype=np.int64)
            if len(gone) and self._writer is not None:
                self._writer.submit(self._work(old, gone, self.clock(), full=False))
            index = np.array(changed, dtype=np.int64)
            for name in ("_seen", "_day_seen", "_has"):
                getattr(self, name)[index] = False
            added = {ticker for slot in changed if (ticker := _at(tickers, slot)) is not None}
            if added and self._writer is not None and not self._source_closes:
                self._writer.submit(_Work(lookups=added))
        self._tickers, self._layout = tickers, self.cache.layout_version

    def _work(
        self, tickers: list, index: np.ndarray, now: float, full: bool = True, bars: bool = True
    ) -> _Work:
        """The latest prices of the slots in ``index`` and, with ``bars``, their minute and day so far."""
        work = _Work()
        if bars:
            minute = index[self._seen[index]]
            if len(minute):
                work.minutes[self._minute] = [_Chunk(tickers, minute, self._minute_columns(minute), full)]
            day = index[self._day_seen[index] | self._seen[index]]
            if len(day) and self._day is not None:
                work.days[self._day] = [_Chunk(tickers, day, self._day_columns(day), full)]
        latest = index[self._has[index]]
        if len(latest):
            work.latest[now] = [_Chunk(tickers, latest, (self._close[latest],), full)]
        return work

    def _day_work(self, now: float) -> _Work:
        """The day's bars so far (the current minute included) of every slot with data today."""
        n = len(self._tickers)
        index = np.flatnonzero(self._day_seen[:n] | self._seen[:n])
        work = _Work()
        if len(index) and self._day is not None:
            work.days[self._day] = [_Chunk(self._tickers, index, self._day_columns(index))]
        return work

    def _minute_columns(self, index: np.ndarray) -> tuple[np.ndarray, ...]:
        return self._open[index], self._high[index], self._low[index], self._close[index]

    def _day_columns(self, index: np.ndarray) -> tuple[np.ndarray, ...]:
        """The day so far, the current minute included."""
        in_day, in_minute = self._day_seen[index], self._seen[index]
        o = np.where(in_day, self._day_open[index], self._open[index])
        h = np.where(in_day, self._day_high[index], -np.inf)
        lo = np.where(in_day, self._day_low[index], np.inf)
        h = np.where(in_minute, np.maximum(h, self._high[index]), h)
        lo = np.where(in_minute, np.minimum(lo, self._low[index]), lo)
        c = np.where(in_minute, self._close[index], self._day_close[index])
        return o, h, lo, c

    def _begin_minute(self, now: float) -> None:
        self._minute = calendar.minute_start(now)
        self._minute_end = self._minute + calendar.MINUTE
        self._seen[:] = False

    def _begin_day(self, now: float) -> None:
        self._day, _, self._day_end = calendar.day_bounds(now)
        self._day_seen[:] = False

    def _roll(self, now: float) -> None:
        """The minute (and maybe the day) ended: hand its bars to the writer, start the next."""
        n = len(self._tickers)
        index = np.flatnonzero(self._seen[:n])
        work = _Work()
        if len(index):
            work.minutes[self._minute] = [_Chunk(self._tickers, index, self._minute_columns(index))]
            # The finished minute joins the day.
            new = index[~self._day_seen[index]]
            self._day_open[new] = self._open[new]
            self._day_high[new] = self._high[new]
            self._day_low[new] = self._low[new]
            old = index[self._day_seen[index]]
            self._day_high[old] = np.maximum(self._day_high[old], self._high[old])
            self._day_low[old] = np.minimum(self._day_low[old], self._low[old])
            self._day_close[index] = self._close[index]
            self._day_seen[index] = True
        self._begin_minute(now)
        if now >= self._day_end:
            days = np.flatnonzero(self._day_seen[:n])
            if len(days):
                work.days[self._day] = [_Chunk(self._tickers, days, self._day_columns(days))]
            if len(days) and not self._source_closes:
                tickers = self._tickers
                closes = {
                    tickers[slot]: close
                    for slot, close in zip(days.tolist(), self._day_close[days].tolist(), strict=True)
                }
                self._call_in_loop(self.cache.set_previous_closes, closes, now)
            self._begin_day(now)
        if work and self._writer is not None:
            self._writer.submit(work)

    def _snapshot(self, now: float, bars: bool = False) -> _Work:
        """Every slot's latest price (a checkpoint), and with ``bars`` its minute and day so far (a stop)."""
        if now >= self._minute_end:
            self._roll(now)
        return self._work(self._tickers, np.arange(len(self._tickers), dtype=np.int64), now, bars=bars)

    @property
    def orphaned(self) -> bool:
        """Whether the loop the recorder was started in has closed without stopping it."""
        return self._loop is not None and self._loop.is_closed()

    # The timer, in the feed's loop

    async def _run_timer(self) -> None:
        while True:
            await asyncio.sleep(self.timer_interval)
            try:
                self.tick_timer()
            except Exception:
                logger.exception("the bar recorder's timer failed; going on")

    def tick_timer(self, now: float | None = None) -> None:
        """End the minute or day if its time has come, and checkpoint when due (what the timer does)."""
        now = self.clock() if now is None else now
        with self._lock:
            if self.cache.layout_version != self._layout:
                self._resync()
            if now >= self._minute_end:
                self._roll(now)
            if self._writer is None:
                return
            if now >= self._next_checkpoint:
                self._next_checkpoint = now + self.checkpoint_interval
                self._writer.submit(self._snapshot(now))
            if now >= self._next_daily:
                self._next_daily = now + self.daily_interval
                self._writer.submit(self._day_work(now))

    def _call_in_loop(self, function, *args) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(function, *args)


def _at(items: list, index: int):
    return items[index] if index < len(items) else None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class _Writer:
    """The recorder's worker thread: writes what it is handed, retrying while the database is away."""

    def __init__(self, recorder: BarRecorder):
        self.recorder = recorder
        self._pending = _Work()
        self._condition = threading.Condition()
        self._finishing = False
        self._failures = 0
        self._next_prune = 0.0
        self._thread = threading.Thread(target=self._run, name="bar-recorder-writer", daemon=True)
        self.flushes = 0
        self.last_flush_seconds = 0.0

    def start(self) -> None:
        self._thread.start()

    def submit(self, work: _Work) -> None:
        """Hand work over; never blocks (bar the lock a few microseconds)."""
        if not work:
            return
        with self._condition:
            self._pending.absorb(work)
            self._condition.notify()

    def finish(self, timeout: float) -> None:
        """Write what is pending (one attempt, waiting at most ``timeout``), then end the thread."""
        with self._condition:
            self._finishing = True
            self._condition.notify()
        self._thread.join(timeout + 1.0)
        if self._thread.is_alive():
            logger.warning("the bar recorder could not write its last prices within %ss", timeout)

    def _run(self) -> None:
        delay = RETRY_MIN
        try:
            while True:
                with self._condition:
                    while not self._pending and not self._finishing:
                        if not self._condition.wait(IDLE_CHECK) and self.recorder.orphaned:
                            # The feed's loop closed without stopping it (only a test does that):
                            # end, writing nothing more into a database that is no longer its own.
                            return
                    work, self._pending = self._pending, _Work()
                    finishing = self._finishing
                if work and not self._write(work):
                    if finishing:
                        # Stopping: one attempt (SQLite waits for a lock within it); a server that is
                        # shutting down does not wait for a database that is away.
                        logger.warning("the last bars and prices could not be stored: the database is away")
                        return
                    with self._condition:
                        work.absorb(self._pending)
                        self._pending = work
                        # New work does not cut the pause short: the database gets its breather.
                        until = time.monotonic() + delay
                        while not self._finishing and (left := until - time.monotonic()) > 0:
                            self._condition.wait(left)
                        if self.recorder.orphaned:
                            return
                    delay = min(2 * delay, RETRY_MAX)
                    continue
                delay = RETRY_MIN
                if finishing:
                    with self._condition:
                        if not self._pending:
                            return
        finally:
            connection.close()

    def _write(self, work: _Work) -> bool:
        recorder = self.recorder
        started = time.perf_counter()
        try:
            close_old_connections()
            minutes, days, latest = work.rows()
            with transaction.atomic():
                store.write_minute_bars(minutes)
                store.write_daily_bars(days)
                store.write_latest_prices(latest)
            if work.lookups:
                today = calendar.new_york_date(recorder.clock())
                closes = store.previous_closes(work.lookups, today)
                if closes:
                    recorder._call_in_loop(recorder.cache.set_previous_closes, closes, recorder.clock())
            self._maybe_prune()
        except Exception as exc:  # DatabaseError above all: locked, down, not migrated
            self._failures += 1
            if self._failures == 1:
                logger.warning(
                    "could not store bars and prices (%s); keeping them in memory and retrying",
                    _describe(exc),
                    exc_info=not isinstance(exc, DatabaseError),
                )
            connection.close()  # a broken connection is not reused
            return False
        self.flushes += 1
        self.last_flush_seconds = time.perf_counter() - started
        if self._failures:
            logger.info("storing bars and prices again after %d failed attempts", self._failures)
            self._failures = 0
        return True

    def _maybe_prune(self) -> None:
        now = self.recorder.clock()
        if now < self._next_prune:
            return
        self._next_prune = now + PRUNE_INTERVAL
        minutes, days = store.prune(
            self.recorder.minute_days, self.recorder.daily_days, now, calendar.new_york_date(now)
        )
        if minutes or days:
            logger.info("pruned %d minute bars and %d daily bars by age", minutes, days)


def create_recorder() -> BarRecorder:
    """The factory named in ``settings.MARKET_TICK_LISTENERS``."""
    return BarRecorder()
