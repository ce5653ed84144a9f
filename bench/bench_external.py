"""Issue 6 figures: one ``manage.py runfeed`` behind two daphne servers, 1,000 WebSocket clients.

Run from the project directory: ``.venv/bin/python bench/bench_external.py`` (``--help`` for options).
It starts a private redis-server, migrates a temporary SQLite database and seeds a watchlist so that
the default ten plus the benchmark's tickers (50 in all) are tracked, starts ``runfeed`` and two
``daphne finally_site.asgi:application`` servers with ``MARKET_FEED=external``, then opens the
clients in separate processes (``bench/stream_clients.py``, half on each server), each subscribed
to all the tickers. After a warm-up it measures for ``--duration`` seconds:

- delivery: every client must get a frame for every tick of the window (none lost, none merged);
- latency: arrival time (the kernel's receive timestamp on the client socket) minus the tick's
  ``timestamp``, which runfeed's simulator set when it wrote the tick, so the figure covers
  runfeed, Redis, the server's mirror and its fan-out (the time the load generator read the frame is
  shown too: it adds the load generator's own scheduling delay);
- CPU of each process over the window.

Prints a table with PASS/FAIL. Other load on the machine makes the figures noisy.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from bench.measure import (  # noqa: E402
    Delivery,
    LoadGenerators,
    cpu_seconds,
    percentile,
    print_table,
    verdict,
    wait_healthy,
)
from market.seed_prices import DEFAULT_TICKERS  # noqa: E402
from tests.support import (  # noqa: E402
    Process,
    clean_env,
    manage,
    migrate_database,
    python_command,
    start_daphne,
    start_redis,
    wait_for,
)

P99_GOAL_MS = 60.0
USERNAME = "bench"


def extra_tickers(count: int) -> list[str]:
    return [f"BX{index:03d}" for index in range(max(0, count - len(DEFAULT_TICKERS)))]


def seed_watchlist(env: dict[str, str], tickers: list[str]) -> None:
    """A user whose default watchlist holds ``tickers`` besides the default ten: the feed tracks them."""
    code = (
        "from django.contrib.auth import get_user_model; from portfolio import services; "
        f"user = get_user_model().objects.create_user({USERNAME!r}); "
        "watchlist = user.watchlists.get(is_default=True); "
        f"[services.add_to_watchlist(watchlist, ticker) for ticker in {tickers!r}]"
    )
    manage(env, "shell", "-c", code, timeout=120)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="External-feed benchmark: runfeed, two daphne servers.")
    parser.add_argument("--clients", type=int, default=1000, help="in all, split between the servers")
    parser.add_argument("--tickers", type=int, default=50)
    parser.add_argument("--interval", type=float, default=0.5, help="SIMULATOR_INTERVAL, seconds")
    parser.add_argument("--duration", type=float, default=20.0, help="measured window, seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds after all clients connected")
    args = parser.parse_args(argv)

    tickers = [*DEFAULT_TICKERS, *extra_tickers(args.tickers)]
    workdir = Path(tempfile.mkdtemp(prefix="finally-bench-external-"))
    redis_proc, redis_port = start_redis(workdir)
    env = clean_env(
        DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}",
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        MARKET_FEED="external",
        SIMULATOR_INTERVAL=str(args.interval),
    )
    processes: list[Process] = [redis_proc]
    try:
        migrate_database(env)
        seed_watchlist(env, extra_tickers(args.tickers))
        runfeed = Process(
            python_command("manage.py", "runfeed", "--log-every", "100"), env, workdir / "runfeed.log"
        ).start()
        processes.append(runfeed)
        wait_for(lambda: "runfeed: leading" in runfeed.log(), 30, 0.1, "runfeed to lead")
        servers = [start_daphne(env, workdir, name=name) for name in ("daphne-a", "daphne-b")]
        processes += [proc for proc, _ in servers]
        for _, port in servers:
            wait_healthy(port, len(tickers))
        print(
            f"runfeed pid {runfeed.proc.pid}; daphne pids {[proc.proc.pid for proc, _ in servers]}; "
            f"opening {args.clients} clients...",
            flush=True,
        )
        with LoadGenerators([port for _, port in servers], args.clients, tickers) as clients:
            connected, _ = clients.ready()
            print(f"{connected} clients connected; warming up {args.warmup}s", flush=True)
            time.sleep(args.warmup)
            pids = {
                "runfeed": runfeed.proc.pid,
                "daphne-a": servers[0][0].proc.pid,
                "daphne-b": servers[1][0].proc.pid,
            }
            start, cpu_start = time.time(), {name: cpu_seconds(pid) for name, pid in pids.items()}
            time.sleep(args.duration)
            end, cpu_end = time.time(), {name: cpu_seconds(pid) for name, pid in pids.items()}
            time.sleep(0.5)
            reports, _ = clients.reports(start - 1.0, end)
    finally:
        for proc in reversed(processes):
            proc.stop()

    # Ticks of [start, end - 1 s], so that each had time to reach every client.
    delivery = Delivery.of(reports, start, end - 1.0, args.interval)
    latencies, read_latencies = delivery.latencies, delivery.read_latencies
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    seconds = end - start
    rows = [
        *delivery.opening_rows(connected, args.clients),
        ("messages delivered", str(delivery.delivered), str(len(delivery.ticks) * connected), ""),
        ("messages lost", str(delivery.missing), "0", verdict(delivery.missing == 0 and connected > 0)),
        ("latency p50", f"{p50:.1f} ms", "", ""),
        ("latency p99", f"{p99:.1f} ms", f"<= {P99_GOAL_MS:.0f} ms", verdict(p99 <= P99_GOAL_MS)),
        ("latency max", f"{percentile(latencies, 1.0):.1f} ms", "", ""),
        (
            "latency as read by the load generator, p50 / p99",
            f"{percentile(read_latencies, 0.5):.1f} / {percentile(read_latencies, 0.99):.1f} ms",
            "",
            "",
        ),
        *(
            (f"CPU of {name}", f"{(cpu_end[name] - cpu_start[name]) / seconds * 100:.1f} % of a core", "", "")
            for name in pids
        ),
    ]
    print(
        f"\nexternal-feed benchmark: runfeed + 2 daphne, {args.clients} clients x {len(tickers)} tickers, "
        f"tick every {args.interval}s, {args.duration:.0f}s window\n"
    )
    return 1 if print_table(("metric", "measured", "goal", "result"), rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
