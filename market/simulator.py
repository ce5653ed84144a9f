"""Simulated prices: correlated geometric Brownian motion with rare jumps (shared/SIMULATOR.md).

``GBMSimulator`` holds every ticker's state in NumPy arrays, so one step costs a handful of vectorised
operations whatever the number of tickers, and adding or removing a ticker is O(1) amortised.

Correlation without a matrix: the pairwise correlations of SIMULATOR.md are exactly one market factor
shared by every ticker plus one sector factor per group, so each ticker's shock is

    Z_i = sqrt(0.3) * M + sqrt(rho_g - 0.3) * S_g + sqrt(1 - rho_g) * e_i

which gives corr 0.6 inside tech, 0.5 inside finance and 0.3 for every other pair, with unit variance.

Random numbers are counter-based: every draw is a hash of (seed, ticker, step), not the next value of
one shared generator. So with a fixed seed a ticker's path never depends on which other tickers are
tracked or in which order they were added, and adding one needs no re-drawing of anything.

``SimulatorDataSource`` runs the simulator on a steady tick in the event loop and writes each tick
into the ``PriceCache`` with one vectorised ``write_slots`` call.
"""

import asyncio
import contextlib
import hashlib
import logging
import math
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from .cache import PriceCache
from .interface import MarketDataSource
from .seed_prices import (
    BASE_CORRELATION,
    DEFAULT_PARAMS,
    FINANCE_GROUP,
    INTRA_FINANCE_CORRELATION,
    INTRA_TECH_CORRELATION,
    SEED_PRICES,
    TECH_GROUP,
    TICKER_PARAMS,
    UNKNOWN_PRICE_RANGE,
)

logger = logging.getLogger(__name__)

TRADING_YEAR_SECONDS = 252 * 6.5 * 3600  # 5,896,800 s of trading in a year
DEFAULT_INTERVAL = 0.5
DEFAULT_EVENT_PROBABILITY = 0.001
EVENT_SIZE_RANGE = (0.02, 0.05)
MIN_PRICE = 0.01  # published prices never go below one cent

_OTHER, _TECH, _FINANCE = 0, 1, 2
_GROUP_CORRELATION = {
    _OTHER: BASE_CORRELATION,
    _TECH: INTRA_TECH_CORRELATION,
    _FINANCE: INTRA_FINANCE_CORRELATION,
}
_MARKET_LOADING = math.sqrt(BASE_CORRELATION)
_INITIAL_CAPACITY = 16
_NO_EVENTS = np.empty(0, dtype=np.intp)

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1, _MIX2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
_U64_MIX1, _U64_MIX2 = np.uint64(_MIX1), np.uint64(_MIX2)
_U64_30, _U64_27, _U64_31, _U64_32, _U64_11 = (np.uint64(s) for s in (30, 27, 31, 32, 11))
_U64_LOW32 = np.uint64(0xFFFFFFFF)
_TWO_POW_M32 = 2.0**-32
_TWO_POW_M53 = 2.0**-53


def dt_for_interval(seconds: float) -> float:
    """The GBM time step of a tick ``seconds`` long, as a fraction of a trading year."""
    return seconds / TRADING_YEAR_SECONDS


DEFAULT_DT = dt_for_interval(DEFAULT_INTERVAL)


def _mix64(x: int) -> int:
    """SplitMix64's finaliser on a Python int: a bijection of 64-bit values with full avalanche."""
    x &= _MASK64
    x = ((x ^ (x >> 30)) * _MIX1) & _MASK64
    x = ((x ^ (x >> 27)) * _MIX2) & _MASK64
    return x ^ (x >> 31)


def _mix64_array(keys: np.ndarray, salt: int) -> np.ndarray:
    """``_mix64(key + salt)`` for every key at once (uint64 arithmetic wraps, as the hash needs)."""
    x = keys + np.uint64(salt)
    x ^= x >> _U64_30
    x *= _U64_MIX1
    x ^= x >> _U64_27
    x *= _U64_MIX2
    x ^= x >> _U64_31
    return x


