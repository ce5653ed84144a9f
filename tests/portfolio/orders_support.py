"""Helpers for the order tests: a clock the test sets, an order engine on this process's feed, prices."""

from datetime import UTC, datetime

from market.feed import get_feed
from portfolio.models import Order, Portfolio
from portfolio.orders.engine import OrderEngine


class Clock:
    """A clock the test moves: ``clock()`` is its time (an aware datetime)."""

    def __init__(self, now: datetime | None = None):
        self.now = now or datetime(2026, 6, 15, 14, 0, tzinfo=UTC)  # a Monday, 10:00 New York

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        self.now = now


def open_engine(clock=None, worker: bool = False) -> OrderEngine:
    """An order engine listening to this process's feed cache. Without ``worker`` the test does its work
    (``engine.run_pending()``); with it, a real worker thread does (``engine.wait_idle()``)."""
    engine = OrderEngine(clock=clock)
    cache = get_feed().cache
    engine.open(cache, worker=worker)
    cache.add_listener(engine.on_tick)
    return engine


def close_engine(engine: OrderEngine) -> None:
    get_feed().cache.remove_listener(engine.on_tick)
    engine.close()


def tick(engine: OrderEngine, prices: dict[str, float]) -> None:
    """One real tick: a vectorised write of ``prices`` to the feed's cache (the engine's on_tick sees the
    real TickBatch), then the engine's work done in this thread."""
    get_feed().cache.update_many(list(prices), list(prices.values()))
    engine.run_pending()


def status_of(order) -> str:
    return Order.objects.get(pk=order.pk).status


def cash_of(user):
    return Portfolio.objects.get(user=user).cash
