"""What ``manage.py runfeed`` does, without the terminal: lead, run the source, publish its ticks.

``FeedRunner.run(stop)`` waits for the leader lock (``market.external.leader``), then runs a ``Feed``
on the producing source (``market.factory.create_producing_source``: whatever ``MARKET_FEED`` says,
runfeed is the owner), with the same ticker-set logic as an embedded server (the default ten plus
every referenced ticker, re-checked on control messages and reconciled periodically), the periodic
jobs and the owner's tick listeners, resumed from the last prices stored in Redis, and with a
``TickPublisher`` among its tick listeners. If it loses the lock it stops the feed and waits again.
Progress is reported through ``say(line)``.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable

from .. import config, demand
from ..factory import create_producing_source
from ..feed import Feed, reset_feed
from ..seed_prices import DEFAULT_TICKERS
from .control import describe, feed_layer, is_shared, receive_control
from .last_prices import LastPriceStore, connect
from .leader import DEFAULT_TTL, RENEW_INTERVAL, LeaderLock
from .publisher import TickPublisher

logger = logging.getLogger(__name__)

STOP_TIMEOUT = 5.0

IN_MEMORY_WARNING = (
    "warning: the channel layer is in-memory (REDIS_URL is not set), so no server process can see "
    "these ticks. Set REDIS_URL here and on the servers, and MARKET_FEED=external on the servers."
)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    # asyncio.timeout, not wait_for, which on Python 3.11 can swallow a cancellation.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()


class FeedRunner:
    """Runs the market source for a whole deployment (one leader at a time)."""

    def __init__(
        self,
        say: Callable[[str], None] = print,
        lock_ttl: float = DEFAULT_TTL,
        reconcile_interval: float | None = None,
    ):
        self.say = say
        self.lock_ttl = lock_ttl
        self.reconcile_interval = reconcile_interval
        self.state = "starting"  # then "waiting", "leading", "stopped"
        self.feed: Feed | None = None
        self.publisher: TickPublisher | None = None
        self.layer = None

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set: lead when the lock is free, wait while another process leads."""
        self.layer = feed_layer()
        if not is_shared(self.layer):
            self.say(IN_MEMORY_WARNING)
        elif config.market_feed() != "external":
            self.say(
                "note: MARKET_FEED is not 'external' in this environment: servers follow these ticks "
                "only when they run with MARKET_FEED=external."
            )
        url = config.redis_url() if is_shared(self.layer) else None
        client = connect(url) if url else None
        store = LastPriceStore(client) if client is not None else None
        lock = LeaderLock(client, ttl=self.lock_ttl) if client is not None else None
        try:
            while not stop.is_set():
                if lock is not None and not await self._wait_for_lock(lock, stop):
                    break
                if await self._lead(store, lock, stop) == "stopped":
                    break
        finally:
            self.state = "stopped"
            if lock is not None:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(2.0):
                        await lock.release()
            if client is not None:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(2.0):
                        await client.aclose()

    async def _wait_for_lock(self, lock: LeaderLock, stop: asyncio.Event) -> bool:
        announced, redis_down = None, False
        while not stop.is_set():
            try:
                if await lock.acquire():
                    return True
                holder = await lock.holder()
            except Exception as exc:
                if not redis_down:
                    self.say(f"waiting for Redis at REDIS_URL ({describe(exc)}); retrying every second")
                    redis_down = True
            else:
                redis_down = False
                if holder and holder != announced:
                    self.state = "waiting"
                    self.say(
                        f"waiting: another runfeed ({holder}) is publishing; this one takes over if it stops"
                    )
                    announced = holder
            await _wait(stop, RENEW_INTERVAL)
        return False

    async def _lead(self, store: LastPriceStore | None, lock: LeaderLock | None, stop: asyncio.Event) -> str:
        """Run the source and publish until ``stop`` ("stopped") or the lock is lost ("lost")."""
        last, state = {}, None
        if store is not None:
            try:
                last, state = await store.load()
            except Exception as exc:
                self.say(f"could not read the last prices from Redis ({describe(exc)}); starting afresh")
        publisher = TickPublisher(self.layer, store, may_publish=lock.held if lock else lambda: True)
        # The process's own feed: periodic jobs and anything else reading get_feed() see these prices.
        feed = reset_feed(Feed(source_factory=create_producing_source, listeners=[publisher]))
        if self.reconcile_interval is not None:
            feed.reconcile_interval = self.reconcile_interval
        tickers = await self._start_tickers(store)
        resumed = {ticker: update for ticker, update in last.items() if ticker in tickers}
        if resumed:
            # Servers and this cache continue from the last published prices (previous price included).
            feed.cache.apply(resumed.values())
            if state is not None and state.last_success is not None:
                feed.cache.mark_success(state.last_success)
        self.feed, self.publisher = feed, publisher
        tasks: list[asyncio.Task] = []
        try:
            await feed.start(tickers=tickers, initial_prices={t: u.price for t, u in resumed.items()})
            self.state = "leading"
            self.say(
                f"leading: publishing {feed.source_name} ticks every {feed.interval:g}s for "
                f"{len(tickers)} tickers"
                + (f", resumed from {len(resumed)} stored prices" if resumed else "")
            )
            tasks = [asyncio.create_task(self._follow_control(feed), name="runfeed-control")]
            ending = [asyncio.create_task(stop.wait(), name="runfeed-stop")]
            if lock is not None:
                ending.append(asyncio.create_task(self._keep_lock(lock), name="runfeed-lock"))
            tasks += ending
            await asyncio.wait(ending, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                return "stopped"
            self.say("lost the lock to another runfeed: stopping the source and waiting")
            self.state = "waiting"
            return "lost"
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                _, stuck = await asyncio.wait(tasks, timeout=STOP_TIMEOUT)
                if stuck:
                    logger.warning("%d runfeed tasks did not stop in time: %s", len(stuck), stuck)
            await feed.stop()

    async def _start_tickers(self, store: LastPriceStore | None) -> set[str]:
        try:
            # The very rule an embedded server applies: the default ten plus every referenced ticker.
            return await demand.wanted_tickers()
        except Exception as exc:
            remembered: set[str] = set()
            if store is not None:
                with contextlib.suppress(Exception):
                    remembered = await store.tickers()
            self.say(
                f"could not read the tickers from the database ({describe(exc)}); starting with the "
                f"{len(remembered)} tickers tracked last time and the defaults; the reconcile retries"
            )
            return remembered | set(DEFAULT_TICKERS)

    async def _follow_control(self, feed: Feed) -> None:
        failures = 0
        while True:
            try:
                kind, payload = await receive_control(self.layer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                if failures == 1:
                    logger.warning("cannot read control messages (%s); retrying", describe(exc))
                await asyncio.sleep(min(RENEW_INTERVAL * failures, 5.0))
                continue
            failures = 0
            if kind == "recheck" and payload:
                feed.tickers_changed(payload)
            elif kind == "history":
                feed.source.request_history(*payload)
            elif kind == "directory":
                feed.source.request_directory()

    async def _keep_lock(self, lock: LeaderLock) -> None:
        """Renew the lease every second; return when another process holds the lock."""
        failures = 0
        while True:
            await asyncio.sleep(RENEW_INTERVAL)
            try:
                if not await lock.renew():
                    return
            except Exception as exc:
                failures += 1
                if failures == 1:
                    self.say(
                        f"cannot reach Redis to renew the lock ({describe(exc)}); "
                        "not publishing until it is back"
                    )
                continue
            if failures:
                self.say("Redis is back: leading again")
                failures = 0
