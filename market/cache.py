"""The shared in-memory price store: latest price per ticker, a short history, source freshness.

The seed's ``PriceCache`` API (``update``, ``get``, ``get_all``, ``remove``) is kept with its semantics:
a ticker's first update is flat, ``timestamp=None`` means "now" while ``0`` is a real timestamp.

Prices are held in NumPy arrays indexed by a stable slot per ticker, so a source can write a whole
tick for thousands of tickers in one vectorised call (``slots`` once, then ``write_slots`` per tick).
``PriceUpdate`` objects are built only when somebody reads them.

Each slot also keeps the ticker's previous close (the day's change is measured from it). Whoever
knows it sets it (``set_previous_closes``: the bar recorder from the stored daily bars and at the New
York day's rollover, the Massive source from its snapshots, a mirror from runfeed's ticks); until then
a ticker's first price stands for it, as the contract says for a ticker with no earlier day.
"""

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from .updates import PriceUpdate, make_update

logger = logging.getLogger(__name__)

DEFAULT_HISTORY_SIZE = 360  # three minutes at the default 0.5 s tick: enough for a sparkline
_INITIAL_CAPACITY = 64


class TickBatch:
    """What one write to the cache stored, handed to every listener right after the write.

    ``slots`` and ``prices`` are the cache slots written and their prices, aligned (NumPy arrays; a
    listener must not keep them past its call). ``written()`` gives the same as ``{ticker: price}``.
    A ticker counts as *changed* when its price moved or when it got its first price.
    """

    __slots__ = ("_changed", "_changed_mask", "_slot_of", "_tickers", "prices", "slots", "timestamp")

    def __init__(
        self,
        timestamp: float,
        slot_of: dict[str, int],
        slots: np.ndarray,
        prices: np.ndarray,
        changed_mask: np.ndarray | None = None,
        changed: frozenset[str] | None = None,
        tickers: Sequence[str] | None = None,
    ):
        self.timestamp = timestamp
        self.slots = slots
        self.prices = prices
        self._slot_of = slot_of
        self._changed_mask = changed_mask
        self._changed = changed
        self._tickers = tickers  # the tickers of ``slots``, when the writer had them at hand

    def changed_in(self, tickers: Iterable[str]) -> list[str]:
        """The tickers among ``tickers`` that this write changed (cost grows with ``tickers`` only)."""
        if self._changed is not None:
            return [t for t in tickers if t in self._changed]
        mask, slot_of = self._changed_mask, self._slot_of
        result = []
        for ticker in tickers:
            slot = slot_of.get(ticker)
            if slot is not None and slot < len(mask) and mask[slot]:
                result.append(ticker)
        return result

    def changed(self) -> list[str]:
        """Every ticker this write changed."""
        if self._changed is not None:
            return sorted(self._changed)
        return self.changed_in(list(self._slot_of))

    def written(self) -> dict[str, float]:
        """``{ticker: price}`` of every ticker this write stored, changed or not."""
        tickers = self._tickers
        if tickers is None:
            at = {slot: ticker for ticker, slot in self._slot_of.items()}
            tickers = [at.get(slot) for slot in self.slots.tolist()]
        return {t: p for t, p in zip(tickers, self.prices.tolist(), strict=True) if t is not None}

    def merge(self, other: "TickBatch") -> "TickBatch":
        """One batch standing for this write and a later one (used to coalesce pending work)."""
        slot_of = other._slot_of
        written = {t: p for t, p in {**self.written(), **other.written()}.items() if t in slot_of}
        return TickBatch(
            other.timestamp,
            slot_of,
            np.fromiter((slot_of[t] for t in written), dtype=np.int64, count=len(written)),
            np.fromiter(written.values(), dtype=np.float64, count=len(written)),
            changed=frozenset(self.changed()) | frozenset(other.changed()),
            tickers=list(written),
        )