def _normal_from_hash(h: int) -> float:
    """One standard normal from 64 random bits (Box-Muller on the two 32-bit halves)."""
    u1 = ((h >> 32) + 0.5) * _TWO_POW_M32
    u2 = (h & 0xFFFFFFFF) * _TWO_POW_M32
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def _normals_from_hashes(h: np.ndarray) -> np.ndarray:
    """``_normal_from_hash`` for every element."""
    u1 = (h >> _U64_32).astype(np.float64)
    u1 += 0.5
    u1 *= _TWO_POW_M32
    radius = np.log(u1)
    radius *= -2.0
    np.sqrt(radius, out=radius)
    angle = (h & _U64_LOW32).astype(np.float64)
    angle *= 2.0 * math.pi * _TWO_POW_M32
    np.cos(angle, out=angle)
    radius *= angle
    return radius


def _uniforms_from_hashes(h: np.ndarray) -> np.ndarray:
    """Uniform numbers in [0, 1) with 53 random bits each."""
    u = (h >> _U64_11).astype(np.float64)
    u *= _TWO_POW_M53
    return u


@dataclass(frozen=True, slots=True)
class TickerSpec:
    """What the simulator knows about a ticker before its first step."""

    ticker: str
    start_price: float
    sigma: float  # annual volatility
    mu: float  # annual drift
    group: int  # 0 none, 1 tech, 2 finance
    key: int  # 64-bit key of this ticker's random stream

    @property
    def correlation(self) -> float:
        """Correlation of this ticker's shocks with another ticker of its own group."""
        return _GROUP_CORRELATION[self.group]


def _valid_price(value) -> float | None:
    try:
        price = float(value)
    except (TypeError, ValueError):
        return None
    return price if math.isfinite(price) and price > 0 else None


