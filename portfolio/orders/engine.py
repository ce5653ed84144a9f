"""The order engine: fills resting orders when a tick's price reaches them, once per deployment.

``OrderEngine`` is an owner-only tick listener (``settings.MARKET_TICK_LISTENERS``): it runs where the
source runs, an embedded server or ``runfeed``. On start it loads the open orders into its ``OrderBook``
and starts one worker thread. A tick (``on_tick``, on the tick's path) only asks the book which orders
the tick's prices crossed, which costs a few vectorised operations when none did, and hands those to
the worker. The worker fills each in its own transaction (``services.execute_at_price``: guarded, so a
cancel, another engine or a restart can never make an order fill twice) and keeps the book in step.

The book follows every change: committed changes of this process arrive through ``note_changed``
(``portfolio.orders.sync``), those of server processes as messages on the channel layer, and every
``PORTFOLIO_ORDER_RESYNC_INTERVAL`` seconds (default 5) the engine re-reads the orders changed since
its last read, which repairs a lost message. Day orders expire at 16:00 New York on the first tick
(or re-read) after it; ``clock`` (a callable returning an aware datetime) is the engine's time.
"""

import asyncio
import logging
import threading
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from market import prices as market_prices
from market.cache import PriceCache, TickBatch
from market.external.control import describe, feed_layer, is_shared
from market.listeners import TickListener

from .. import events
from ..models import Order
from ..money import price_from_float
from . import services, sync
from .book import BookOrder, OrderBook

logger = logging.getLogger(__name__)

RESYNC_INTERVAL = 5.0
# Re-read a little before the last read started: a change committed during that read, or on a server
# whose clock runs a little behind, is not missed.
RESYNC_OVERLAP = timedelta(seconds=10)
STOP_TIMEOUT = 10.0
_STOP = ("stop",)
_ORDER_FIELDS = (
    "pk",
    "portfolio_id",
    "ticker",
    "side",
    "type",
    "limit_price",
    "stop_price",
    "triggered_at",
    "expires_at",
)


