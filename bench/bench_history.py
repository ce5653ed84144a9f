"""Issue 10 figures: the bar recorder's writes and the history endpoint, on SQLite and PostgreSQL.

- the minute flush for 5,000 tickers (the finished minute's bars, what the recorder's worker thread
  writes at each minute's end), the 5-second checkpoint (the latest prices) and the day's write
  (the day's bars so far, every 5 minutes): each one statement, wall time in the worker thread,
  goal <= 100 ms;
- ``GET /api/history/<ticker>/?range=1D`` and ``?range=1Y`` with 7 days of one-minute bars (24 hours
  a day, as the simulator runs) and a year of daily bars for 2,000 tickers in the database: server
  time (Django's test client in process: middleware, ninja, the query, JSON; no network), goal
  p50 <= 15 ms.

Each database is a temporary one made here: a SQLite file, and a database on the PostgreSQL server
given by ``--postgres-url`` (or ``BENCH_POSTGRES_URL``), else a private server started from Debian's
binaries when run as root (as scripts/test does), else PostgreSQL is skipped with the reason.
Run from the project directory: ``.venv/bin/python bench/bench_history.py`` (``make bench-history``).
Seeding 20 million minute bars takes a few minutes per database; ``--quick`` seeds 200 tickers.
"""

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import PROJECT_DIR, percentile, print_table, verdict  # noqa: E402, RUF100
from tests.support import free_port, scratch_postgres_database

FLUSH_GOAL_MS = 100.0
HISTORY_GOAL_MS = 15.0
FLUSH_TICKERS = 5000
DAYS_OF_MINUTES = 7
DAYS_OF_DAILY = 365
REQUESTS = 200


# The parent: one child process per database


@contextmanager
def sqlite_database():
    directory = Path(tempfile.mkdtemp(prefix="finally-bench-history-"))
    try:
        yield f"sqlite:///{directory / 'db.sqlite3'}"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def postgres_server(url: str | None):
    """The URL of a PostgreSQL server to make the database on (a private one if none is given)."""
    if url:
        yield url
        return
    binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not binaries or os.geteuid() != 0 or shutil.which("runuser") is None:
        yield None
        return
    bin_dir = binaries[-1].parent
    directory = Path(tempfile.mkdtemp(prefix="finally-bench-pg-"))
    shutil.chown(directory, "postgres")
    data, port = str(directory / "data"), free_port()

    def as_postgres(program: str, *args: str, check: bool = True) -> None:
        command = ["runuser", "-u", "postgres", "--", str(bin_dir / program), *args]
        subprocess.run(command, check=check, capture_output=True)

    as_postgres("initdb", "-D", data, "-U", "postgres", "-A", "trust")
    options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=512MB"
    as_postgres("pg_ctl", "-D", data, "-l", str(directory / "log"), "-w", "-o", options, "start")
    try:
        yield f"postgres://postgres@127.0.0.1:{port}/postgres"
    finally:
        as_postgres("pg_ctl", "-D", data, "-m", "immediate", "stop", check=False)
        shutil.rmtree(directory, ignore_errors=True)