class GBMSimulator:
    """Correlated GBM prices for a changing set of tickers.

    ``step()`` advances every ticker one tick and returns ``{ticker: price}`` rounded to cents;
    ``step_array()`` returns the same prices as an array in the order of ``tickers`` (the fast path).
    The internal state keeps full precision. With a fixed ``seed`` a ticker always gets the same start
    price, parameters and path; ``initial_prices`` (or ``set_price``) overrides start prices, e.g. to
    resume from the prices a previous run published.
    """

    def __init__(
        self,
        tickers: Iterable[str] = (),
        dt: float = DEFAULT_DT,
        event_probability: float = DEFAULT_EVENT_PROBABILITY,
        seed: int | None = None,
        initial_prices: Mapping[str, float] | None = None,
    ):
        if not (math.isfinite(dt) and dt > 0):
            raise ValueError(f"dt must be a positive number, got {dt!r}")
        if not 0.0 <= event_probability <= 1.0:
            raise ValueError(f"event_probability must be between 0 and 1, got {event_probability!r}")
        self._dt = float(dt)
        self.event_probability = float(event_probability)
        self.seed = seed
        self.initial_prices: dict[str, float] = dict(initial_prices or {})
        # Without a seed each simulator gets its own random secret, so runs differ.
        material = str(seed).encode() if seed is not None else secrets.token_bytes(16)
        self._secret = hashlib.blake2b(material, digest_size=32, person=b"finally-seed").digest()
        self._stream = int.from_bytes(hashlib.blake2b(self._secret, digest_size=8).digest(), "little")
        self._index: dict[str, int] = {}
        self._tickers: list[str] = []
        self._n = 0
        self._steps = 0
        self._version = 0
        self._last_event_slots = _NO_EVENTS
        self._last_event_jumps = np.empty(0)
        self._allocate(_INITIAL_CAPACITY)
        for ticker in tickers:
            self.add_ticker(ticker)

    def _allocate(self, capacity: int) -> None:
        fields = {
            "_keys": np.uint64,
            "_price": np.float64,
            "_drift": np.float64,
            "_vol": np.float64,
            "_sector_loading": np.float64,
            "_own_loading": np.float64,
            "_group": np.intp,
        }
        for name, dtype in fields.items():
            array = np.zeros(capacity, dtype=dtype)
            if hasattr(self, name):
                array[: self._n] = getattr(self, name)[: self._n]
            setattr(self, name, array)

    # What is tracked

    @property
    def dt(self) -> float:
        """The time step as a fraction of a trading year (fixed at construction)."""
        return self._dt

    @property
    def tickers(self) -> list[str]:
        """The tracked tickers, in the order of ``step_array()``."""
        return list(self._tickers)

    @property
    def version(self) -> int:
        """Changes whenever a ticker is added or removed (the order of ``tickers`` may change then)."""
        return self._version

    @property
    def steps(self) -> int:
        """Steps taken so far."""
        return self._steps

    def __len__(self) -> int:
        return self._n

    def __contains__(self, ticker: object) -> bool:
        return ticker in self._index

    def spec(self, ticker: str) -> TickerSpec:
        """The start price and parameters ``ticker`` gets from this simulator's seed (tracked or not)."""
        digest = hashlib.blake2b(
            ticker.encode(), key=self._secret, digest_size=16, person=b"finally-gbm"
        ).digest()
        key = int.from_bytes(digest[:8], "little")
        if ticker in SEED_PRICES:
            start = SEED_PRICES[ticker]
        else:
            low, high = UNKNOWN_PRICE_RANGE
            fraction = int.from_bytes(digest[8:], "little") / 2.0**64
            start = round(low + (high - low) * fraction, 2)
        sigma, mu = TICKER_PARAMS.get(ticker, DEFAULT_PARAMS)
        group = _TECH if ticker in TECH_GROUP else _FINANCE if ticker in FINANCE_GROUP else _OTHER
        return TickerSpec(ticker, start, sigma, mu, group, key)

    def add_ticker(self, ticker: str) -> None:
        """Start simulating ``ticker`` (from ``initial_prices`` if given there, else its start price)."""
        if ticker in self._index:
            return
        spec = self.spec(ticker)
        price = _valid_price(self.initial_prices.get(ticker)) or spec.start_price
        if self._n == len(self._price):
            self._allocate(2 * len(self._price))
        i = self._n
        rho = spec.correlation
        self._keys[i] = spec.key
        self._price[i] = price
        self._drift[i] = (spec.mu - 0.5 * spec.sigma**2) * self._dt
        self._vol[i] = spec.sigma * math.sqrt(self._dt)
        self._sector_loading[i] = math.sqrt(rho - BASE_CORRELATION)
        self._own_loading[i] = math.sqrt(1.0 - rho)
        self._group[i] = spec.group
        self._index[ticker] = i
        self._tickers.append(ticker)
        self._n += 1
        self._version += 1

    def remove_ticker(self, ticker: str) -> None:
        """Stop simulating ``ticker`` (the last ticker moves into its place)."""
        i = self._index.pop(ticker, None)
        if i is None:
            return
        last = self._n - 1
        if i != last:
            for array in (
                self._keys,
                self._price,
                self._drift,
                self._vol,
                self._sector_loading,
                self._own_loading,
                self._group,
            ):
                array[i] = array[last]
            moved = self._tickers[last]
            self._tickers[i] = moved
            self._index[moved] = i
        self._tickers.pop()
        self._n -= 1
        self._version += 1

    # Prices

    def set_price(self, ticker: str, price: float) -> None:
        """Move a tracked ticker's current price (it walks on from there)."""
        valid = _valid_price(price)
        if valid is None:
            raise ValueError(f"price of {ticker} must be a positive number, got {price!r}")
        self._price[self._index[ticker]] = valid

    def price(self, ticker: str) -> float:
        """The current price of a tracked ticker, rounded to cents."""
        return max(round(float(self._price[self._index[ticker]]), 2), MIN_PRICE)

    def prices(self) -> dict[str, float]:
        """Every current price, rounded to cents, without stepping."""
        return dict(zip(self._tickers, self.prices_array().tolist(), strict=True))

    def prices_array(self) -> np.ndarray:
        """Current prices rounded to cents, in the order of ``tickers``, without stepping."""
        return self._published(self._price[: self._n])

    def exact_prices(self) -> np.ndarray:
        """Current prices at full precision, in the order of ``tickers`` (a copy)."""
        return self._price[: self._n].copy()

    @staticmethod
    def _published(prices: np.ndarray) -> np.ndarray:
        rounded = np.round(prices, 2)
        np.maximum(rounded, MIN_PRICE, out=rounded)
        return rounded

    @property
    def last_events(self) -> dict[str, float]:
        """The jumps of the last step: ``{ticker: relative move}``, e.g. ``{"AAPL": -0.031}``."""
        return {
            self._tickers[slot]: jump
            for slot, jump in zip(
                self._last_event_slots.tolist(), self._last_event_jumps.tolist(), strict=False
            )
            if slot < self._n
        }

    # Stepping

    def step(self) -> dict[str, float]:
        """Advance one tick; ``{ticker: price}`` rounded to cents."""
        return dict(zip(self._tickers, self.step_array().tolist(), strict=True))

    def step_array(self) -> np.ndarray:
        """Advance one tick; prices rounded to cents in the order of ``tickers``."""
        n = self._n
        step = self._steps
        self._steps += 1
        # Two independent 64-bit salts per step: one for the shocks, one for the events.
        shock_salt = _mix64(self._stream + (2 * step + 1) * _GOLDEN)
        event_salt = _mix64(self._stream + (2 * step + 2) * _GOLDEN)
        self._last_event_slots = _NO_EVENTS
        if n == 0:
            return np.empty(0)
        market = _normal_from_hash(_mix64(shock_salt ^ 0x4D41524B4554))
        sectors = np.array(
            [
                0.0,
                _normal_from_hash(_mix64(shock_salt ^ 0x54454348)),
                _normal_from_hash(_mix64(shock_salt ^ 0x46494E)),
            ]
        )
        keys = self._keys[:n]
        shock = _normals_from_hashes(_mix64_array(keys, shock_salt))
        shock *= self._own_loading[:n]
        shock += self._sector_loading[:n] * sectors[self._group[:n]]
        shock += _MARKET_LOADING * market
        shock *= self._vol[:n]
        shock += self._drift[:n]
        np.exp(shock, out=shock)
        prices = self._price[:n]
        prices *= shock
        self._apply_events(keys, event_salt)
        return self._published(prices)

    def _apply_events(self, keys: np.ndarray, salt: int) -> None:
        p = self.event_probability
        if p <= 0.0:
            return
        u = _uniforms_from_hashes(_mix64_array(keys, salt))
        slots = np.flatnonzero(u < p)
        if len(slots) == 0:
            return
        # Given an event, u / p is uniform on [0, 1): its lower half means up, and either half
        # rescaled gives the size, so one draw decides whether, which way and how far.
        v = u[slots] / p
        up = v < 0.5
        low, high = EVENT_SIZE_RANGE
        size = low + (high - low) * np.where(up, 2.0 * v, 2.0 * v - 1.0)
        jumps = np.where(up, size, -size)
        self._price[slots] *= 1.0 + jumps
        self._last_event_slots = slots
        self._last_event_jumps = jumps


