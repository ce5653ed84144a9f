"""Issue 2 figures: the cost of one simulator tick and of adding a ticker, ours against the seed's design;
issue 10's: the same tick with the bar recorder listening, side by side with the tick without it.

Run from the project directory: ``.venv/bin/python bench/bench_tick.py``. It prints a table with
PASS/FAIL against each goal. Numbers are wall-clock medians on this machine; other load makes them
noisy, so compare figures from the same run.
"""

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# One BLAS thread: the seed's matrix product then neither borrows the other core nor spins against
# other load, which makes its figures lower (conservative for the speed-up) and steadier.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import django  # noqa: E402
import numpy as np  # noqa: E402

# The bar recorder's module belongs to a Django app (its models); no database is used here.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finally_site.settings")
django.setup()

from bench.measure import print_table, verdict  # noqa: E402
from bench.seed_design import SeedGBMSimulator, SeedPriceCache, seed_add_ticker, seed_tick  # noqa: E402
from market.cache import PriceCache  # noqa: E402
from market.history.recorder import BarRecorder  # noqa: E402
from market.seed_prices import DEFAULT_TICKERS  # noqa: E402
from market.simulator import SimulatorDataSource  # noqa: E402

SPEEDUP_GOAL = 10.0
TICK_5000_GOAL_MS = 1.5
ADD_GOAL_MS = 1.0
RECORDER_NOISE_GOAL_MS = 0.1  # "unchanged within noise": the recorder adds at most this to a tick


def tickers(n: int) -> list[str]:
    """The default ten, then made-up tickers up to ``n``."""
    extra = [f"T{i:04d}" for i in range(n - len(DEFAULT_TICKERS))]
    return [*DEFAULT_TICKERS, *extra]


