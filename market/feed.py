"""The per-process market feed: one ``PriceCache``, the source that fills it, its tick listeners.

Each process has one ``Feed`` (``get_feed()``). Its cache exists from the first call, so pages and the
trade service can read prices in any process; the source runs only after ``start()``, which the ASGI
application calls inside the server's own event loop (never ``AppConfig.ready()``: that runs for
``migrate``, tests and twice under the autoreloader), and ``runfeed`` calls in its own.

The source comes from ``market.factory`` (the simulator, Massive, or under ``MARKET_FEED=external`` a
``MirrorSource`` following ``runfeed``); the feed treats them alike. The process that owns the
source (its source is not ``remote``) also does the owner's work: it reconciles the ticker set with
the database, runs the periodic jobs and the owner-only tick listeners (``market.listeners``).

The ticker set (``market.demand``): the default ten plus every referenced ticker. After a commit the
portfolio app calls ``tickers_changed()``; the feed re-reads the references of just those tickers and
adds or removes them (a mirror's source passes that on to ``runfeed``).
"""

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable, Mapping

from django.conf import settings
from django.db import DatabaseError

from . import config, demand, hooks, jobs, memory
from .cache import PriceCache
from .factory import create_market_data_source
from .interface import MarketDataSource
from .listeners import TickListener
from .seed_prices import DEFAULT_TICKERS

logger = logging.getLogger(__name__)

RECONCILE_INTERVAL = 30.0
WATCHDOG_INTERVAL = 1.0

SourceFactory = Callable[[PriceCache], MarketDataSource]


