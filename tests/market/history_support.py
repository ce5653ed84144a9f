"""Helpers for the history tests: a recorder on a real cache with a clock the test moves."""

import functools
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from asgiref.sync import sync_to_async
from django.db import connection

from market.cache import PriceCache
from market.history.calendar import NEW_YORK
from market.history.recorder import BarRecorder
from market.interface import MarketDataSource


def database(function):
    """``sync_to_async(function)`` that closes its thread's connection afterwards (on PostgreSQL an
    open one would keep the test database from being dropped)."""

    @functools.wraps(function)
    def closing(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        finally:
            connection.close()

    return sync_to_async(closing)


def ny(*args) -> float:
    """Unix seconds of a New York wall-clock time, e.g. ``ny(2026, 3, 9, 9, 30)``."""
    return datetime(*args, tzinfo=NEW_YORK).timestamp()


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


class StubSource(MarketDataSource):
    """A source that produces nothing by itself; it records what the recorder resumed it from."""

    name = "stub"

    def __init__(self, provides_previous_close: bool = False):
        self.resumed: dict[str, float] = {}
        self.provides_previous_close = provides_previous_close

    async def start(self, tickers):
        pass

    async def stop(self):
        pass

    async def add_ticker(self, ticker):
        pass

    async def remove_ticker(self, ticker):
        pass

    def get_tickers(self):
        return []

    def resume_from(self, prices):
        self.resumed.update(prices)


@dataclass
class StubFeed:
    cache: PriceCache = field(default_factory=PriceCache)
    source: StubSource = field(default_factory=StubSource)
    starting_tickers: frozenset = frozenset()


async def started_recorder(now: float, tickers=(), feed: StubFeed | None = None, **options):
    """A started recorder whose clock stands at ``now`` and whose timer never runs by itself."""
    feed = feed or StubFeed()
    feed.starting_tickers = frozenset(tickers)
    clock = Clock(now)
    recorder = BarRecorder(timer_interval=3600, clock=clock, **options)
    await recorder.start(feed)
    feed.cache.add_listener(recorder.on_tick)
    return recorder, feed.cache, clock


def write(cache: PriceCache, clock: Clock, when: float, prices: dict[str, float]) -> None:
    """One tick at ``when``, written as a source writes (one vectorised call)."""
    clock.now = when
    tickers = list(prices)
    cache.write_slots(cache.slots(tickers), np.array([prices[t] for t in tickers]), when)