def timed_ms(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def p95(times: list[float]) -> float:
    return float(np.percentile(times, 95))


async def started_source(n: int) -> SimulatorDataSource:
    """Our source as the feed runs it, with a tick interval long enough that its own loop stays idle."""
    source = SimulatorDataSource(PriceCache(), update_interval=3600, seed=1)
    await source.start(tickers(n))
    return source


async def ours_tick(n: int, repeat: int) -> list[float]:
    source = await started_source(n)
    try:
        timed_ms(source.tick, 20)  # warm up
        return timed_ms(source.tick, repeat)
    finally:
        await source.stop()


async def ours_and_seed_tick(n: int, repeat: int, seed_repeat: int) -> tuple[list[float], list[float]]:
    """Tick times of both designs, in alternating blocks so that load from elsewhere hits both alike
    (blocks, not single ticks, so neither design runs with the other's data in the CPU caches)."""
    source = await started_source(n)
    simulator, cache = SeedGBMSimulator(tickers(n)), SeedPriceCache()
    try:
        timed_ms(source.tick, 20)
        timed_ms(lambda: seed_tick(simulator, cache), 5)
        ours, seed = [], []
        rounds = 10
        for _ in range(rounds):
            timed_ms(source.tick, 2)
            ours.extend(timed_ms(source.tick, repeat // rounds))
            timed_ms(lambda: seed_tick(simulator, cache), 2)
            seed.extend(timed_ms(lambda: seed_tick(simulator, cache), seed_repeat // rounds))
        return ours, seed
    finally:
        await source.stop()


async def with_and_without_recorder(n: int, repeat: int) -> tuple[list[float], list[float]]:
    """Tick times without and with the bar recorder's ``on_tick`` listening, in alternating blocks.

    The recorder is attached to the cache as the feed attaches it (a cache listener), its arrays
    following the cache's slots; it has no writer here, so a minute's end costs only what it costs on
    the tick's path (copying the arrays), and no database is involved. Both sides have a listener
    that does nothing, standing for the stream hub, which listens in every server: with a listener
    the cache builds each write's changed-ticker mask, whoever the listeners are.
    """
    source = await started_source(n)
    source._cache.add_listener(lambda batch: None)
    recorder = BarRecorder(timer_interval=3600)
    recorder.attach(source._cache, time.time())
    try:
        timed_ms(source.tick, 20)
        without, with_recorder = [], []
        rounds = 10
        for _ in range(rounds):
            timed_ms(source.tick, 2)
            without.extend(timed_ms(source.tick, repeat // rounds))
            source._cache.add_listener(recorder.on_tick)
            timed_ms(source.tick, 2)
            with_recorder.extend(timed_ms(source.tick, repeat // rounds))
            source._cache.remove_listener(recorder.on_tick)
        return without, with_recorder
    finally:
        await source.stop()


async def ours_add(n: int, repeat: int) -> tuple[list[float], list[float], list[float]]:
    """Times of ``add_ticker`` itself, of the tick right after it, and of an ordinary tick."""
    source = await started_source(n)
    try:
        timed_ms(source.tick, 20)
        adds, ticks_after = [], []
        for i in range(repeat):
            start = time.perf_counter()
            await source.add_ticker(f"NEW{i}")
            adds.append((time.perf_counter() - start) * 1000)
            ticks_after.append(timed_ms(source.tick, 1)[0])
            await source.remove_ticker(f"NEW{i}")
            source.tick()
        return adds, ticks_after, timed_ms(source.tick, repeat)
    finally:
        await source.stop()


def seed_add(n: int, repeat: int) -> list[float]:
    names = tickers(n)
    simulator = SeedGBMSimulator(names)
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        seed_add_ticker(simulator, names, f"NEW{i}")
        times.append((time.perf_counter() - start) * 1000)
    return times


async def main(quick: bool) -> int:
    repeat = 100 if quick else 500
    seed_repeat = 30 if quick else 200
    add_repeat = 50 if quick else 200
    seed_add_repeat = 2 if quick else 3

    print("measuring (a) one tick at 1,000 tickers ...", flush=True)
    ours_1k, seed_1k = await ours_and_seed_tick(1000, repeat, seed_repeat)
    speedup = statistics.median(seed_1k) / statistics.median(ours_1k)

    print("measuring (b) one tick at 5,000 tickers ...", flush=True)
    ours_5k = await ours_tick(5000, repeat)

    print("measuring (d) one tick at 5,000 tickers without and with the bar recorder ...", flush=True)
    plain_5k, recorded_5k = await with_and_without_recorder(5000, 2 * repeat)
    recorder_cost = statistics.median(recorded_5k) - statistics.median(plain_5k)

    print("measuring (c) adding one ticker with 2,000 tracked ...", flush=True)
    adds, ticks_after, ticks_plain = await ours_add(2000, add_repeat)
    seed_adds = seed_add(2000, seed_add_repeat)
    refresh = max(0.0, statistics.median(ticks_after) - statistics.median(ticks_plain))

    rows = [
        (
            "(a) tick, 1,000 tickers: step + cache write, median",
            f"{statistics.median(ours_1k):.3f} ms",
            f"{statistics.median(seed_1k):.3f} ms",
            f"speed-up >= {SPEEDUP_GOAL:.0f}x: {speedup:.1f}x",
            verdict(speedup >= SPEEDUP_GOAL),
        ),
        (
            "(b) tick, 5,000 tickers, median",
            f"{statistics.median(ours_5k):.3f} ms",
            "",
            f"<= {TICK_5000_GOAL_MS} ms",
            verdict(statistics.median(ours_5k) <= TICK_5000_GOAL_MS),
        ),
        (
            "(b) tick, 5,000 tickers, p95",
            f"{p95(ours_5k):.3f} ms",
            "",
            f"<= {TICK_5000_GOAL_MS} ms",
            verdict(p95(ours_5k) <= TICK_5000_GOAL_MS),
        ),
        (
            "(d) tick, 5,000 tickers, without / with the bar recorder, median",
            f"{statistics.median(plain_5k):.3f} / {statistics.median(recorded_5k):.3f} ms",
            "",
            f"+{recorder_cost:.3f} ms, <= +{RECORDER_NOISE_GOAL_MS} ms",
            verdict(recorder_cost <= RECORDER_NOISE_GOAL_MS),
        ),
        (
            "(d) tick, 5,000 tickers, without / with the bar recorder, p95",
            f"{p95(plain_5k):.3f} / {p95(recorded_5k):.3f} ms",
            "",
            f"<= {TICK_5000_GOAL_MS} ms",
            verdict(p95(recorded_5k) <= TICK_5000_GOAL_MS),
        ),
        (
            "(c) add_ticker, 2,000 tracked, median",
            f"{statistics.median(adds):.3f} ms",
            f"{statistics.median(seed_adds):.1f} ms",
            f"<= {ADD_GOAL_MS} ms",
            verdict(statistics.median(adds) <= ADD_GOAL_MS),
        ),
        (
            "(c) add_ticker + next tick's slot refresh, median",
            f"{statistics.median(adds) + refresh:.3f} ms",
            "",
            f"<= {ADD_GOAL_MS} ms",
            verdict(statistics.median(adds) + refresh <= ADD_GOAL_MS),
        ),
        (
            "(c) add_ticker, 2,000 tracked, max",
            f"{max(adds):.3f} ms",
            f"{max(seed_adds):.1f} ms",
            "",
            "",
        ),
    ]
    print()
    any_failed = print_table(("measure", "ours", "seed design", "goal", "result"), rows, rule=True)
    print()
    print(
        f"ticks: ours {repeat} per size, seed {seed_repeat}; "
        f"adds: ours {add_repeat}, seed {seed_add_repeat}. "
        f"Ours adds the ticker to the simulator and prices it in the cache at once; its next tick "
        f"re-reads the cache slots once ({refresh:.3f} ms extra at 2,000 tickers)."
    )
    return 1 if any_failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    sys.exit(asyncio.run(main(parser.parse_args().quick)))