class Feed:
    """One process's view of the market: the cache, the source writing to it, and what follows its ticks.

    ``source_factory`` builds the source from the cache (default: ``create_market_data_source``);
    ``listeners`` are tick listeners of this feed besides those of ``MARKET_TICK_LISTENERS``.
    """

    def __init__(
        self,
        cache: PriceCache | None = None,
        source_factory: SourceFactory | None = None,
        listeners: Iterable[TickListener] = (),
    ):
        self.cache = cache if cache is not None else PriceCache()
        self._source_factory = source_factory or create_market_data_source
        self.source: MarketDataSource = self._source_factory(self.cache)
        self.reconcile_interval = float(getattr(settings, "MARKET_RECONCILE_INTERVAL", RECONCILE_INTERVAL))
        self._given_listeners = list(listeners)
        self._listeners: list[TickListener] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task] = []
        self._pending: set[str] = set()
        self._pending_lock = threading.Lock()
        self._wake: asyncio.Event | None = None
        self._start_lock: asyncio.Lock | None = None
        self._started = False
        self._over_limit: set[str] = set()  # tickers refused by the cap, each logged once
        self.starting_tickers: frozenset[str] = frozenset()

    @property
    def source_name(self) -> str:
        return self.source.name

    @property
    def interval(self) -> float:
        """Seconds between the source's updates."""
        return self.source.interval

    @property
    def owner(self) -> bool:
        """Whether this process owns the source (it is not a mirror of one elsewhere)."""
        return not self.source.remote

    @property
    def started(self) -> bool:
        """Whether the source is running: false again once the loop it ran in has closed."""
        return self._started and not self._loop_closed()

    def _loop_closed(self) -> bool:
        # Each asyncio test (pytest-asyncio, one loop per test) closes the loop the feed was started in,
        # taking its tasks with it; the next connection must then start the feed again in its own loop.
        return self._loop is not None and self._loop.is_closed()

    # Lifecycle

    async def start(
        self, tickers: Iterable[str] | None = None, initial_prices: Mapping[str, float] | None = None
    ) -> None:
        """Start the source in the running loop, once; later calls return at once.

        ``tickers`` replaces the first read of the ticker set (the reconcile corrects it later);
        ``initial_prices`` resumes the source from those prices where it can (the simulator).
        """
        if self.started:
            return
        if self._loop_closed():
            # Nothing of the closed loop can be awaited or cancelled any more: start afresh from the cache.
            self._started, self._tasks, self._listeners, self._start_lock = False, [], [], None
            self.source = self._source_factory(self.cache)
            if initial_prices is None:
                initial_prices = {ticker: update.price for ticker, update in self.cache.get_all().items()}
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self.started:
                return
            self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
            if initial_prices:
                self.source.resume_from(initial_prices)
            if tickers is not None:
                tickers = set(tickers)
            elif self.owner:
                tickers = await self._initial_tickers()
            else:
                tickers = set()  # runfeed reads the ticker set from the database itself
            tickers = self._capped(tickers)
            # What the source is about to track, for listeners that prepare for it (the bar recorder).
            self.starting_tickers = frozenset(tickers)
            await self._start_listeners()
            await self.source.start(tickers)
            self._tasks = [
                asyncio.create_task(self._apply_changes_forever(), name="feed-apply-changes"),
                asyncio.create_task(self._watch_source_forever(), name="feed-watchdog"),
            ]
            if self.owner:
                self._tasks.append(asyncio.create_task(self._reconcile_forever(), name="feed-reconcile"))
                self._tasks += jobs.start_periodic_jobs()
            self._started = True
            memory.freeze_startup_objects()
            logger.info(
                "market feed started: %s every %ss, %d tickers%s",
                self.source.name,
                self.source.interval,
                len(tickers),
                "" if self.owner else " (following runfeed)",
            )

    async def stop(self) -> None:
        """Stop the source, the feed's own tasks and its tick listeners."""
        if not self.started:
            return
        self._started = False
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.source.stop()
        await self._stop_listeners()
        logger.info("market feed stopped")

    async def _start_listeners(self) -> None:
        candidates = [*self._given_listeners]
        for factory in hooks.tick_listeners():
            try:
                candidates.append(factory())
            except Exception:
                logger.exception("could not create the tick listener %r; the feed runs without it", factory)
        for listener in candidates:
            if listener.owner_only and not self.owner:
                continue
            try:
                await listener.start(self)
            except Exception:
                logger.exception("tick listener %r failed to start; the feed runs without it", listener)
                continue
            self.cache.add_listener(listener.on_tick)
            self._listeners.append(listener)

    async def _stop_listeners(self) -> None:
        listeners, self._listeners = self._listeners, []
        for listener in reversed(listeners):
            self.cache.remove_listener(listener.on_tick)
            try:
                await listener.stop()
            except Exception:
                logger.exception("tick listener %r failed to stop cleanly", listener)

    # Freshness

    @property
    def stale_after(self) -> float:
        return config.stale_after(self.interval)

    def is_stale(self, now: float | None = None) -> bool:
        age = self.cache.age(now)
        return age is None or age > self.stale_after

    def health(self) -> dict:
        """The body of ``/healthz``."""
        age = self.cache.age()
        return {
            "status": "stale" if self.is_stale() else "ok",
            "source": self.source.name,
            "tickers": len(self.tracked_tickers()),
            "last_tick_age": None if age is None else round(age, 3),
        }

    def tracked_tickers(self) -> list[str]:
        """What the source tracks; before it tracks anything, the tickers the cache holds prices for."""
        return self.source.get_tickers() or self.cache.tickers()

    def unknown_tickers(self) -> set[str]:
        """Tickers the source reported it does not know (Massive); empty for the simulator."""
        return self.source.unknown_tickers()

    # The ticker set

    def tickers_changed(self, tickers: Iterable[str]) -> None:
        """Re-check these tickers' references soon. Thread-safe.

        Until the feed runs in this process the source is told instead (a mirror's source passes it
        on to ``runfeed``; a local source ignores it: the feed reads the whole set when it starts).
        """
        tickers = set(tickers)
        if not self.started or self._loop is None:
            self.source.tickers_changed(tickers)
            return
        with self._pending_lock:
            self._pending.update(tickers)
        self._loop.call_soon_threadsafe(self._wake.set)

    async def reconcile(self) -> None:
        """Make the source track exactly the default ten plus every referenced ticker (at most
        ``MARKET_MAX_TICKERS`` of them)."""
        wanted = await demand.wanted_tickers()
        current = set(self.source.get_tickers())
        for ticker in sorted(wanted - current):
            await self._add(ticker)
        for ticker in sorted(current - wanted):
            await self.source.remove_ticker(ticker)
        if wanted != current:
            logger.info("feed reconciled: +%d -%d tickers", len(wanted - current), len(current - wanted))

    def _capped(self, tickers: set[str]) -> list[str]:
        """``tickers`` sorted, at most ``MARKET_MAX_TICKERS`` of them (the default ten kept first)."""
        cap = config.max_tickers_or_default()
        tickers = set(tickers)
        ordered = [t for t in DEFAULT_TICKERS if t in tickers] + sorted(tickers - set(DEFAULT_TICKERS))
        if len(ordered) > cap:
            logger.warning(
                "not tracking %d tickers: more are referenced than MARKET_MAX_TICKERS=%d",
                len(ordered) - cap,
                cap,
            )
        return sorted(ordered[:cap])

    async def _add(self, ticker: str) -> None:
        """Track ``ticker``, unless the feed already tracks ``MARKET_MAX_TICKERS`` others.

        Changes made through the portfolio app are refused before they get here; this holds the line
        against those that skip it (bulk inserts, the shell), which would otherwise cost the whole
        deployment its rate limit (Massive) or its memory."""
        tickers = self.source.get_tickers()
        if ticker not in tickers and len(tickers) >= config.max_tickers_or_default():
            if ticker not in self._over_limit:
                self._over_limit.add(ticker)
                logger.warning(
                    "not tracking %s: the feed tracks MARKET_MAX_TICKERS=%d already",
                    ticker,
                    config.max_tickers_or_default(),
                )
            return
        self._over_limit.discard(ticker)
        await self.source.add_ticker(ticker)

    async def _initial_tickers(self) -> set[str]:
        """The tickers to start with; the default ten alone when the database cannot say (not migrated)."""
        try:
            return await demand.wanted_tickers()
        except Exception as exc:  # whatever stops the demand hook (a test with database access blocked)
            logger.warning(
                "could not read the tickers in use from the database (%s); starting with the default ten, "
                "the reconcile retries every %ss",
                exc,
                self.reconcile_interval,
            )
            return set(DEFAULT_TICKERS)

    async def _apply_changes_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            with self._pending_lock:
                tickers, self._pending = self._pending, set()
            if not tickers:
                continue
            try:
                wanted = await demand.wanted_tickers(tickers)
                for ticker in sorted(tickers):
                    if ticker in wanted:
                        await self._add(ticker)
                    else:
                        await self.source.remove_ticker(ticker)
            except Exception:
                logger.exception(
                    "could not apply ticker changes %s; the next reconcile will", sorted(tickers)
                )

    async def _reconcile_forever(self) -> None:
        interval = self.reconcile_interval
        while True:
            await asyncio.sleep(interval)
            try:
                await self.reconcile()
            except DatabaseError as exc:
                logger.warning(
                    "feed reconcile could not read the database (%s); retrying in %ss", exc, interval
                )
            except Exception:
                logger.exception("feed reconcile failed; retrying in %ss", interval)

    async def _watch_source_forever(self) -> None:
        """Restart the source if its loop ever dies, whatever killed it."""
        while True:
            await asyncio.sleep(WATCHDOG_INTERVAL)
            source = self.source
            if source.running:
                continue
            logger.error("market source %s stopped unexpectedly; restarting it", source.name)
            try:
                await source.start(source.get_tickers())
            except Exception:
                logger.exception(
                    "restarting the market source failed; trying again in %ss", WATCHDOG_INTERVAL
                )


_feed: Feed | None = None
_feed_lock = threading.Lock()


def get_feed() -> Feed:
    """This process's feed (created on first use; not started)."""
    global _feed
    if _feed is None:
        with _feed_lock:
            if _feed is None:
                _feed = Feed()
    return _feed


def clear_feed() -> None:
    """Forget this process's feed; the next ``get_feed()`` builds a new one (for tests)."""
    global _feed
    with _feed_lock:
        _feed = None


def reset_feed(feed: Feed | None = None) -> Feed:
    """Replace this process's feed (``runfeed``, tests). Returns the new one."""
    global _feed
    with _feed_lock:
        _feed = feed if feed is not None else Feed()
    return _feed
