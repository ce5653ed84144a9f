"""The open orders in memory, indexed by ticker and trigger price, so that a tick costs almost nothing
when no order crosses.

Each open order waits for one level (``conditions.trigger``): "down" (fires when the price is at or
below it: buy limits, sell stops) or "up" (at or above: sell limits, buy stops). Per ticker the book
keeps both kinds sorted by level; per cache slot (``PriceCache.slots``) it keeps the highest down
level and the lowest up level in two NumPy arrays. A tick (``crossed``) compares its whole price array
with those two arrays at once, and only for the few tickers that crossed something does it bisect the
sorted levels to name exactly the orders crossed.

The book is a copy of the database, never the truth: the engine re-reads an order before acting on
it. Thread-safe (one lock; the tick path holds it for a few vectorised operations).
"""

import bisect
import heapq
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from market.cache import PriceCache, TickBatch

from . import conditions


@dataclass(frozen=True, slots=True)
class BookOrder:
    """What the book knows of an open order (prices as floats, like the ticks)."""

    id: int
    portfolio_id: int
    ticker: str
    side: str
    type: str
    limit: float | None
    stop: float | None
    triggered: bool
    expires_at: float | None  # Unix seconds (day orders)

    @property
    def trigger(self) -> tuple[str, float]:
        return conditions.trigger(self.side, self.type, self.limit, self.stop, self.triggered)

    def fills_at(self, price: float) -> bool:
        return conditions.outcome(self.side, self.type, self.limit, self.stop, self.triggered, price).fills

    @classmethod
    def from_order(cls, order) -> "BookOrder":
        return cls.from_values(
            order.pk,
            order.portfolio_id,
            order.ticker,
            order.side,
            order.type,
            order.limit_price,
            order.stop_price,
            order.triggered_at,
            order.expires_at,
        )

    @classmethod
    def from_values(
        cls, pk, portfolio_id, ticker, side, type, limit, stop, triggered_at, expires_at
    ) -> "BookOrder":
        return cls(
            pk,
            portfolio_id,
            ticker,
            side,
            type,
            None if limit is None else float(limit),
            None if stop is None else float(stop),
            triggered_at is not None,
            None if expires_at is None else expires_at.timestamp(),
        )


class _Levels:
    __slots__ = ("down", "up")

    def __init__(self):
        self.down: list[tuple[float, int]] = []  # fires when price <= level: the crossed are at the end
        self.up: list[tuple[float, int]] = []  # fires when price >= level: the crossed are at the start