class OrderEngine(TickListener):
    """Fills open orders on ticks. ``clock``: the engine's time (tests control it)."""

    owner_only = True

    def __init__(self, clock: Callable[[], datetime] | None = None, resync_interval: float | None = None):
        self.clock = clock or timezone.now
        if resync_interval is None:
            resync_interval = getattr(settings, "PORTFOLIO_ORDER_RESYNC_INTERVAL", RESYNC_INTERVAL)
        self.resync_interval = float(resync_interval)
        self.book = OrderBook()
        self.stats: Counter[str] = Counter()
        self._jobs: deque = deque()
        self._cv = threading.Condition()
        self._busy = False
        self._in_flight: set[int] = set()
        self._expiring = False
        self._loaded_at: datetime | None = None
        self._thread: threading.Thread | None = None
        self._tasks: list[asyncio.Task] = []
        self._cache: PriceCache | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the feed's, where frames to users are sent

    def __repr__(self) -> str:
        return f"<OrderEngine {len(self.book)} open orders>"

    @property
    def alive(self) -> bool:
        """Whether the feed that started this engine still runs its event loop (always, for an engine
        opened by hand without one)."""
        return self._loop is None or not self._loop.is_closed()

    # Lifecycle

    async def start(self, feed) -> None:
        """Load the open orders (in a worker thread), start the worker, follow changes."""
        self._loop = asyncio.get_running_loop()
        await sync_to_async(self.open, thread_sensitive=False)(feed.cache)
        self._tasks = [asyncio.create_task(self._resync_forever(), name="orders-resync")]
        layer = feed_layer()
        if is_shared(layer):
            self._tasks.append(asyncio.create_task(self._follow_messages(layer), name="orders-messages"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await sync_to_async(self.close, thread_sensitive=False)()

    def open(self, cache: PriceCache, worker: bool = True) -> None:
        """Load the book and (``worker``) start the worker thread; without it, ``run_pending`` does the
        work in the caller's thread (tests)."""
        self._cache = cache
        self.book.attach(cache)
        try:
            self.load()
        except Exception as exc:  # no database yet (not migrated, access blocked): the re-read retries
            logger.warning(
                "order engine could not load open orders (%s); retrying every %ss", exc, self.resync_interval
            )
        finally:
            connection.close()
        if worker:
            self._thread = threading.Thread(target=self._work_forever, name="order-engine", daemon=True)
            self._thread.start()
        sync.register(self)
        logger.info("order engine started: %d open orders", len(self.book))

    def close(self) -> None:
        sync.unregister(self)
        thread, self._thread = self._thread, None
        if thread is not None:
            self._submit(_STOP)
            thread.join(STOP_TIMEOUT)
            if thread.is_alive():
                logger.warning("the order engine's worker did not stop within %ss", STOP_TIMEOUT)

    # The tick path: a few vectorised operations, then hand on

    def on_tick(self, batch: TickBatch) -> None:
        crossed = self.book.crossed(batch, self._in_flight)
        if crossed:
            with self._cv:
                self._in_flight.update(order_id for order_id, _ in crossed)
                self._jobs.append(("fill", crossed))
                self._cv.notify_all()
        if not self._expiring and self.book.expiry_due(self.clock().timestamp()):
            self._expiring = True
            self._submit(("expire",))

    # Changes made elsewhere

    def note_changed(self, order_ids: Iterable[int]) -> None:
        """These orders changed in the database (after a commit): re-read them soon. Thread-safe."""
        self._submit(("sync", list(order_ids)))

    def _submit(self, job: tuple) -> None:
        with self._cv:
            self._jobs.append(job)
            self._cv.notify_all()

    # The worker

    def _work_forever(self) -> None:
        if self._loop is not None:
            events.send_from_this_thread_through(self._loop)
        try:
            while True:
                with self._cv:
                    while not self._jobs:
                        self._cv.wait()
                    job = self._jobs.popleft()
                    if job is _STOP:
                        return
                    self._busy = True
                try:
                    close_old_connections()
                    self._do(job)
                except Exception:
                    logger.exception("order engine job %s failed; the next tick or re-read retries", job[0])
                finally:
                    with self._cv:
                        self._busy = False
                        self._cv.notify_all()
        finally:
            connection.close()

    def run_pending(self) -> int:
        """Do the queued work in this thread (an engine opened without a worker); returns the jobs done."""
        done = 0
        while True:
            with self._cv:
                if not self._jobs:
                    return done
                job = self._jobs.popleft()
            if job is not _STOP:
                self._do(job)
                done += 1

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until the worker has nothing queued or running; False after ``timeout`` seconds."""
        with self._cv:
            return self._cv.wait_for(lambda: not self._jobs and not self._busy, timeout)

    def _do(self, job: tuple) -> None:
        kind = job[0]
        if kind == "fill":
            self._fill(job[1])
        elif kind == "sync":
            self._sync(job[1])
        elif kind == "resync":
            self.resync()
        elif kind == "expire":
            try:
                self.expire()
            finally:
                self._expiring = False

    def _fill(self, crossed: list[tuple[int, float]]) -> None:
        try:
            if not market_prices.is_live():
                return  # a stale feed fills nothing: the orders stay in the book for a live tick
            now = self.clock()
            # Orders filling at this tick do not hold cash from each other (services.fill).
            released = {
                order_id
                for order_id, price in crossed
                if (order := self.book.get(order_id)) is not None and order.fills_at(price)
            }
            by_portfolio: dict[int, list[tuple[int, Decimal]]] = defaultdict(list)
            for order_id, price in crossed:
                order = self.book.get(order_id)
                if order is not None:
                    by_portfolio[order.portfolio_id].append((order_id, price_from_float(price)))
            for portfolio_id, its_orders in sorted(by_portfolio.items(), key=lambda item: min(item[1])):
                try:
                    results = services.execute_crossed(portfolio_id, its_orders, released, now=now)
                except Exception:
                    logger.exception("orders %s could not be filled; a later tick retries", its_orders)
                    continue
                for order_id, order in results.items():
                    if order is None:
                        # Not open, or not crossed after all: the book follows the database.
                        self._sync([order_id], catch_up=False)
                        continue
                    self.stats[order.status] += 1
                    self._follow(order)
        finally:
            with self._cv:
                self._in_flight.difference_update(order_id for order_id, _ in crossed)

    def _follow(self, order: Order) -> None:
        if order.status == Order.Status.OPEN and order.type != Order.Type.MARKET:
            self.book.put(BookOrder.from_order(order))
        else:
            self.book.remove(order.pk)

    # Reading the database

    def load(self) -> int:
        """Read every open order into the book; returns how many."""
        started = timezone.now()
        rows = Order.objects.filter(status=Order.Status.OPEN).exclude(type=Order.Type.MARKET)
        self.book.replace_all(
            BookOrder.from_values(*row) for row in rows.values_list(*_ORDER_FIELDS).iterator(2000)
        )
        self._loaded_at = started
        return len(self.book)

    def _sync(self, order_ids: list[int], catch_up: bool = True) -> None:
        rows = {
            row[0]: row
            for row in Order.objects.filter(pk__in=order_ids, status=Order.Status.OPEN).values_list(
                *_ORDER_FIELDS
            )
        }
        caught_up = []
        for order_id in order_ids:
            row = rows.get(order_id)
            if row is None:
                self.book.remove(order_id)
            elif row[4] != Order.Type.MARKET:
                order = BookOrder.from_values(*row)
                self.book.put(order)
                # A tick that came between the commit and this read would have been missed: the order
                # is checked against the latest price now.
                price = self._cache.get_price(order.ticker) if self._cache is not None else None
                if (
                    catch_up
                    and price is not None
                    and order.id not in self._in_flight
                    and self._reaches(order, price)
                ):
                    caught_up.append((order.id, price))
        if caught_up:
            with self._cv:
                self._in_flight.update(order_id for order_id, _ in caught_up)
            self._fill(caught_up)

    @staticmethod
    def _reaches(order: BookOrder, price: float) -> bool:
        direction, level = order.trigger
        return price <= level if direction == "down" else price >= level

    def resync(self) -> None:
        """Re-read the orders changed since the last read (all open orders if none succeeded yet)."""
        if self._loaded_at is None:
            self.load()
            return
        started = timezone.now()
        changed = list(
            Order.objects.filter(updated_at__gte=self._loaded_at - RESYNC_OVERLAP).values_list(
                "pk", flat=True
            )
        )
        self._sync(changed)
        self._loaded_at = started
        if not self._expiring and self.book.expiry_due(self.clock().timestamp()):
            self._expiring = True
            try:
                self.expire()
            finally:
                self._expiring = False

    def expire(self) -> int:
        """Expire the day orders whose 16:00 New York has come (by the engine's clock)."""
        expired = services.expire_due_orders(now=self.clock())
        for order in expired:
            self.book.remove(order.pk)
        self.stats["expired"] += len(expired)
        return len(expired)

    async def _resync_forever(self) -> None:
        while True:
            await asyncio.sleep(self.resync_interval)
            self._submit(("resync",))

    async def _follow_messages(self, layer) -> None:
        failures = 0
        while True:
            try:
                ids = await sync.receive_changed(layer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                if failures == 1:
                    logger.warning(
                        "cannot read order messages (%s); the re-read keeps the book right", describe(exc)
                    )
                await asyncio.sleep(min(failures, 5))
                continue
            failures = 0
            self.note_changed(ids)
