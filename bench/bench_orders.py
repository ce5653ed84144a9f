"""Issue 11 figures: what resting orders cost a tick, loading them, and filling many at once.

Run from the project directory: ``.venv/bin/python bench/bench_orders.py`` (SQLite, a throw-away test
database), or with ``DATABASE_URL=postgres://...`` for PostgreSQL (it creates and drops ``test_<name>``).
It prints a table with PASS/FAIL against each goal:

(a) 100,000 open orders over 1,000 tickers: the engine's ``on_tick`` on real TickBatches from real cache
    writes of 1,000 tickers where no order crosses, against the same engine holding no orders;
(b) loading those 100,000 orders at start;
(c) 1,000 orders of 100 users crossing on one tick while a simulator feed ticks: the time until all are
    filled, and the lateness of the feed's ticks meanwhile (fills run in the engine's worker thread).
"""

import argparse
import asyncio
import itertools
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings_orders")

import django

django.setup()

import numpy as np  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.measure import print_table, verdict  # noqa: E402
from market.cache import PriceCache  # noqa: E402
from market.feed import Feed, reset_feed  # noqa: E402
from market.seed_prices import DEFAULT_TICKERS  # noqa: E402
from market.simulator import SimulatorDataSource  # noqa: E402
from portfolio.models import Order, Portfolio  # noqa: E402
from portfolio.orders.engine import OrderEngine  # noqa: E402

TICK_EXTRA_GOAL_MS = 0.2
LOAD_GOAL_S = 2.0
FILL_GOAL_S = {"sqlite": 10.0, "postgresql": 5.0}
LATENESS_GOAL_MS = 50.0

TICKERS = [f"T{i:04d}" for i in range(1000)]
PRICE = 100.0


def make_users(prefix: str, count: int) -> list[Portfolio]:
    """``count`` users with portfolios, made in bulk (no signals: no watchlists, which we do not need)."""
    User = get_user_model()
    User.objects.bulk_create([User(username=f"{prefix}{i}") for i in range(count)], batch_size=1000)
    users = list(User.objects.filter(username__startswith=prefix).order_by("id"))
    Portfolio.objects.bulk_create([Portfolio(user=user) for user in users], batch_size=1000)
    return list(Portfolio.objects.filter(user__in=users).order_by("id"))


def resting_orders(portfolios: list[Portfolio], per_portfolio: int) -> list[Order]:
    """Orders far from the price (100): buy limits and sell stops at 50-60, sell limits, buy stops and
    stop-limits at 140-160, spread over ``TICKERS``."""
    rng = np.random.default_rng(1)
    now = timezone.now()
    kinds = [
        ("buy", "limit", "low"),
        ("sell", "limit", "high"),
        ("buy", "stop", "high"),
        ("sell", "stop", "low"),
        ("buy", "stop_limit", "high"),
    ]
    orders = []
    n = 0
    for portfolio in portfolios:
        for _ in range(per_portfolio):
            side, kind, where = kinds[n % len(kinds)]
            level = Decimal(f"{(50 if where == 'low' else 140) + rng.uniform(0, 10):.2f}")
            limit = level if kind in ("limit", "stop_limit") else None
            stop = level if kind in ("stop", "stop_limit") else None
            reserved = level if side == "buy" else Decimal("0.00")
            orders.append(
                Order(
                    portfolio=portfolio,
                    ticker=TICKERS[n % len(TICKERS)],
                    side=side,
                    type=kind,
                    quantity=Decimal(1),
                    limit_price=limit,
                    stop_price=stop,
                    time_in_force="gtc",
                    reserved_cash=reserved,
                    created_at=now,
                    updated_at=now,
                )
            )
            n += 1
    return orders


def captured_batches(cache: PriceCache, count: int) -> list:
    """``count`` real TickBatches of the 1,000 tickers, from real cache writes (prices near 100)."""
    batches = []
    cache.add_listener(batches.append)
    slots = cache.slots(TICKERS)
    rng = np.random.default_rng(2)
    for _ in range(count):
        cache.write_slots(slots, PRICE * (1 + rng.normal(0, 0.01, len(TICKERS))))
    cache.remove_listener(batches.append)
    return batches


def on_tick_ms(engine: OrderEngine, batches: list) -> list[float]:
    times = []
    for batch in batches:
        start = time.perf_counter()
        engine.on_tick(batch)
        times.append((time.perf_counter() - start) * 1000)
    return times


def measure_tick_and_load(repeat: int) -> tuple[float, float, float, float, int]:
    print("creating 100,000 open orders of 1,000 users over 1,000 tickers ...", flush=True)
    portfolios = make_users("bench", 1000)
    Order.objects.bulk_create(resting_orders(portfolios, 100), batch_size=2000)
    cache = PriceCache()
    cache.update_many(TICKERS, [PRICE] * len(TICKERS))
    print("(b) loading them ...", flush=True)
    full = OrderEngine()
    full.book.attach(cache)
    start = time.perf_counter()
    loaded = full.load()
    load_s = time.perf_counter() - start
    empty = OrderEngine()
    empty.book.attach(cache)
    empty.book.replace_all([])
    print("(a) ticks that cross nothing, with and without them ...", flush=True)
    batches = captured_batches(cache, repeat)
    (
        on_tick_ms(full, batches[:20]),
        on_tick_ms(empty, batches[:20]),
    )  # warm up (the first builds the slot index)
    with_orders, without = [], []
    for block in range(10):  # alternating blocks: load from elsewhere hits both alike
        part = batches[block::10]
        with_orders += on_tick_ms(full, part)
        without += on_tick_ms(empty, part)
    assert not full._jobs, "a tick crossed an order: the benchmark's prices are wrong"
    return (
        statistics.median(with_orders),
        statistics.median(without),
        float(np.percentile(with_orders, 99)),
        load_s,
        loaded,
    )


