"""Ticks from ``runfeed`` to every server process, and ticker changes back, over the channel layer.

``TickPublisher`` (in ``runfeed``) sends one message per tick to the group ``market.ticks``: the
PriceUpdates that changed, the source's name and interval, the age of its last success, and a
``(run, seq)`` number; when a tick changed nothing it still sends one (a heartbeat), so servers can
tell a quiet market from a dead feed. After each message it stores the prices in Redis
(``market.last_prices``).

``TickFollower`` (in each server process under ``MARKET_FEED=external``) keeps ``feed.cache`` a
mirror of those ticks with ``cache.apply`` (runfeed's previous prices and directions are kept), so the
trade service, pages, the stream hub and ``/healthz`` read locally, unchanged. It loads the stored
prices when it starts and whenever it notices a gap in the sequence (messages are lost while Redis
is away or a server is not listening), and it retries with back-off for ever.

Servers ask ``runfeed`` to re-check tickers with ``request_recheck``: a message on the named channel
``market.control`` naming tickers whose references changed. ``runfeed`` re-reads their counts from the
database, so a duplicate or reordered message changes nothing; its periodic reconcile repairs a lost one.
"""

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer, get_channel_layer

from . import config
from .interface import MarketDataSource
from .last_prices import FeedState, LastPriceStore
from .models import make_update
from .tickers import InvalidTicker, normalize_ticker

if TYPE_CHECKING:
    from .feed import Feed

logger = logging.getLogger(__name__)

TICKS_GROUP = "market.ticks"
CONTROL_CHANNEL = "market.control"
TICK = "market.tick"
RECHECK = "market.recheck"

HEARTBEAT_MAX = 1.0  # a quiet feed still speaks at least this often (seconds)
KEYFRAME_INTERVAL = 10.0  # the tracked and unknown tickers go out at least this often
MEMBERSHIP_REFRESH = 2.0  # a follower re-joins the group this often (a restarted Redis forgot it)
START_TIMEOUT = 2.0
FORGET_MEMBER_AFTER = 30.0  # a follower silent this long (a killed server) leaves the group
RETRY_MIN, RETRY_MAX = 0.5, 2.0


def is_shared(layer) -> bool:
    """False for the in-memory layer (or none), which no other process can see."""
    return layer is not None and not isinstance(layer, InMemoryChannelLayer)