class SimulatorDataSource(MarketDataSource):
    """The market data source of the embedded default: a ``GBMSimulator`` ticking into the cache.

    ``start()`` writes the current prices at once, then a task steps the simulator every
    ``update_interval`` seconds on a steady schedule. ``running`` is False once that task has ended, for
    whatever reason (``market.feed``'s watchdog restarts it then, keeping the prices).
    """

    name = "simulator"

    def __init__(
        self,
        price_cache: PriceCache,
        update_interval: float = DEFAULT_INTERVAL,
        seed: int | None = None,
        initial_prices: Mapping[str, float] | None = None,
        event_probability: float = DEFAULT_EVENT_PROBABILITY,
    ):
        if not (math.isfinite(update_interval) and update_interval > 0):
            raise ValueError(f"update_interval must be a positive number of seconds, got {update_interval!r}")
        self.interval = float(update_interval)
        self._cache = price_cache
        self._sim = GBMSimulator(
            dt=dt_for_interval(self.interval),
            event_probability=event_probability,
            seed=seed,
            initial_prices=initial_prices,
        )
        self._task: asyncio.Task | None = None
        self._slots = np.empty(0, dtype=np.int64)
        self._slots_for: tuple[int, int] | None = None
        self._failures = 0

    @property
    def simulator(self) -> GBMSimulator:
        return self._sim

    @property
    def seed(self) -> int | None:
        return self._sim.seed

    @property
    def initial_prices(self) -> dict[str, float]:
        """Start prices to resume from, used for any ticker added from now on (set before ``start``)."""
        return self._sim.initial_prices

    @initial_prices.setter
    def initial_prices(self, prices: Mapping[str, float] | None) -> None:
        self._sim.initial_prices = dict(prices or {})

    def resume_from(self, prices: Mapping[str, float]) -> None:
        """Continue from ``prices`` instead of the start prices: tickers added from now on start there,
        tracked ones move there. Prices that are not positive numbers are ignored."""
        usable = {ticker: price for ticker, price in prices.items() if _valid_price(price) is not None}
        self._sim.initial_prices = {**self._sim.initial_prices, **usable}
        for ticker, price in usable.items():
            if ticker in self._sim:
                self._sim.set_price(ticker, price)

    @property
    def running(self) -> bool:
        """True while the tick loop is alive."""
        return self._task is not None and not self._task.done()

    async def start(self, tickers: list[str]) -> None:
        if self.running:
            await self.stop()
        wanted = dict.fromkeys(tickers)
        for ticker in self._sim.tickers:
            if ticker not in wanted:
                await self.remove_ticker(ticker)
        for ticker in wanted:
            self._sim.add_ticker(ticker)
        self._write(self._sim.prices_array())
        self._task = asyncio.create_task(self._run(), name="simulator-ticks")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def add_ticker(self, ticker: str) -> None:
        if ticker in self._sim:
            return
        self._sim.add_ticker(ticker)
        if self._task is not None:
            # Priced at once, not at the next tick: the user who added it is looking.
            self._cache.update(ticker, self._sim.price(ticker))

    async def remove_ticker(self, ticker: str) -> None:
        self._sim.remove_ticker(ticker)
        self._cache.remove(ticker)

    def get_tickers(self) -> list[str]:
        return self._sim.tickers

    def tick(self) -> None:
        """Step the simulator once and write the prices (what the loop does every interval)."""
        self._write(self._sim.step_array())

    def _write(self, prices: np.ndarray) -> None:
        # Slots stay valid until the cache frees or allocates one, or our ticker set changes.
        if self._slots_for != (self._cache.layout_version, self._sim.version):
            self._slots = self._cache.slots(self._sim.tickers)
            self._slots_for = (self._cache.layout_version, self._sim.version)
        self._cache.write_slots(self._slots, prices, time.time())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            # Sleep until the next deadline, not for a fixed time after the work, so ticks stay
            # evenly spaced; after a long stall (a suspended process) start afresh instead of bursting.
            deadline += self.interval
            delay = deadline - loop.time()
            if delay < -self.interval:
                deadline = loop.time()
                delay = 0.0
            await asyncio.sleep(max(delay, 0.0))
            try:
                self.tick()
            except Exception:
                self._failures += 1
                if self._failures == 1 or self._failures % 100 == 0:
                    logger.exception("simulator tick failed (%d in a row); ticking on", self._failures)
            else:
                if self._failures:
                    logger.info("simulator ticks again after %d failed ticks", self._failures)
                self._failures = 0