CROSSING = [f"X{i:03d}" for i in range(10)]


def crossing_orders() -> None:
    """1,000 buy limits at 100 of 100 users on ten tickers that the crossing tick prices at 99."""
    Order.objects.all().delete()
    portfolios = make_users("filler", 100)
    now = timezone.now()
    Order.objects.bulk_create(
        Order(
            portfolio=portfolio,
            ticker=CROSSING[i],
            side="buy",
            type="limit",
            quantity=Decimal(1),
            limit_price=Decimal(100),
            time_in_force="gtc",
            reserved_cash=Decimal("100.00"),
            created_at=now,
            updated_at=now,
        )
        for portfolio in portfolios
        for i in range(10)
    )


def filled_count() -> int:
    try:
        return Order.objects.filter(status="filled").count()
    finally:
        connection.close()


async def measure_fills(interval: float) -> tuple[float, float, int, int, int]:
    crossing = CROSSING
    feed = reset_feed(Feed(source_factory=lambda cache: SimulatorDataSource(cache, update_interval=interval)))
    ticks: list[float] = []
    loop = asyncio.get_running_loop()
    if os.environ.get("BENCH_LOOP_DEBUG"):
        import logging

        logging.basicConfig(level=logging.WARNING)
        loop.set_debug(True)
        loop.slow_callback_duration = 0.03
    feed.cache.add_listener(lambda batch: ticks.append(loop.time()) if len(batch.slots) > 1 else None)
    await feed.start(tickers=[*DEFAULT_TICKERS, *TICKERS[:90]])
    (engine,) = [listener for listener in feed._listeners if isinstance(listener, OrderEngine)]
    assert len(engine.book) == 1000, len(engine.book)
    await asyncio.sleep(1.0)  # a few ordinary ticks first
    before = len(ticks)
    start = time.perf_counter()
    feed.cache.update_many(crossing, [99.0] * len(crossing))  # the crossing tick, in the feed's loop
    deadline = start + 60
    while engine.stats["filled"] + engine.stats["rejected"] < 1000 and time.perf_counter() < deadline:
        await asyncio.sleep(0.005)
    fill_s = time.perf_counter() - start
    await asyncio.sleep(2 * interval)
    during = ticks[before - 1 :]
    gaps = [later - earlier for earlier, later in itertools.pairwise(during)]
    late_ms = max(0.0, max(gaps) - interval) * 1000 if gaps else float("nan")
    await feed.stop()
    filled = await asyncio.to_thread(filled_count)
    return fill_s, late_ms, filled, engine.stats["rejected"], len(during)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer ticks measured")
    parser.add_argument("--interval", type=float, default=0.1, help="simulator tick interval in (c), seconds")
    args = parser.parse_args()
    vendor = connection.vendor
    print(f"database: {vendor}; creating a throw-away test database ...", flush=True)
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        tick_with, tick_without, tick_p99, load_s, loaded = measure_tick_and_load(200 if args.quick else 2000)
        print("(c) 1,000 orders of 100 users crossing on one tick, while the simulator ticks ...", flush=True)
        crossing_orders()
        connection.close()
        fill_s, late_ms, filled, rejected, ticks_seen = asyncio.run(measure_fills(args.interval))
    finally:
        connections.close_all()
        connection.creation.destroy_test_db(old_name, verbosity=0)
    extra = tick_with - tick_without
    rows = [
        ("(a) on_tick, 1,000 tickers, none crossing: no orders, median", f"{tick_without:.4f} ms", "", ""),
        (
            f"(a) ... with {loaded:,} open orders, median (p99 {tick_p99:.4f} ms)",
            f"{tick_with:.4f} ms",
            "",
            "",
        ),
        (
            "(a) extra cost of the orders",
            f"{extra:.4f} ms",
            f"<= {TICK_EXTRA_GOAL_MS} ms",
            verdict(extra <= TICK_EXTRA_GOAL_MS),
        ),
        (
            f"(b) loading {loaded:,} open orders",
            f"{load_s:.2f} s",
            f"<= {LOAD_GOAL_S} s",
            verdict(load_s <= LOAD_GOAL_S),
        ),
        (
            f"(c) 1,000 orders crossing on one tick: all done ({filled} filled, {rejected} rejected)",
            f"{fill_s:.2f} s",
            f"<= {FILL_GOAL_S[vendor]} s ({vendor})",
            verdict(fill_s <= FILL_GOAL_S[vendor] and filled == 1000),
        ),
        (
            f"(c) worst tick lateness meanwhile ({ticks_seen} ticks every {args.interval}s)",
            f"{late_ms:.1f} ms",
            f"<= {LATENESS_GOAL_MS} ms",
            verdict(late_ms <= LATENESS_GOAL_MS),
        ),
    ]
    failed = print_table(("figure", "measured", "goal", ""), rows, rule=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