def _first_error(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _describe(exc: BaseException) -> str:
    exc = _first_error(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class TickPublisher:
    """Publishes what changed in ``feed.cache``, once per tick, to every server process.

    ``attach()`` in the running loop, then run ``run_forever()``; ``may_publish`` is checked before
    every message (``runfeed`` passes its leader lease). ``store`` keeps the last prices in Redis.
    """

    def __init__(
        self,
        feed: "Feed",
        layer=None,
        store: LastPriceStore | None = None,
        may_publish: Callable[[], bool] = lambda: True,
    ):
        self.feed = feed
        self.layer = layer if layer is not None else get_channel_layer()
        self.store = store
        self.may_publish = may_publish
        self.run = uuid.uuid4().hex[:12]
        self.seq = 0
        self.published = 0
        self.last_size = 0
        self._changed: set[str] = set()
        self._changed_lock = threading.Lock()
        self._full = True  # the next message carries every price: the first one, and after a failure
        self._replace_store = True
        self._sent_set: tuple[tuple[str, ...], tuple[str, ...]] | None = None  # (tracked, unknown)
        self._next_keyframe = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._wake: asyncio.Event | None = None
        self._send_failures = 0
        self._store_failures = 0

    def attach(self) -> None:
        """Start listening to the cache (call in the loop that will run ``run_forever``)."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wake = asyncio.Event()
        self.feed.cache.add_listener(self._on_write)

    def detach(self) -> None:
        self.feed.cache.remove_listener(self._on_write)

    def _on_write(self, batch) -> None:
        # Runs in whichever thread wrote the cache: record, then wake the loop.
        changed = batch.changed()
        with self._changed_lock:
            self._changed.update(changed)
        if threading.get_ident() == self._loop_thread:
            self._wake.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                self._loop.call_soon_threadsafe(self._wake.set)

    async def run_forever(self) -> None:
        """Publish after every write to the cache, and a heartbeat after a quiet interval."""
        while True:
            heartbeat = min(self.feed.interval, HEARTBEAT_MAX)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that
            # arrives as the event fires, and this loop would then never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(heartbeat):
                    await self._wake.wait()
            self._wake.clear()
            await self.publish_once()

    async def publish_once(self) -> bool:
        """Send one message with what changed since the last one (a heartbeat when nothing did)."""
        if not self.may_publish():
            self._full = True  # when this process leads again, it starts with every price
            return False
        with self._changed_lock:
            changed, self._changed = self._changed, set()
        cache, now = self.feed.cache, time.time()
        full = self._full
        updates = list((cache.get_all() if full else cache.get_many(sorted(changed))).values())
        ticker_set = self._ticker_set()
        set_changed = ticker_set != self._sent_set
        send_set = full or set_changed or now >= self._next_keyframe
        removed = (
            sorted(set(self._sent_set[0]) - set(ticker_set[0])) if self._sent_set and set_changed else []
        )
        self.seq += 1
        message = {
            "type": TICK,
            "run": self.run,
            "seq": self.seq,
            "source": self.feed.source_name,
            "interval": self.feed.interval,
            "age": cache.age(now),
            "full": full,
            "updates": [[u.ticker, u.price, u.previous_price, u.timestamp] for u in updates],
        }
        if send_set:
            # Mirrors drop prices of tickers no longer tracked, and show the unknown ones as such.
            message["tracked"], message["unknown"] = sorted(ticker_set[0]), sorted(ticker_set[1])
        try:
            await self.layer.group_send(TICKS_GROUP, message)
        except Exception as exc:
            self._full = True
            self._send_failures += 1
            if self._send_failures == 1:
                logger.warning("could not publish a tick (%s); retrying every tick", _describe(exc))
            return False
        if self._send_failures:
            logger.info("publishing ticks again after %d failed attempts", self._send_failures)
            self._send_failures = 0
        self._full = False
        if send_set:
            self._sent_set, self._next_keyframe = ticker_set, now + KEYFRAME_INTERVAL
            await self._forget_dead_followers(now)
        self.published += 1
        self.last_size = len(updates)
        if self.store is not None:
            state = FeedState(
                self.run,
                self.seq,
                self.feed.source_name,
                self.feed.interval,
                cache.last_success,
                now,
                unknown=sorted(ticker_set[1]),
            )
            await self._store(updates, state, removed, ticker_set[0] if set_changed else None)
        return True

    async def _store(self, updates, state: FeedState, removed: list[str], tracked) -> None:
        try:
            if self._replace_store or not await self.store.save(
                updates, state, removed=removed, tickers=tracked
            ):
                await self.store.save(
                    self.feed.cache.get_all().values(), state, tickers=self._ticker_set()[0], replace=True
                )
        except Exception as exc:
            self._replace_store = True
            self._store_failures += 1
            if self._store_failures == 1:
                logger.warning("could not store the last prices in Redis (%s); retrying", _describe(exc))
            return
        self._replace_store = False
        if self._store_failures:
            logger.info("storing the last prices in Redis again")
            self._store_failures = 0

    async def _forget_dead_followers(self, now: float) -> None:
        # Live followers re-join every MEMBERSHIP_REFRESH seconds. Without this, a killed server's
        # channel would get every tick until channels_redis's group_expiry (a day) ends it.
        group_key = getattr(self.layer, "_group_key", None)  # channels_redis.core's key naming
        if self.store is None or group_key is None:
            return
        with contextlib.suppress(Exception):
            await self.store.client.zremrangebyscore(group_key(TICKS_GROUP), 0, now - FORGET_MEMBER_AFTER)

    def _ticker_set(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(tracked, unknown): what the source tracks, and what it reported it does not know."""
        source = self.feed.source
        if source is None:
            return tuple(self.feed.cache.tickers()), ()
        unknown = getattr(source, "unknown_tickers", None)
        return tuple(source.get_tickers()), tuple(sorted(unknown())) if unknown is not None else ()


class RemoteSource(MarketDataSource):
    """``runfeed``'s source as a mirror sees it: its name, interval, tracked and unknown tickers.

    A mirror's ``feed.source``, so ``/healthz`` and the pages read it like a local source. It
    produces nothing itself: prices arrive through ``TickFollower`` and ticker changes go to
    ``runfeed`` as control messages, so starting, stopping, adding and removing do nothing here.
    """

    def __init__(self, name: str, interval: float):
        self.name = name
        self.interval = interval
        self.tracked: list[str] = []
        self.unknown: set[str] = set()

    async def start(self, tickers: list[str]) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def add_ticker(self, ticker: str) -> None:
        pass

    async def remove_ticker(self, ticker: str) -> None:
        pass

    def get_tickers(self) -> list[str]:
        return list(self.tracked)

    def unknown_tickers(self) -> set[str]:
        return set(self.unknown)


class TickFollower:
    """Keeps ``feed.cache`` a mirror of ``runfeed``'s ticks (server processes, ``MARKET_FEED=external``)."""

    def __init__(self, feed: "Feed", layer=None, store: LastPriceStore | None = None):
        self.feed = feed
        self.layer = layer if layer is not None else get_channel_layer()
        self._store = store
        self._own_store: LastPriceStore | None = None  # made here, so closed here
        self.source = RemoteSource(feed.source_name, feed.interval)
        feed.source = self.source
        self.run: str | None = None
        self.seq = 0
        self.received = 0
        self.resyncs = 0
        self._in_sync = False
        self._failures = 0

    @property
    def store(self) -> LastPriceStore | None:
        if self._store is None:
            url = config.redis_url()
            if url:
                self._store = self._own_store = LastPriceStore.from_url(url)
        return self._store

    async def start(self) -> None:
        """Load the last prices ``runfeed`` stored, so pages have prices at once. Never raises."""
        try:
            async with asyncio.timeout(START_TIMEOUT):
                await self.resync()
        except Exception as exc:
            logger.warning(
                "could not load the last prices from Redis (%s); following runfeed", _describe(exc)
            )

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
                        logger.warning(
                            "lost runfeed's ticks (%s); reconnecting with back-off", _describe(exc)
                        )
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
        # The default prefix matters: channels_redis serves every process-local channel with the same
        # prefix from one BZPOPMIN; another prefix would wait behind the consumers' blocking reads.
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
                logger.warning("missed ticks and could not reload prices (%s)", _describe(exc))
            if run == self.run and seq <= self.seq:
                return  # the stored prices were already newer than this message
        self.run, self.seq = run, seq
        self._apply(message)

    def _apply(self, message: dict) -> None:
        cache = self.feed.cache
        try:
            updates = [
                make_update(t, float(p), float(prev), float(ts)) for t, p, prev, ts in message["updates"]
            ]
            interval = float(message["interval"])
            source = str(message["source"])
        except (KeyError, TypeError, ValueError):
            logger.warning("ignored a malformed tick message (seq %s)", message.get("seq"))
            return
        if updates:
            cache.apply(updates)
        tracked, unknown = message.get("tracked"), message.get("unknown")
        if isinstance(tracked, list):
            self.source.tracked = [ticker for ticker in tracked if isinstance(ticker, str)]
            keep = set(self.source.tracked)
            for ticker in cache.tickers():
                if ticker not in keep:
                    cache.remove(ticker)
        if isinstance(unknown, list):
            self.source.unknown = {ticker for ticker in unknown if isinstance(ticker, str)}
        self._describe_source(source, interval)
        age = message.get("age")
        if isinstance(age, int | float):
            cache.mark_success(time.time() - max(0.0, float(age)))

    def _describe_source(self, name: str, interval: float) -> None:
        self.feed.source_name = self.source.name = name
        self.feed.interval = self.source.interval = interval

    async def resync(self) -> None:
        """Load the prices ``runfeed`` stored in Redis (newer ones than the mirror's only)."""
        store = self.store
        if store is None:
            return
        prices, state = await store.load()
        tracked = await store.tickers()
        self.resyncs += 1
        cache = self.feed.cache
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
            self._describe_source(state.source, state.interval)
            self.source.unknown = set(state.unknown)
            if tracked:
                self.source.tracked = sorted(tracked)
            # Freshness is runfeed's, not the time of this read: a dead feed's prices stay stale.
            newest = max(filter(None, (state.last_success, last_success)), default=None)
            if newest is not None:
                cache.mark_success(newest)
        self._in_sync = True


def _valid_tickers(raw: Iterable) -> list[str]:
    tickers = set()
    for item in raw:
        with contextlib.suppress(InvalidTicker):
            tickers.add(normalize_ticker(item))
    return sorted(tickers)


async def request_recheck(tickers: Iterable[str], layer=None) -> bool:
    """Ask ``runfeed`` to re-check these tickers' references. Never raises; False when not sent."""
    tickers = _valid_tickers(tickers)
    layer = layer if layer is not None else get_channel_layer()
    if not tickers or layer is None:
        return False
    try:
        await layer.send(CONTROL_CHANNEL, {"type": RECHECK, "tickers": tickers})
    except ChannelFull:
        logger.warning("runfeed is not reading its control channel; its reconcile will pick up %s", tickers)
        return False
    except Exception as exc:
        logger.warning(
            "could not ask runfeed to re-check %s (%s); its reconcile will", tickers, _describe(exc)
        )
        return False
    return True


_background: set[asyncio.Task] = set()


def request_recheck_soon(tickers: Iterable[str]) -> None:
    """``request_recheck`` from sync code in any thread (e.g. a commit in ``manage.py shell``)."""
    tickers = list(tickers)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        async_to_sync(request_recheck)(tickers)
        return
    task = loop.create_task(request_recheck(tickers))
    _background.add(task)
    task.add_done_callback(_background.discard)


async def receive_recheck(layer) -> list[str]:
    """Wait for the next control message (``runfeed``) and return the valid tickers it names."""
    while True:
        message = await layer.receive(CONTROL_CHANNEL)
        raw = message.get("tickers") if message.get("type") == RECHECK else None
        if isinstance(raw, list):
            return _valid_tickers(raw[:100_000])
        logger.warning("ignored a malformed control message: %r", str(message)[:200])