def run_child(database_url: str, tickers: int) -> dict:
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "finally_site.settings"}
    for name in ("REDIS_URL", "MARKET_FEED", "MASSIVE_API_KEY"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, __file__, "--child", "--tickers", str(tickers)],
        env=env,
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        text=True,
        timeout=3600,
    )
    if result.returncode != 0:
        raise SystemExit(f"the benchmark failed on {database_url.split(':')[0]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(args) -> int:
    tickers = 200 if args.quick else 2000
    results = {}
    print(f"SQLite: migrating and seeding {tickers:,} tickers ...", flush=True)
    with sqlite_database() as url:
        results["SQLite"] = run_child(url, tickers)
    with postgres_server(args.postgres_url or os.environ.get("BENCH_POSTGRES_URL")) as server:
        if server is None:
            print("PostgreSQL: skipped (no --postgres-url, and no PostgreSQL binaries to run as root)")
        else:
            print(f"PostgreSQL: migrating and seeding {tickers:,} tickers ...", flush=True)
            with scratch_postgres_database(server, "finally_bench") as url:
                results["PostgreSQL"] = run_child(url, tickers)
    rows = []
    for database, figures in results.items():
        for name in ("minute flush", "checkpoint", "day write"):
            wall = figures[name]
            rows.append(
                (
                    f"{database}: {name}, {FLUSH_TICKERS:,} tickers, worker thread, median / max",
                    f"{wall['median']:.1f} / {wall['max']:.1f} ms",
                    f"<= {FLUSH_GOAL_MS:.0f} ms",
                    verdict(wall["max"] <= FLUSH_GOAL_MS),
                )
            )
        for name in ("1D", "1Y"):
            times = figures[name]
            rows.append(
                (
                    f"{database}: GET /api/history/T/?range={name}, server time, p50 (p95)",
                    f"{times['p50']:.2f} ms ({times['p95']:.2f})",
                    f"p50 <= {HISTORY_GOAL_MS:.0f} ms",
                    verdict(times["p50"] <= HISTORY_GOAL_MS),
                )
            )
    print()
    failed = print_table(("measure", "ours", "goal", "result"), rows, rule=True)
    print()
    for database, figures in results.items():
        print(
            f"{database}: {figures['minute_bars']:,} minute bars and {figures['daily_bars']:,} daily bars "
            f"of {figures['tickers']:,} tickers (seeded in {figures['seed_seconds']:.0f} s); {REQUESTS} "
            f"requests per range, random tickers, {figures['bars_1d']} and {figures['bars_1y']} bars each."
        )
    return 1 if failed else 0


# The child: one database


def child(tickers_count: int) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    figures = {"tickers": tickers_count}
    started = time.monotonic()
    figures.update(seed(tickers_count))
    figures["seed_seconds"] = time.monotonic() - started
    figures.update(flushes())
    figures.update(history_requests(tickers_count))
    print(json.dumps(figures))


def names(count: int) -> list[str]:
    from market.seed_prices import DEFAULT_TICKERS

    return [*DEFAULT_TICKERS, *(f"T{i:04d}" for i in range(count - len(DEFAULT_TICKERS)))]


def seed(count: int) -> dict:
    """7 days of minute bars and a year of daily bars for ``count`` tickers, loaded in bulk."""
    from django.db import connection, transaction

    from market.history import calendar

    now = int(time.time()) // 60 * 60
    first = now - DAYS_OF_MINUTES * 86400
    minutes = list(range(first, now, 60))
    today = calendar.new_york_date(now)
    days = [today.fromordinal(today.toordinal() - i) for i in range(DAYS_OF_DAILY, 0, -1)]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DROP INDEX minute_bar_start")  # built once at the end: loading is faster so
        for ticker in names(count):
            base = 50.0 + sum(map(ord, ticker)) % 250
            rows = [(ticker, t, base, base + 0.5, base - 0.5, base + 0.1) for t in minutes]
            daily = [(ticker, day, base, base + 2, base - 2, base + 1) for day in days]
            _load(cursor, "market_minutebar", ("ticker", "start"), rows)
            _load(cursor, "market_dailybar", ("ticker", "day"), daily)
        cursor.execute("CREATE INDEX minute_bar_start ON market_minutebar (start)")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A deployment's tables grow a minute at a time, autovacuum keeping up and checkpoints
            # writing a little each time. After a 20-million-row load, autovacuum's first pass over the
            # table and the checkpoint of the load's dirty pages would run during the measurements
            # instead: both are done here first.
            cursor.execute("VACUUM (ANALYZE)")
            cursor.execute("CHECKPOINT")
        else:
            cursor.execute("ANALYZE")
    return {"minute_bars": count * len(minutes), "daily_bars": count * len(days)}


def _load(cursor, table: str, keys: tuple[str, str], rows: list[tuple]) -> None:
    from django.db import connection

    if connection.vendor == "postgresql":
        columns = ", ".join((*keys, "open", "high", "low", "close"))
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        cursor.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s, %s, %s, %s)", rows)


