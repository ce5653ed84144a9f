"""A server's source under ``MARKET_FEED=external``: a mirror of ``runfeed``'s prices.

``MirrorSource`` is a ``MarketDataSource`` like the simulator or Massive, so the feed, the stream hub,
pages, trades and ``/healthz`` work unchanged on its cache. Its ``start()`` loads the last prices
``runfeed`` stored in Redis (so pages have prices at once) and follows the tick group; each tick is
stored with ``cache.apply`` (runfeed's previous prices and directions are kept). Whenever it notices a
gap in the sequence (messages are lost while Redis is away or a server is not listening) it reloads
the stored prices, and it reconnects with back-off for ever. Its ``add_ticker``/``remove_ticker`` and
``tickers_changed`` ask ``runfeed`` to re-check those tickers (``control.request_recheck``), and its
``request_history`` asks ``runfeed`` to fetch history from Massive (``control.request_history``).
It is ``remote``: the ticker set, the periodic jobs and owner-only tick listeners live in ``runfeed``.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable

from .. import config
from ..cache import PriceCache
from ..interface import MarketDataSource
from ..updates import make_update
from . import control
from .control import TICK, TICKS_GROUP, describe
from .last_prices import LastPriceStore

logger = logging.getLogger(__name__)

MEMBERSHIP_REFRESH = 2.0  # a follower re-joins the group this often (a restarted Redis forgot it)
START_TIMEOUT = 2.0
DIRECTORY_ASK_EVERY = 60.0
RETRY_MIN, RETRY_MAX = 0.5, 2.0


class MirrorSource(MarketDataSource):
    """Follows ``runfeed``'s ticks into ``price_cache``; ``name`` and ``interval`` are runfeed's source's."""

    remote = True

    def __init__(self, price_cache: PriceCache, layer=None, store: LastPriceStore | None = None):
        self.cache = price_cache
        self.layer = layer if layer is not None else control.feed_layer()
        self._store = store
        self._own_store: LastPriceStore | None = None  # made here, so closed here
        # What this environment would run, until runfeed says what it runs.
        self.name = config.source_name()
        self.interval = config.source_interval()
        self.tracked: list[str] = []
        self.unknown: set[str] = set()
        self.run: str | None = None
        self.seq = 0
        self.received = 0
        self.resyncs = 0
        self._in_sync = False
        self._failures = 0
        self._follow_task: asyncio.Task | None = None
        self._send_task: asyncio.Task | None = None
        self._asked: set[str] = set()
        self._directory_asked = -DIRECTORY_ASK_EVERY
        self._ask_wake: asyncio.Event | None = None

    # The MarketDataSource interface

    async def start(self, tickers: list[str]) -> None:
        """Load the stored prices (never raises), then follow runfeed's ticks. ``tickers`` is not used:
        runfeed reads the ticker set from the database itself."""
        await self.stop()
        await self.load()
        self._ask_wake = asyncio.Event()
        self._follow_task = asyncio.create_task(self.follow_forever(), name="mirror-follow-runfeed")
        self._send_task = asyncio.create_task(self._send_forever(), name="mirror-send-rechecks")

    async def stop(self) -> None:
        tasks = [task for task in (self._follow_task, self._send_task) if task is not None]
        self._follow_task = self._send_task = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def add_ticker(self, ticker: str) -> None:
        """Ask runfeed to re-check ``ticker`` (it adds it when the database references it)."""
        self._ask(ticker)

    async def remove_ticker(self, ticker: str) -> None:
        """Ask runfeed to re-check ``ticker`` (it removes it when nothing references it any more)."""
        self._ask(ticker)

    def get_tickers(self) -> list[str]:
        """The tickers runfeed tracks, as it last said."""
        return list(self.tracked)

    @property
    def running(self) -> bool:
        return self._follow_task is not None and not self._follow_task.done()

    def unknown_tickers(self) -> set[str]:
        return set(self.unknown)

    def tickers_changed(self, tickers: Iterable[str]) -> None:
        """A change made while this process does not follow runfeed (e.g. ``manage.py shell``): ask now."""
        control.request_recheck_soon(tickers, self.layer)

    def request_history(self, ticker: str, kind: str, since: int) -> bool:
        """Ask runfeed, which owns the source and its rate budget, to fetch this history."""
        return control.request_history(ticker, kind, since, self.layer)

    def request_directory(self) -> bool:
        """Ask runfeed, which owns the source and its rate budget, to load the ticker directory (at
        most once a minute: every keystroke in a ticker box asks)."""
        if self.name != "massive":
            return False
        now = time.monotonic()
        if now - self._directory_asked < DIRECTORY_ASK_EVERY:
            return True
        self._directory_asked = now
        return control.request_directory(self.layer)

    # Re-checks, batched per loop turn

    def _ask(self, ticker: str) -> None:
        self._asked.add(ticker)
        if self._ask_wake is not None:
            self._ask_wake.set()
        else:
            control.request_recheck_soon([ticker], self.layer)

    async def _send_forever(self) -> None:
        while True:
            await self._ask_wake.wait()
            self._ask_wake.clear()
            asked, self._asked = self._asked, set()
            if asked:
                await control.request_recheck(asked, self.layer)

    # Following the ticks

    @property
    def store(self) -> LastPriceStore | None:
        if self._store is None:
            url = config.redis_url()
            if url:
                self._store = self._own_store = LastPriceStore.from_url(url)
        return self._store

    async def load(self) -> None:
        """Load the last prices ``runfeed`` stored, so pages have prices at once. Never raises."""
        try:
            async with asyncio.timeout(START_TIMEOUT):
                await self.resync()
        except Exception as exc:
            logger.warning("could not load the last prices from Redis (%s); following runfeed", describe(exc))

    async def follow_forever(self) -> None:
        """Follow the ticks until cancelled, reconnecting with back-off whenever the layer fails."""
        delay = RETRY_MIN
        try:
            while True:
                received_before = self.received
                try:
                    await self._follow()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._in_sync = False
                    self._failures += 1
                    if self._failures == 1:
                        logger.warning("lost runfeed's ticks (%s); reconnecting with back-off", describe(exc))
                    if self.received > received_before:
                        delay = RETRY_MIN  # it worked for a while: start the back-off afresh
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX)
        finally:
            if self._own_store is not None:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(1.0):
                        await self._own_store.close()
                self._store = self._own_store = None

    async def _follow(self) -> None:
        channel = await self.layer.new_channel()
        await self.layer.group_add(TICKS_GROUP, channel)
        try:
            if not self._in_sync:
                await self.resync()
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._keep_membership(channel))
                tasks.create_task(self._receive_forever(channel))
        finally:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await self.layer.group_discard(TICKS_GROUP, channel)

    async def _keep_membership(self, channel: str) -> None:
        # Re-joining is idempotent; it also notices a Redis that went away, ending this attempt.
        while True:
            await asyncio.sleep(MEMBERSHIP_REFRESH)
            await self.layer.group_add(TICKS_GROUP, channel)

    async def _receive_forever(self, channel: str) -> None:
        while True:
            message = await self.layer.receive(channel)
            await self.handle(message)

    async def handle(self, message: dict) -> None:
        """Apply one tick message (duplicates and late copies are ignored; a gap triggers a resync)."""
        if message.get("type") != TICK:
            return
        run, seq = message.get("run"), message.get("seq")
        if not isinstance(run, str) or not isinstance(seq, int):
            return
        if run == self.run and seq <= self.seq:
            return
        if self._failures:
            logger.info("following runfeed's ticks again")
            self._failures = 0
        self.received += 1
        if not (run == self.run and seq == self.seq + 1) and not message.get("full"):
            try:
                await self.resync()
            except Exception as exc:
                logger.warning("missed ticks and could not reload prices (%s)", describe(exc))
            if run == self.run and seq <= self.seq:
                return  # the stored prices were already newer than this message
        self.run, self.seq = run, seq
        self._apply(message)

    def _apply(self, message: dict) -> None:
        cache = self.cache
        try:
            updates = [_update(*item) for item in message["updates"]]
            interval = float(message["interval"])
            source = str(message["source"])
        except (KeyError, TypeError, ValueError):
            logger.warning("ignored a malformed tick message (seq %s)", message.get("seq"))
            return
        if updates:
            cache.apply(updates)
        tracked, unknown = message.get("tracked"), message.get("unknown")
        if isinstance(tracked, list):
            self.tracked = [ticker for ticker in tracked if isinstance(ticker, str)]
            keep = set(self.tracked)
            for ticker in cache.tickers():
                if ticker not in keep:
                    cache.remove(ticker)
        if isinstance(unknown, list):
            self.unknown = {ticker for ticker in unknown if isinstance(ticker, str)}
        self.name, self.interval = source, interval
        age = message.get("age")
        if isinstance(age, int | float):
            cache.mark_success(time.time() - max(0.0, float(age)))

    async def resync(self) -> None:
        """Load the prices ``runfeed`` stored in Redis (newer ones than the mirror's only)."""
        store = self.store
        if store is None:
            return
        prices, state = await store.load()
        tracked = await store.tickers()
        self.resyncs += 1
        cache = self.cache
        current = cache.get_many(prices)
        fresh = [
            update
            for ticker, update in prices.items()
            if ticker not in current or update.timestamp > current[ticker].timestamp
        ]
        last_success = cache.last_success
        if fresh:
            cache.apply(fresh)
        if state is not None:
            if not (state.run == self.run and state.seq < self.seq):
                self.run, self.seq = state.run, state.seq
            self.name, self.interval = state.source, state.interval
            self.unknown = set(state.unknown)
            if tracked:
                self.tracked = sorted(tracked)
            # Freshness is runfeed's, not the time of this read: a dead feed's prices stay stale.
            newest = max(filter(None, (state.last_success, last_success)), default=None)
            if newest is not None:
                cache.mark_success(newest)
        self._in_sync = True


def _update(ticker, price, previous, timestamp, previous_close=None, *more):
    """A PriceUpdate from an ``updates`` item: 4 items from an older runfeed, 5 with the previous close."""
    close = None if previous_close is None else float(previous_close)
    return make_update(ticker, float(price), float(previous), float(timestamp), close)
