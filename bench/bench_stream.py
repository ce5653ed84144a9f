"""Issue 3 figures: one daphne process streaming ticks to 1,000 WebSocket clients.

Run from the project directory: ``.venv/bin/python bench/bench_stream.py`` (``--help`` for options).
It migrates a temporary SQLite database, starts ``daphne finally_site.asgi:application`` with
``bench.settings_bench`` (the feed tracks 50 tickers), opens the clients in a separate process
(``bench/stream_clients.py``), each subscribed to the same 50 tickers, waits for a warm-up, then
measures for ``--duration`` seconds:

- delivery: every client must get a frame for every tick of the window (none lost, none merged);
- latency: arrival time minus the tick's ``timestamp``, over every frame of every client. Arrival is
  the kernel's receive time on the client socket (``SO_TIMESTAMP``), so the figure is the server's
  and the network's, not the load generator's; the time the load generator got round to reading
  each frame is shown too (it adds the client process's own queueing on this shared machine);
- server CPU: daphne's user+system time (``/proc/<pid>/stat``) over the window per delivered message.

Prints a table with PASS/FAIL. Other load on the machine makes the figures noisy.
"""

import argparse
import json
import os
import re
import subprocess
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
from tests.support import clean_env, migrate_database, start_daphne  # noqa: E402

P50_GOAL_MS = 20.0
P99_GOAL_MS = 50.0
CPU_PER_MESSAGE_GOAL_MS = 0.1


def bench_tickers(count: int) -> list[str]:
    env = {**os.environ, "BENCH_TICKER_COUNT": str(count), "DJANGO_SETTINGS_MODULE": "bench.settings_bench"}
    code = "import json, bench.settings_bench as s; print(json.dumps(s.BENCH_TICKERS))"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=PROJECT_DIR, capture_output=True, check=True
    )
    return json.loads(out.stdout)


FAN_OUT_LINE = re.compile(
    r"market\.stream\.hub: fan-out of the tick at ([\d.]+): (\d+) frames, "
    r"started ([\d.]+) ms after it, took ([\d.]+) ms"
)


def fan_out_times(log: str, start: float, end: float) -> list[float]:
    """Server side: ms from each tick of [start, end] to the end of its fan-out."""
    return sorted(
        float(started) + float(took)
        for tick, _, started, took in FAN_OUT_LINE.findall(log)
        if start <= float(tick) <= end
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Stream benchmark: one daphne, many WebSocket clients.")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--tickers", type=int, default=50)
    parser.add_argument("--interval", type=float, default=0.5, help="SIMULATOR_INTERVAL, seconds")
    parser.add_argument("--duration", type=float, default=25.0, help="measured window, seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds after all clients connected")
    parser.add_argument("--client-processes", type=int, default=1)
    parser.add_argument(
        "--asgi-path",
        action="store_true",
        help="ticks through ASGI send, not the fast path (market.stream.wire)",
    )
    args = parser.parse_args(argv)

    tickers = bench_tickers(args.tickers)
    workdir = Path(tempfile.mkdtemp(prefix="finally-bench-stream-"))
    env = clean_env(
        DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}",
        DJANGO_SETTINGS_MODULE="bench.settings_bench",
        BENCH_TICKER_COUNT=str(args.tickers),
        SIMULATOR_INTERVAL=str(args.interval),
        BENCH_ASGI_PATH="1" if args.asgi_path else "0",
        MARKET_LOG_LEVEL="DEBUG",  # the hub then logs each fan-out's timing (one line per tick)
    )
    migrate_database(env)
    server, port = start_daphne(env, workdir, name="daphne-bench")
    try:
        wait_healthy(port, len(tickers))
        print(f"daphne pid {server.proc.pid} on port {port}; opening {args.clients} clients...", flush=True)
        with LoadGenerators([port] * args.client_processes, args.clients, tickers) as clients:
            connected, failed = clients.ready()
            print(f"{connected} clients connected ({failed} failed); warming up {args.warmup}s", flush=True)
            time.sleep(args.warmup)
            start, cpu_start = time.time(), cpu_seconds(server.proc.pid)
            time.sleep(args.duration)
            end, cpu_end = time.time(), cpu_seconds(server.proc.pid)
            time.sleep(0.5)
            reports, client_cpu = clients.reports(start - 1.0, end)
    finally:
        server.stop()
    server_side = fan_out_times(server.log(), start, end - 1.0)

    # Delivery and latency: ticks of [start, end - 1 s], so each had time to reach every client.
    delivery = Delivery.of(reports, start, end - 1.0, args.interval)
    latencies, read_latencies, delivered = delivery.latencies, delivery.read_latencies, delivery.delivered
    # CPU: daphne's time over [start, end] against the frames that arrived in [start, end].
    arrived = sum(1 for report in reports for _, arrival, _ in report["samples"] if start <= arrival <= end)
    cpu_per_message_ms = (cpu_end - cpu_start) * 1000 / max(1, arrived)
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    expected_frames = len(delivery.ticks) * connected
    cpu_share = (cpu_end - cpu_start) / (end - start) * 100
    rows = [
        *delivery.opening_rows(connected, args.clients),
        ("messages delivered", str(delivered), str(expected_frames), verdict(delivered >= expected_frames)),
        ("messages lost", str(delivery.missing), "0", verdict(delivery.missing == 0)),
        (
            "latency p50 (kernel arrival)",
            f"{p50:.1f} ms",
            f"<= {P50_GOAL_MS:.0f} ms",
            verdict(p50 <= P50_GOAL_MS),
        ),
        (
            "latency p99 (kernel arrival)",
            f"{p99:.1f} ms",
            f"<= {P99_GOAL_MS:.0f} ms",
            verdict(p99 <= P99_GOAL_MS),
        ),
        ("latency max", f"{percentile(latencies, 1.0):.1f} ms", "", ""),
        (
            "latency as the load generator read it, p50 / p99",
            f"{percentile(read_latencies, 0.5):.1f} / {percentile(read_latencies, 0.99):.1f} ms",
            "",
            "",
        ),
        (
            "server side: tick to last frame written, p50 / p99",
            f"{percentile(server_side, 0.5):.1f} / {percentile(server_side, 0.99):.1f} ms",
            "",
            "",
        ),
        (
            "server CPU per delivered message",
            f"{cpu_per_message_ms:.4f} ms",
            f"<= {CPU_PER_MESSAGE_GOAL_MS} ms",
            verdict(cpu_per_message_ms <= CPU_PER_MESSAGE_GOAL_MS),
        ),
        ("server CPU over the window", f"{cpu_share:.1f} % of a core", "", ""),
        ("client CPU per message (measuring side)", f"{client_cpu * 1000 / max(1, arrived):.4f} ms", "", ""),
    ]
    print(
        f"\nstream benchmark ({'ASGI send' if args.asgi_path else 'fast path'}): "
        f"{args.clients} clients x {len(tickers)} tickers, tick every {args.interval}s, "
        f"{args.duration:.0f}s window, {delivered} frames measured\n"
    )
    any_failed = print_table(("metric", "measured", "goal", "result"), rows)
    print(f"\ndaphne log and database in {workdir}")
    return 1 if any_failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
