"""The per-process market feed: one ``PriceCache``, the source that fills it, and the ticker set.

Each process has one ``Feed`` (``get_feed()``). Its cache exists from the first call, so views and
the trade service can read prices in any process; the source runs only after ``start()``, which the
ASGI application calls inside the server's own event loop (never ``AppConfig.ready()``: that runs for
``migrate``, tests and twice under the autoreloader).

The feed tracks the default ten plus every ticker the demand hook (``settings.MARKET_TICKER_DEMAND``)
reports as referenced. The portfolio app calls ``tickers_changed()`` after a commit; the feed then
re-reads the reference counts of just those tickers from the database and adds or removes them, and
it reconciles the whole set periodically, which repairs changes that skipped signals.
"""

import asyncio
import logging
import threading
from collections.abc import Iterable

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError
from django.utils.module_loading import import_string

from . import config
from .bus import TickFollower, request_recheck, request_recheck_soon
from .cache import PriceCache
from .factory import create_market_data_source
from .hub import StreamHub
from .interface import MarketDataSource
from .seed_prices import DEFAULT_TICKERS

logger = logging.getLogger(__name__)

RECONCILE_INTERVAL = 30.0
WATCHDOG_INTERVAL = 1.0


def ticker_demand(tickers: Iterable[str] | None = None) -> dict[str, int]:
    """Reference counts from the demand hook: ``None`` asks for every referenced ticker."""
    path = getattr(settings, "MARKET_TICKER_DEMAND", None)
    if not path:
        return {}
    return import_string(path)(None if tickers is None else sorted(set(tickers)))


def default_role() -> str:
    """``"mirror"`` under ``MARKET_FEED=external`` (servers follow ``runfeed``), else ``"owner"``."""
    try:
        return "mirror" if config.market_feed() == "external" else "owner"
    except config.ConfigError:
        return "owner"  # reported at start-up by the configuration check