class OrderBook:
    """The open orders that wait for a price, indexed for ``crossed``."""

    def __init__(self, cache: PriceCache | None = None):
        self._lock = threading.Lock()
        self._orders: dict[int, BookOrder] = {}
        self._levels: dict[str, _Levels] = {}
        self._expiries: list[tuple[float, int]] = []  # a heap; entries of orders gone are skipped
        self._cache = cache
        self._layout: int | None = None
        self._slot_of: dict[str, int] = {}
        self._ticker_at: dict[int, str] = {}
        self._dirty: set[str] = set()
        self._down = np.full(0, -math.inf)
        self._up = np.full(0, math.inf)

    def attach(self, cache: PriceCache) -> None:
        """Index by ``cache``'s slots (the cache whose ticks ``crossed`` will be given)."""
        with self._lock:
            self._cache = cache
            self._layout = None

    def __len__(self) -> int:
        return len(self._orders)

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._orders

    def get(self, order_id: int) -> BookOrder | None:
        return self._orders.get(order_id)

    def ids(self) -> set[int]:
        with self._lock:
            return set(self._orders)

    # Changes

    def replace_all(self, orders: Iterable[BookOrder]) -> None:
        """Hold exactly ``orders`` (a fresh read of the database)."""
        levels: dict[str, _Levels] = {}
        book: dict[int, BookOrder] = {}
        for order in orders:
            if order.type == conditions.MARKET:
                continue
            book[order.id] = order
            direction, level = order.trigger
            entry = levels.get(order.ticker)
            if entry is None:
                entry = levels[order.ticker] = _Levels()
            (entry.down if direction == conditions.DOWN else entry.up).append((level, order.id))
        for entry in levels.values():
            entry.down.sort()
            entry.up.sort()
        expiries = [(o.expires_at, o.id) for o in book.values() if o.expires_at is not None]
        heapq.heapify(expiries)
        with self._lock:
            self._orders, self._levels, self._expiries = book, levels, expiries
            self._layout = None  # rebuild every slot

    def put(self, order: BookOrder) -> None:
        """Add ``order``, or replace what the book held for its id (a stop-limit that triggered)."""
        with self._lock:
            self._remove(order.id)
            if order.type == conditions.MARKET:
                return
            self._orders[order.id] = order
            direction, level = order.trigger
            entry = self._levels.get(order.ticker)
            if entry is None:
                entry = self._levels[order.ticker] = _Levels()
            bisect.insort(entry.down if direction == conditions.DOWN else entry.up, (level, order.id))
            if order.expires_at is not None:
                heapq.heappush(self._expiries, (order.expires_at, order.id))
            self._dirty.add(order.ticker)

    def remove(self, order_id: int) -> None:
        with self._lock:
            self._remove(order_id)

    def _remove(self, order_id: int) -> None:
        order = self._orders.pop(order_id, None)
        if order is None:
            return
        direction, level = order.trigger
        entry = self._levels[order.ticker]
        levels = entry.down if direction == conditions.DOWN else entry.up
        index = bisect.bisect_left(levels, (level, order_id))
        if index < len(levels) and levels[index] == (level, order_id):
            del levels[index]
        if not entry.down and not entry.up:
            del self._levels[order.ticker]
        self._dirty.add(order.ticker)

    # The tick path

    def crossed(self, batch: TickBatch, skip: set[int] | frozenset = frozenset()) -> list[tuple[int, float]]:
        """``(order id, price)`` of every order whose level this tick's price reached (ids in ``skip``
        left out), in the order of the batch."""
        with self._lock:
            if self._cache is None:
                return []
            if self._layout != self._cache.layout_version:
                self._rebuild()
            elif self._dirty:
                self._refresh(self._dirty)
            self._dirty = set()
            size = len(self._down)
            slots, prices = batch.slots, batch.prices
            if not size or not len(slots):
                return []
            if slots.max() >= size:
                inside = slots < size
                slots, prices = slots[inside], prices[inside]
            hit = np.flatnonzero((prices <= self._down[slots]) | (prices >= self._up[slots]))
            if not hit.size:
                return []
            found = []
            for index in hit.tolist():
                ticker = self._ticker_at.get(int(slots[index]))
                entry = self._levels.get(ticker) if ticker is not None else None
                if entry is None:
                    continue
                price = float(prices[index])
                start = bisect.bisect_left(entry.down, (price,))
                found += [(order_id, price) for _, order_id in entry.down[start:] if order_id not in skip]
                end = bisect.bisect_right(entry.up, (price, math.inf))
                found += [(order_id, price) for _, order_id in entry.up[:end] if order_id not in skip]
            return found

    def _rebuild(self) -> None:
        """New slots (the cache allocated or freed one): index every ticker again. Caller holds the lock."""
        tickers = list(self._levels)
        slots = self._cache.slots(tickers) if tickers else np.zeros(0, dtype=np.int64)
        self._layout = self._cache.layout_version
        self._slot_of = dict(zip(tickers, slots.tolist(), strict=True))
        self._ticker_at = {slot: ticker for ticker, slot in self._slot_of.items()}
        size = int(slots.max()) + 1 if len(slots) else 0
        self._down = np.full(size, -math.inf)
        self._up = np.full(size, math.inf)
        self._refresh(tickers)

    def _refresh(self, tickers: Iterable[str]) -> None:
        for ticker in tickers:
            slot = self._slot_of.get(ticker)
            entry = self._levels.get(ticker)
            if slot is None:
                if entry is not None:  # a ticker new to the book: it needs a slot
                    self._layout = None
                    self._rebuild()
                    return
                continue
            self._down[slot] = entry.down[-1][0] if entry is not None and entry.down else -math.inf
            self._up[slot] = entry.up[0][0] if entry is not None and entry.up else math.inf

    # Expiry

    def expiry_due(self, now: float) -> bool:
        """Whether some order in the book expires at or before ``now`` (Unix seconds)."""
        with self._lock:
            heap = self._expiries
            while heap:
                expires_at, order_id = heap[0]
                order = self._orders.get(order_id)
                if order is not None and order.expires_at == expires_at:
                    return expires_at <= now
                heapq.heappop(heap)
            return False
