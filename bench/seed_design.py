"""The seed's market design, built literally, as the baseline for ``bench_tick.py``.

Not used by the project. It is what the seed (shared/seed/MARKET_INTERFACE.md) describes, written the
obvious way: a dict + Lock cache, a GBM simulator that keeps an n x n correlation matrix and rebuilds
its Cholesky factor on every add or remove and loops over tickers in Python each step, and the seed's
loop body that updates the cache one ticker at a time.
"""

import math
import random
import time
from threading import Lock

import numpy as np

from market.models import PriceUpdate
from market.seed_prices import (
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


class SeedPriceCache:
    """The seed's cache: one dict of ``PriceUpdate`` behind one lock."""

    def __init__(self):
        self._prices: dict[str, PriceUpdate] = {}
        self._lock = Lock()

    def update(self, ticker: str, price: float, timestamp: float | None = None) -> PriceUpdate:
        with self._lock:
            ts = timestamp or time.time()
            previous = self._prices.get(ticker)
            previous_price = previous.price if previous else price
            if price > previous_price:
                direction = "up"
            elif price < previous_price:
                direction = "down"
            else:
                direction = "flat"
            update = PriceUpdate(
                ticker=ticker,
                price=price,
                previous_price=previous_price,
                timestamp=ts,
                change=price - previous_price,
                direction=direction,
            )
            self._prices[ticker] = update
            return update

    def get(self, ticker: str) -> PriceUpdate | None:
        with self._lock:
            return self._prices.get(ticker)

    def get_all(self) -> dict[str, PriceUpdate]:
        with self._lock:
            return dict(self._prices)

    def remove(self, ticker: str) -> None:
        with self._lock:
            self._prices.pop(ticker, None)


def _pairwise_correlation(a: str, b: str) -> float:
    if a in TECH_GROUP and b in TECH_GROUP:
        return INTRA_TECH_CORRELATION
    if a in FINANCE_GROUP and b in FINANCE_GROUP:
        return INTRA_FINANCE_CORRELATION
    return BASE_CORRELATION


class SeedGBMSimulator:
    """GBM the obvious way: a correlation matrix, its Cholesky factor, a Python loop per ticker."""

    def __init__(self, tickers: list[str], dt: float = 0.5 / 5_896_800, event_probability: float = 0.001):
        self._dt = dt
        self._event_probability = event_probability
        self._tickers: list[str] = []
        self._prices: dict[str, float] = {}
        self._params: dict[str, tuple[float, float]] = {}
        self._cholesky: np.ndarray | None = None
        for ticker in tickers:
            self._add(ticker)
        self._rebuild_cholesky()

    def _add(self, ticker: str) -> None:
        if ticker in self._prices:
            return
        self._tickers.append(ticker)
        self._prices[ticker] = SEED_PRICES.get(ticker, random.uniform(*UNKNOWN_PRICE_RANGE))
        self._params[ticker] = TICKER_PARAMS.get(ticker, DEFAULT_PARAMS)

    def add_ticker(self, ticker: str) -> None:
        self._add(ticker)
        self._rebuild_cholesky()

    def remove_ticker(self, ticker: str) -> None:
        if ticker not in self._prices:
            return
        self._tickers.remove(ticker)
        del self._prices[ticker]
        del self._params[ticker]
        self._rebuild_cholesky()

    def _rebuild_cholesky(self) -> None:
        n = len(self._tickers)
        if n == 0:
            self._cholesky = None
            return
        matrix = np.eye(n)
        for i in range(n):
            for j in range(i + 1, n):
                rho = _pairwise_correlation(self._tickers[i], self._tickers[j])
                matrix[i, j] = rho
                matrix[j, i] = rho
        self._cholesky = np.linalg.cholesky(matrix)

    def step(self) -> dict[str, float]:
        n = len(self._tickers)
        if n == 0:
            return {}
        shocks = self._cholesky @ np.random.standard_normal(n)
        result = {}
        for i, ticker in enumerate(self._tickers):
            sigma, mu = self._params[ticker]
            drift = (mu - 0.5 * sigma**2) * self._dt
            diffusion = sigma * math.sqrt(self._dt) * shocks[i]
            price = self._prices[ticker] * math.exp(drift + diffusion)
            if random.random() < self._event_probability:
                price *= 1 + random.uniform(0.02, 0.05) * random.choice((-1, 1))
            self._prices[ticker] = price
            result[ticker] = round(price, 2)
        return result


def seed_tick(simulator: SeedGBMSimulator, cache: SeedPriceCache) -> None:
    """The body of the seed's ``SimulatorDataSource._run_loop``."""
    for ticker, price in simulator.step().items():
        cache.update(ticker=ticker, price=price)


def seed_add_ticker(simulator: SeedGBMSimulator, tickers: list[str], ticker: str) -> None:
    """The seed's ``SimulatorDataSource.add_ticker`` (the cache sees the ticker at the next tick)."""
    if ticker not in tickers:
        tickers.append(ticker)
        simulator.add_ticker(ticker)
