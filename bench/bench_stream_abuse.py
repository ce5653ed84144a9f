"""Issue 13, item 1: what a stream client that never reads costs the server, whatever it sends.

Run from the project directory: ``.venv/bin/python bench/bench_stream_abuse.py`` (``make bench-abuse``).
It starts one daphne (``bench.settings_bench``, the feed tracking ``--tickers`` tickers) on a
temporary SQLite database and measures the server's resident memory (``VmRSS``) while:

1. flood: one client that never reads sends ``--flood`` subscribe frames of the default ten;
2. slow big subscribers: ``--slow-clients`` clients that never read, each subscribing to all the
   tickers ``--slow-rate`` times a second (under the message limit) for ``--slow-seconds``;

and after each has closed. ``--project DIR`` measures another checkout of the project (the same
benchmark against the code before a change). Prints a table; the goal is that a client costs a
bounded amount: growth under either attack well under ``--goal-mb`` and given back after close.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from bench.measure import print_table, verdict, wait_healthy  # noqa: E402
from market.seed_prices import DEFAULT_TICKERS  # noqa: E402
from tests.raw_websocket import RawWebSocket  # noqa: E402
from tests.support import Process, clean_env, free_port, port_open, wait_for  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Sampler:
    """The peak RSS of a process while a block runs."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.05)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def settle(pid: int, seconds: float = 3.0) -> float:
    time.sleep(seconds)  # a measurement window, not a wait for a condition
    return rss_mb(pid)


def flood(port: int, frames: int) -> int:
    client = RawWebSocket(port)
    subscribe = json.dumps({"action": "subscribe", "tickers": list(DEFAULT_TICKERS)})
    sent = 0
    while sent < frames and client.send_text(subscribe):
        sent += 1
    time.sleep(2.0)  # the server works through what was sent
    client.sock.close()
    return sent


def slow_big(port: int, tickers: list[str], clients: int, rate: float, seconds: float) -> int:
    sockets = [RawWebSocket(port) for _ in range(clients)]
    subscribe = json.dumps({"action": "subscribe", "tickers": tickers[:500]})
    sent, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        for client in sockets:
            sent += client.send_text(subscribe)
        time.sleep(1.0 / rate)
    for client in sockets:
        client.sock.close()
    return sent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=PROJECT_DIR, help="checkout to measure")
    parser.add_argument("--tickers", type=int, default=500)
    parser.add_argument("--flood", type=int, default=10_000)
    parser.add_argument("--slow-clients", type=int, default=20)
    parser.add_argument("--slow-rate", type=float, default=4.0, help="subscribes a second per client")
    parser.add_argument("--slow-seconds", type=float, default=15.0)
    parser.add_argument("--goal-mb", type=float, default=50.0)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="finally-bench-abuse-"))
    env = clean_env(
        DATABASE_URL=f"sqlite:///{work / 'db.sqlite3'}",
        DJANGO_SETTINGS_MODULE="bench.settings_bench",
        BENCH_TICKER_COUNT=str(args.tickers),
        PYTHONPATH=str(args.project),  # settings, and everything else, from the checkout measured
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], env=env, cwd=args.project, check=True,
        capture_output=True,
    )  # fmt: skip
    port = free_port()
    server = Process(
        [sys.executable, "-m", "daphne", "-p", str(port), "finally_site.asgi:application"],
        env,
        work / "daphne.log",
        cwd=args.project,
    ).start()
    try:
        wait_for(lambda: port_open(port) or not server.alive, 30, message="daphne")
        wait_healthy(port, args.tickers)
        pid = server.proc.pid
        tickers = [*DEFAULT_TICKERS, *(f"BX{i:03d}" for i in range(args.tickers - len(DEFAULT_TICKERS)))]
        baseline = settle(pid, 1.0)
        with Sampler(pid) as flooding:
            sent = flood(port, args.flood)
        after_flood = settle(pid)
        with Sampler(pid) as slow:
            slow_sent = slow_big(port, tickers, args.slow_clients, args.slow_rate, args.slow_seconds)
        after_slow = settle(pid)
        alive = server.alive
    finally:
        server.stop()
    growth = max(flooding.peak, slow.peak) - baseline
    rows = [
        ("server RSS at rest", f"{baseline:.1f} MB", "", ""),
        (f"flood: {sent:,} subscribes sent by a client that never reads", "", "", ""),
        ("  peak RSS during the flood", f"{flooding.peak:.1f} MB (+{flooding.peak - baseline:.1f})", "", ""),
        ("  RSS 3 s after it closed", f"{after_flood:.1f} MB (+{after_flood - baseline:.1f})", "", ""),
        (
            f"slow: {args.slow_clients} non-reading clients x {args.tickers}-ticker subscribes, "
            f"{slow_sent:,} sent",
            "",
            "",
            "",
        ),
        ("  peak RSS meanwhile", f"{slow.peak:.1f} MB (+{slow.peak - baseline:.1f})", "", ""),
        ("  RSS 3 s after they closed", f"{after_slow:.1f} MB (+{after_slow - baseline:.1f})", "", ""),
        ("largest growth", f"+{growth:.1f} MB", f"< {args.goal_mb:g} MB", verdict(growth < args.goal_mb)),
        ("server still up", str(alive), "True", verdict(alive)),
    ]
    print(f"\nstream abuse benchmark ({args.project}); daphne log in {work}\n")
    failed = print_table(("measure", "measured", "goal", "result"), rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