def flushes(repeat: int = 15) -> dict:
    """What the recorder's writer does at a minute's end and at a checkpoint, for 5,000 tickers."""
    import numpy as np

    from market import memory
    from market.cache import PriceCache
    from market.history import calendar
    from market.history.recorder import BarRecorder, _Writer

    cache = PriceCache()
    tickers = [f"F{i:04d}" for i in range(FLUSH_TICKERS)]
    slots = cache.slots(tickers)
    recorder = BarRecorder(timer_interval=3600)
    now = float(calendar.minute_start(time.time()))
    recorder.attach(cache, now)
    cache.add_listener(recorder.on_tick)
    writer = _Writer(recorder)
    writer._next_prune = float("inf")  # pruning (every 5 minutes, one statement) is not the flush
    recorder.daily_interval = float("inf")  # the day's write, measured on its own below
    captured = []
    recorder._writer = type("Capture", (), {"submit": lambda self, work: captured.append(work)})()
    results: dict[str, list[float]] = {"minute flush": [], "checkpoint": [], "day write": []}
    rng = np.random.default_rng(1)

    def measure():
        nonlocal now
        for _ in range(repeat):
            for second in range(0, 60, 5):  # a tick every 5 s, a checkpoint after each
                cache.write_slots(slots, 100 + rng.random(FLUSH_TICKERS), now + second)
                recorder.tick_timer(now + second + 4)
            started = time.perf_counter()
            writer._write(captured.pop(-1))  # the last checkpoint of the minute
            results["checkpoint"].append((time.perf_counter() - started) * 1000)
            captured.clear()
            now += 60
            cache.write_slots(slots, 100 + rng.random(FLUSH_TICKERS), now)  # the minute ends
            (work,) = captured
            started = time.perf_counter()
            writer._write(work)
            results["minute flush"].append((time.perf_counter() - started) * 1000)
            captured.clear()
            if len(results["minute flush"]) % 5 == 0:  # the day's bars go every 5 minutes
                work = recorder._day_work(now + 30)
                started = time.perf_counter()
                writer._write(work)
                results["day write"].append((time.perf_counter() - started) * 1000)

    # As a started feed does (market.memory): the process's start-up objects leave the collector's
    # walks, which would otherwise add a 40-60 ms full collection to a flush now and then.
    memory.freeze_startup_objects()
    thread = threading.Thread(target=measure, name="bench-writer")  # a worker thread, as in the app
    thread.start()
    thread.join()
    return {name: {"median": statistics.median(times), "max": max(times)} for name, times in results.items()}


def history_requests(count: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from market.feed import get_feed
    from market.history import store

    tickers = names(count)
    cache = get_feed().cache
    cache.update_many(tickers, [100.0] * len(tickers))  # live tickers: the current bar is laid over
    store.write_latest_prices([(ticker, 100.0, time.time()) for ticker in tickers])
    user = get_user_model().objects.create_user("bench")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    rng = random.Random(7)
    figures = {}
    for name in ("1D", "1Y"):
        client.get(f"/api/history/{tickers[0]}/", {"range": name})  # warm up
        times = []
        for _ in range(REQUESTS):
            ticker = rng.choice(tickers)
            started = time.perf_counter()
            response = client.get(f"/api/history/{ticker}/", {"range": name})
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.content
        times.sort()
        figures[name] = {"p50": percentile(times, 0.5), "p95": percentile(times, 0.95)}
        figures[f"bars_{name.lower()}"] = len(response.json()["bars"])
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 tickers instead of 2,000 (a smoke run)")
    parser.add_argument("--postgres-url", help="a PostgreSQL server to make the temporary database on")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tickers", type=int, default=2000, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(arguments.tickers)
    else:
        sys.exit(main(arguments))
