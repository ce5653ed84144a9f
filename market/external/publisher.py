"""``runfeed``'s side of external mode: every tick, once, to every server process.

``TickPublisher`` is a tick listener of ``runfeed``'s feed. After every write to the cache it sends one
message to the group ``TICKS_GROUP``: the PriceUpdates that changed, the source's name and interval,
the age of its last success, and a ``(run, seq)`` number; when a tick changed nothing it still sends
one (a heartbeat), so servers can tell a quiet market from a dead feed. A change of a previous close
alone (a new day) counts as a change, so the day's change reaches the mirrors. Every ``KEYFRAME_INTERVAL``
seconds, and whenever it changes, the message also carries the tracked and the unknown tickers. After
each message it stores the prices in Redis (``market.external.last_prices``).
"""

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..listeners import TickListener
from .control import TICK, TICKS_GROUP, describe, feed_layer
from .last_prices import FeedState, LastPriceStore

if TYPE_CHECKING:
    from ..feed import Feed

logger = logging.getLogger(__name__)

HEARTBEAT_MAX = 1.0  # a quiet feed still speaks at least this often (seconds)
KEYFRAME_INTERVAL = 10.0  # the tracked and unknown tickers go out at least this often


class TickPublisher(TickListener):
    """Publishes what changed in its feed's cache, once per tick, to every server process.

    A tick listener: the feed starts it (its publishing task) and stops it. ``may_publish`` is checked
    before every message (``runfeed`` passes its leader lease); ``store`` keeps the last prices in Redis.
    """

    owner_only = True

    def __init__(
        self,
        layer=None,
        store: LastPriceStore | None = None,
        may_publish: Callable[[], bool] = lambda: True,
    ):
        self.feed: Feed | None = None
        self.layer = layer if layer is not None else feed_layer()
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
        self._task: asyncio.Task | None = None

    async def start(self, feed: "Feed") -> None:
        """Publish ``feed``'s ticks from now on, from a task in the running loop."""
        self.feed = feed
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self.run_forever(), name="runfeed-publish")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def on_tick(self, batch) -> None:
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
            # [ticker, price, previous price, timestamp, previous close] (mirrors read 4 or 5 items).
            "updates": [
                [u.ticker, u.price, u.previous_price, u.timestamp, u.previous_close] for u in updates
            ],
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
                logger.warning("could not publish a tick (%s); retrying every tick", describe(exc))
            return False
        if self._send_failures:
            logger.info("publishing ticks again after %d failed attempts", self._send_failures)
            self._send_failures = 0
        self._full = False
        if send_set:
            self._sent_set, self._next_keyframe = ticker_set, now + KEYFRAME_INTERVAL
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
                logger.warning("could not store the last prices in Redis (%s); retrying", describe(exc))
            return
        self._replace_store = False
        if self._store_failures:
            logger.info("storing the last prices in Redis again")
            self._store_failures = 0

    def _ticker_set(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(tracked, unknown): what the feed tracks, and what its source reported it does not know."""
        return tuple(self.feed.tracked_tickers()), tuple(sorted(self.feed.unknown_tickers()))