class Feed:
    """One process's view of the market: the cache, and the source (or the mirror) writing to it.

    ``role`` is ``"owner"`` (this process runs the source: embedded servers and ``runfeed``) or
    ``"mirror"`` (the cache follows ``runfeed``'s ticks over the channel layer, ``market.bus``).
    """

    def __init__(self, cache: PriceCache | None = None, role: str | None = None):
        self.cache = cache if cache is not None else PriceCache()
        self.role = role or default_role()
        self.reconcile_interval = float(getattr(settings, "MARKET_RECONCILE_INTERVAL", RECONCILE_INTERVAL))
        self.source: MarketDataSource | None = None
        self.source_name = config.source_name()
        self.interval = config.source_interval()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task] = []
        self._pending: set[str] = set()
        self._pending_lock = threading.Lock()
        self._wake: asyncio.Event | None = None
        self._start_lock: asyncio.Lock | None = None
        self._started = False
        self.hub = StreamHub(self.cache, self.health)  # fans this cache's ticks out to stream sockets

    @property
    def started(self) -> bool:
        """Whether the source (or mirror) is running: false again once the loop it ran in has closed."""
        return self._started and not self._loop_closed()

    @started.setter
    def started(self, value: bool) -> None:
        self._started = value

    def _loop_closed(self) -> bool:
        # Each asyncio test (pytest-asyncio, one loop per test) closes the loop the feed was started in,
        # taking its tasks with it; the next connection must then start the feed again in its own loop.
        return self._loop is not None and self._loop.is_closed()

    # Lifecycle

    async def start(
        self, tickers: Iterable[str] | None = None, initial_prices: dict[str, float] | None = None
    ) -> None:
        """Start the source (or the mirror) in the running loop, once; later calls return at once.

        Owner only: ``tickers`` replaces the first read of the demand hook (the reconcile corrects it
        later); ``initial_prices`` resumes a source that supports it (the simulator) from those prices.
        """
        if self.started:
            return
        if self._loop_closed():
            # Nothing of the closed loop can be awaited or cancelled any more: drop it, resume from the cache.
            self._started, self._tasks, self._start_lock, self.source = False, [], None, None
            if initial_prices is None:
                initial_prices = {ticker: update.price for ticker, update in self.cache.get_all().items()}
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self.started:
                return
            self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
            if self.role == "mirror":
                await self._start_mirror()
                return
            self.source = create_market_data_source(self.cache)
            self.source_name = self.source.name
            self.interval = self.source.interval
            if initial_prices and hasattr(self.source, "initial_prices"):
                self.source.initial_prices = initial_prices
            tickers = set(tickers) if tickers is not None else await self._initial_tickers()
            await self.source.start(sorted(tickers))
            self._tasks = [
                asyncio.create_task(self._apply_changes_forever(), name="feed-apply-changes"),
                asyncio.create_task(self._reconcile_forever(), name="feed-reconcile"),
                asyncio.create_task(self._watch_source_forever(), name="feed-watchdog"),
                *start_periodic_jobs(),
            ]
            self.started = True
            logger.info(
                "market feed started: %s every %ss, %d tickers", self.source_name, self.interval, len(tickers)
            )

    async def _start_mirror(self) -> None:
        follower = TickFollower(self)
        await follower.start()
        self._tasks = [
            asyncio.create_task(follower.follow_forever(), name="feed-follow-runfeed"),
            asyncio.create_task(self._apply_changes_forever(), name="feed-send-changes"),
        ]
        self.started = True
        logger.info("market feed started: following runfeed over the channel layer")

    async def stop(self) -> None:
        """Stop the source and the feed's own tasks."""
        if not self.started:
            return
        self.started = False
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self.source is not None:
            await self.source.stop()
        logger.info("market feed stopped")

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
        tickers = self.source.get_tickers() if self.source is not None else self.cache.tickers()
        return {
            "status": "stale" if self.is_stale() else "ok",
            "source": self.source_name,
            "tickers": len(tickers),
            "last_tick_age": None if age is None else round(age, 3),
        }

    def unknown_tickers(self) -> set[str]:
        """Tickers the source reported it does not know (Massive); always empty for the simulator."""
        getter = getattr(self.source, "unknown_tickers", None)
        return set(getter()) if getter is not None else set()

    # The ticker set

    def tickers_changed(self, tickers: Iterable[str]) -> None:
        """Re-check these tickers' references soon. Thread-safe; a no-op until the feed runs here.

        A mirror asks ``runfeed`` to re-check them instead, also before it runs (``manage.py shell``).
        """
        if self.role == "mirror" and not self.started:
            request_recheck_soon(tickers)
            return
        if not self.started or self._loop is None:
            return
        with self._pending_lock:
            self._pending.update(tickers)
        self._loop.call_soon_threadsafe(self._wake.set)

    async def reconcile(self) -> None:
        """Make the source track exactly the default ten plus every referenced ticker."""
        if self.source is None:
            return
        wanted = await self._wanted_tickers()
        current = set(self.source.get_tickers())
        for ticker in sorted(wanted - current):
            await self.source.add_ticker(ticker)
        for ticker in sorted(current - wanted):
            await self.source.remove_ticker(ticker)
        if wanted != current:
            logger.info("feed reconciled: +%d -%d tickers", len(wanted - current), len(current - wanted))

    async def _initial_tickers(self) -> set[str]:
        """The tickers to start with; the default ten alone when the database cannot say (not migrated)."""
        try:
            return await self._wanted_tickers()
        except Exception as exc:  # whatever stops the demand hook (a test with database access blocked)
            logger.warning(
                "could not read the tickers in use from the database (%s); starting with the default ten, "
                "the reconcile retries every %ss",
                exc,
                self.reconcile_interval,
            )
            return set(DEFAULT_TICKERS)

    async def _wanted_tickers(self, among: Iterable[str] | None = None) -> set[str]:
        counts = await sync_to_async(ticker_demand, thread_sensitive=False)(among)
        wanted = {ticker for ticker, count in counts.items() if count > 0}
        defaults = set(DEFAULT_TICKERS)
        if among is not None:
            defaults &= set(among)
        return wanted | defaults

    async def _apply_changes_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            with self._pending_lock:
                tickers, self._pending = self._pending, set()
            if tickers and self.role == "mirror":
                await request_recheck(tickers)
                continue
            if not tickers or self.source is None:
                continue
            try:
                wanted = await self._wanted_tickers(tickers)
                current = set(self.source.get_tickers())
                for ticker in sorted(tickers):
                    if ticker in wanted and ticker not in current:
                        await self.source.add_ticker(ticker)
                    elif ticker not in wanted and ticker in current:
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
            if source is None or getattr(source, "running", True):
                continue
            logger.error("market source %s stopped unexpectedly; restarting it", source.name)
            try:
                await source.start(source.get_tickers())
            except Exception:
                logger.exception(
                    "restarting the market source failed; trying again in %ss", WATCHDOG_INTERVAL
                )


def start_periodic_jobs() -> list[asyncio.Task]:
    """Run each ``settings.MARKET_PERIODIC_JOBS`` entry, ``(dotted path, seconds)``, in a thread forever.

    The process that owns the source runs them (the server in embedded mode, ``runfeed`` in external
    mode), so a job such as recording portfolio values runs once per deployment.
    """
    return [
        asyncio.create_task(_run_periodically(path, float(seconds)), name=f"periodic:{path}")
        for path, seconds in getattr(settings, "MARKET_PERIODIC_JOBS", ())
    ]


async def _run_periodically(path: str, seconds: float) -> None:
    job = sync_to_async(import_string(path), thread_sensitive=False)
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except Exception:
            logger.exception("periodic job %s failed; next run in %ss", path, seconds)


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
    """Replace this process's feed (for tests). Returns the new one."""
    global _feed
    with _feed_lock:
        _feed = feed if feed is not None else Feed()
    return _feed