class PriceCache:
    """Thread-safe cache of latest prices per ticker, with a short history and source freshness."""

    def __init__(self, history_size: int = DEFAULT_HISTORY_SIZE):
        if history_size < 1:
            raise ValueError("history_size must be at least 1")
        self._lock = threading.Lock()
        self._history_size = history_size
        self._slot_of: dict[str, int] = {}
        self._ticker_at: list[str | None] = []
        self._free: list[int] = []
        self._layout_version = 0
        self._last_success: float | None = None
        self._listeners: list[Callable[[TickBatch], None]] = []
        self._allocate(_INITIAL_CAPACITY)

    def _allocate(self, capacity: int) -> None:
        size = self._history_size
        old = getattr(self, "_price", None)
        arrays = {
            "_price": np.zeros(capacity),
            "_previous": np.zeros(capacity),
            "_previous_close": np.full(capacity, np.nan),  # NaN: not known (yet)
            "_timestamp": np.zeros(capacity),
            "_has_price": np.zeros(capacity, dtype=bool),
            "_history_price": np.zeros((capacity, size)),
            "_history_time": np.zeros((capacity, size)),
            "_history_next": np.zeros(capacity, dtype=np.int64),
            "_history_len": np.zeros(capacity, dtype=np.int64),
        }
        if old is not None:
            used = len(old)
            for name, array in arrays.items():
                array[:used] = getattr(self, name)
        for name, array in arrays.items():
            setattr(self, name, array)

    def _slot_for(self, ticker: str) -> int:
        """The slot of ``ticker``, allocating one if needed. Caller holds the lock."""
        slot = self._slot_of.get(ticker)
        if slot is not None:
            return slot
        if self._free:
            slot = self._free.pop()
            self._ticker_at[slot] = ticker
            # A writer still holding pre-removal slots may have written here since: start clean.
            self._has_price[slot] = False
            self._previous_close[slot] = np.nan
            self._history_len[slot] = 0
            self._history_next[slot] = 0
        else:
            slot = len(self._ticker_at)
            if slot >= len(self._price):
                self._allocate(2 * len(self._price))
            self._ticker_at.append(ticker)
        self._slot_of[ticker] = slot
        self._layout_version += 1
        return slot

    # The seed's API

    def update(self, ticker: str, price: float, timestamp: float | None = None) -> PriceUpdate:
        """Update the price of one ticker and return the resulting ``PriceUpdate``."""
        now = time.time()
        ts = now if timestamp is None else float(timestamp)
        price = float(price)
        with self._lock:
            slot = self._slot_for(ticker)
            had_price = bool(self._has_price[slot])
            previous = float(self._price[slot]) if had_price else price
            self._store(slot, price, previous, ts)
            self._last_success = now
            update = self._read(ticker)
        if self._listeners and (not had_price or price != previous):
            changed = frozenset((ticker,))
            self._notify(
                TickBatch(
                    ts, self._slot_of, np.array([slot]), np.array([price]), changed=changed, tickers=(ticker,)
                )
            )
        return update

    def get(self, ticker: str) -> PriceUpdate | None:
        """The latest price of ``ticker``, or None when it has none."""
        with self._lock:
            return self._read(ticker)

    def get_all(self) -> dict[str, PriceUpdate]:
        """The latest price of every ticker that has one."""
        with self._lock:
            found = {ticker: self._read(ticker) for ticker in self._slot_of}
        return {ticker: update for ticker, update in found.items() if update is not None}

    def remove(self, ticker: str) -> None:
        """Forget ``ticker``: its price and its history."""
        with self._lock:
            slot = self._slot_of.pop(ticker, None)
            if slot is None:
                return
            self._ticker_at[slot] = None
            self._has_price[slot] = False
            self._previous_close[slot] = np.nan
            self._history_len[slot] = 0
            self._history_next[slot] = 0
            self._free.append(slot)
            self._layout_version += 1

    # Reads beyond the seed

    def get_many(self, tickers: Iterable[str]) -> dict[str, PriceUpdate]:
        """The latest price of each of ``tickers`` that has one, read under one lock."""
        with self._lock:
            found = {ticker: self._read(ticker) for ticker in tickers}
        return {ticker: update for ticker, update in found.items() if update is not None}

    def get_price(self, ticker: str) -> float | None:
        with self._lock:
            slot = self._slot_of.get(ticker)
            if slot is None or not self._has_price[slot]:
                return None
            return float(self._price[slot])

    def tickers(self) -> list[str]:
        """Tickers that have a price."""
        with self._lock:
            return [t for t, slot in self._slot_of.items() if self._has_price[slot]]

    def __len__(self) -> int:
        with self._lock:
            return int(sum(1 for slot in self._slot_of.values() if self._has_price[slot]))

    def __contains__(self, ticker: object) -> bool:
        with self._lock:
            slot = self._slot_of.get(ticker)  # type: ignore[arg-type]
            return slot is not None and bool(self._has_price[slot])

    def history(self, ticker: str, limit: int | None = None) -> list[tuple[float, float]]:
        """Recent ``(timestamp, price)`` pairs of ``ticker``, oldest first, at most ``limit`` of them."""
        with self._lock:
            return self._read_history(ticker, limit)

    def histories(
        self, tickers: Iterable[str], limit: int | None = None
    ) -> dict[str, list[tuple[float, float]]]:
        """``history`` for several tickers under one lock; tickers without a price are left out."""
        with self._lock:
            found = {ticker: self._read_history(ticker, limit) for ticker in tickers}
        return {ticker: points for ticker, points in found.items() if points}

    @property
    def history_size(self) -> int:
        return self._history_size

    # Freshness of the source writing here

    def mark_success(self, when: float | None = None) -> None:
        """Record that the source succeeded (every write does this; a poll with no change calls it)."""
        with self._lock:
            self._last_success = time.time() if when is None else float(when)

    @property
    def last_success(self) -> float | None:
        """Wall-clock time of the source's last success, or None before the first one."""
        return self._last_success

    def age(self, now: float | None = None) -> float | None:
        """Seconds since the source last succeeded, or None before the first success."""
        last = self._last_success
        if last is None:
            return None
        return max(0.0, (time.time() if now is None else now) - last)

    # The vectorised path for sources

    @property
    def layout_version(self) -> int:
        """Changes whenever a slot is allocated or freed: slots taken before are then to be refreshed."""
        return self._layout_version

    def slots(self, tickers: Sequence[str]) -> np.ndarray:
        """Stable slot numbers for ``tickers`` (allocated when new), valid until ``layout_version`` moves."""
        with self._lock:
            return np.fromiter((self._slot_for(t) for t in tickers), dtype=np.int64, count=len(tickers))

    def write_slots(self, slots: np.ndarray, prices: np.ndarray, timestamp: float | None = None) -> None:
        """Write one price per slot with ``update``'s semantics, for the whole array at once."""
        now = time.time()
        ts = now if timestamp is None else float(timestamp)
        prices = np.asarray(prices, dtype=np.float64)
        with self._lock:
            had_price = self._has_price[slots]
            old = self._price[slots]
            if not had_price.all():
                self._first_prices(slots[~had_price], prices[~had_price])
            self._previous[slots] = np.where(had_price, old, prices)
            self._price[slots] = prices
            self._timestamp[slots] = ts
            self._has_price[slots] = True
            position = self._history_next[slots]
            self._history_price[slots, position] = prices
            self._history_time[slots, position] = ts
            self._history_next[slots] = (position + 1) % self._history_size
            self._history_len[slots] = np.minimum(self._history_len[slots] + 1, self._history_size)
            self._last_success = now
            if self._listeners:
                mask = np.zeros(len(self._price), dtype=bool)
                mask[slots] = ~had_price | (prices != old)
                batch = TickBatch(ts, self._slot_of, slots, prices, changed_mask=mask)
        if self._listeners:
            self._notify(batch)

    def update_many(
        self, tickers: Sequence[str], prices: Sequence[float], timestamp: float | None = None
    ) -> None:
        """``update`` for many tickers at one timestamp."""
        self.write_slots(self.slots(tickers), np.asarray(prices, dtype=np.float64), timestamp)

    def apply(self, updates: Iterable[PriceUpdate]) -> None:
        """Store updates exactly as given (a mirror of another process's cache keeps its previous prices).

        An update's ``previous_close``, when not None, becomes the ticker's; a change of it alone
        counts as a change (the day's change moved).
        """
        now = time.time()
        updates = list(updates)
        changed = set()
        slots = np.empty(len(updates), dtype=np.int64)
        with self._lock:
            for index, update in enumerate(updates):
                slot = slots[index] = self._slot_for(update.ticker)
                close = update.previous_close
                if (
                    not self._has_price[slot]
                    or self._price[slot] != update.price
                    or (close is not None and self._previous_close[slot] != close)
                ):
                    changed.add(update.ticker)
                if close is not None and close > 0:
                    self._previous_close[slot] = close
                elif not self._has_price[slot] and np.isnan(self._previous_close[slot]):
                    self._previous_close[slot] = update.price
                self._store(slot, update.price, update.previous_price, update.timestamp)
            self._last_success = now
        if self._listeners and changed:
            prices = np.fromiter((u.price for u in updates), dtype=np.float64, count=len(updates))
            tickers = [u.ticker for u in updates]
            self._notify(
                TickBatch(now, self._slot_of, slots, prices, changed=frozenset(changed), tickers=tickers)
            )

    # The previous close, per ticker

    def set_previous_closes(self, closes: Mapping[str, float], timestamp: float | None = None) -> None:
        """Make these the tickers' previous closes (allocating slots for tickers without a price yet).

        Listeners are told of the priced tickers whose previous close moved (a batch of their current
        prices at ``timestamp``, default now, marked changed), so sockets and mirrors get the new day's
        change. Values that are not positive numbers are ignored.
        """
        usable = {t: float(c) for t, c in closes.items() if isinstance(c, int | float) and c > 0}
        if not usable:
            return
        now = time.time() if timestamp is None else float(timestamp)
        with self._lock:
            moved = []
            for ticker, close in usable.items():
                slot = self._slot_for(ticker)
                if self._previous_close[slot] != close:
                    self._previous_close[slot] = close
                    if self._has_price[slot]:
                        moved.append((ticker, slot))
            if not moved or not self._listeners:
                return
            slots = np.fromiter((slot for _, slot in moved), dtype=np.int64, count=len(moved))
            prices = self._price[slots].copy()
            batch = TickBatch(
                now,
                self._slot_of,
                slots,
                prices,
                changed=frozenset(ticker for ticker, _ in moved),
                tickers=[ticker for ticker, _ in moved],
            )
        self._notify(batch)

    def previous_close(self, ticker: str) -> float | None:
        """The ticker's previous close, or None when not known."""
        with self._lock:
            slot = self._slot_of.get(ticker)
            if slot is None or np.isnan(self._previous_close[slot]):
                return None
            return float(self._previous_close[slot])

    def slot_tickers(self) -> list[str | None]:
        """The ticker of each slot (None for a free one), as of now: slot-indexed listeners use it."""
        with self._lock:
            return list(self._ticker_at)

    # Listeners

    def add_listener(self, listener: Callable[[TickBatch], None]) -> None:
        """Call ``listener(batch)`` after every write (a tick), in the writing thread, outside the lock.

        Every ``write_slots`` (a source's tick) is told, changed or not; ``update`` and ``apply`` are
        told when they changed a price (or gave a ticker its first one).

        This is the one way to be told of ticks: the stream hub, ``runfeed``'s publisher and the
        feed's tick listeners (``market.listeners``) all come through here. A listener must be quick
        (it runs on the tick's path); a slow one hands its work to a thread.
        """
        self._listeners = [*self._listeners, listener]

    def remove_listener(self, listener: Callable[[TickBatch], None]) -> None:
        # Equality, not identity: each ``obj.method`` access makes a new bound-method object.
        self._listeners = [existing for existing in self._listeners if existing != listener]

    def _notify(self, batch: TickBatch) -> None:
        for listener in self._listeners:
            try:
                listener(batch)
            except Exception:
                logger.exception("price cache listener %r failed", listener)

    # Internals; the caller holds the lock

    def _first_prices(self, slots: np.ndarray, prices: np.ndarray) -> None:
        """Slots getting their first price: where no previous close is known, the first price stands in."""
        unknown = np.isnan(self._previous_close[slots])
        if unknown.any():
            self._previous_close[slots[unknown]] = prices[unknown]

    def _store(self, slot: int, price: float, previous: float, ts: float) -> None:
        if not self._has_price[slot] and np.isnan(self._previous_close[slot]):
            self._previous_close[slot] = price
        self._price[slot] = price
        self._previous[slot] = previous
        self._timestamp[slot] = ts
        self._has_price[slot] = True
        position = self._history_next[slot]
        self._history_price[slot, position] = price
        self._history_time[slot, position] = ts
        self._history_next[slot] = (position + 1) % self._history_size
        self._history_len[slot] = min(self._history_len[slot] + 1, self._history_size)

    def _read(self, ticker: str) -> PriceUpdate | None:
        slot = self._slot_of.get(ticker)
        if slot is None or not self._has_price[slot]:
            return None
        close = self._previous_close[slot]
        return make_update(
            ticker,
            float(self._price[slot]),
            float(self._previous[slot]),
            float(self._timestamp[slot]),
            None if np.isnan(close) else float(close),
        )

    def _read_history(self, ticker: str, limit: int | None) -> list[tuple[float, float]]:
        slot = self._slot_of.get(ticker)
        if slot is None:
            return []
        length = int(self._history_len[slot])
        if limit is not None:
            length = min(length, max(0, limit))
        if length == 0:
            return []
        end = int(self._history_next[slot])
        order = (np.arange(end - length, end)) % self._history_size
        times = self._history_time[slot, order].tolist()
        prices = self._history_price[slot, order].tolist()
        return list(zip(times, prices, strict=True))
