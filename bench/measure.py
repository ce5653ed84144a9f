"""What the benchmarks share: process CPU, percentiles, /healthz, the stream load-generator processes
(``bench/stream_clients.py``) seen from the parent, the delivery and latency figures of their samples,
and the PASS/FAIL table every benchmark prints.
"""

import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The value at ``fraction`` of ``sorted_values`` (nearest rank); NaN when there are none."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def health(port: int) -> dict:
    """The server's /healthz body, or ``{}`` while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return json.loads(response.read())
    except OSError:
        return {}


def wait_healthy(port: int, tickers: int, timeout: float = 30.0) -> dict:
    """Wait until the server on ``port`` reports ``tickers`` tickers and status ok; exit if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = health(port)
        if body.get("status") == "ok" and body.get("tickers") == tickers:
            return body
        time.sleep(0.1)
    raise SystemExit(f"the server on port {port} did not report {tickers} tickers ok within {timeout}s")


class LoadGenerators:
    """``clients`` stream clients subscribed to ``tickers``, in one load-generator process per entry of
    ``ports`` (the clients split evenly between them); use as a context manager so none outlives it."""

    def __init__(self, ports: list[int], clients: int, tickers: list[str]):
        shares = [clients // len(ports)] * len(ports)
        shares[0] += clients - sum(shares)
        self.shares = list(zip(ports, shares, strict=True))
        self.tickers = tickers
        self.processes: list[subprocess.Popen] = []

    def __enter__(self) -> "LoadGenerators":
        for port, share in self.shares:
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, str(PROJECT_DIR / "bench" / "stream_clients.py"), "--port", str(port),
                     "--clients", str(share), "--tickers", ",".join(self.tickers)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=PROJECT_DIR,
                )
            )  # fmt: skip
        return self

    def __exit__(self, *exc) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()

    def ready(self) -> tuple[int, int]:
        """Block until every process has opened its clients: (connected, failed) in all."""
        connected = failed = 0
        for process in self.processes:
            line = process.stdout.readline()
            if not line:
                raise SystemExit("a client process died while connecting")
            answer = json.loads(line)
            connected += answer["ready"]
            failed += answer["failed"]
        return connected, failed

    def reports(self, start: float, end: float) -> tuple[list[dict], float]:
        """Every client's report of the ticks stamped in [start, end], and the processes' CPU seconds."""
        for process in self.processes:
            process.stdin.write(json.dumps({"start": start, "end": end}) + "\n")
            process.stdin.flush()
        reports, cpu = [], 0.0
        for process in self.processes:
            answer = json.loads(process.stdout.readline())
            reports.extend(answer["clients"])
            cpu += answer["cpu_seconds"]
            process.wait(30)
        return reports, cpu


@dataclass
class Delivery:
    """What the clients got of the ticks stamped in [start, end], each tick due at every client."""

    ticks: list[float]  # the ticks' timestamps
    expected_ticks: float  # the window's length in tick intervals
    missing: int  # (client, tick) pairs that never arrived
    latencies: list[float]  # ms from each tick to the kernel's arrival of its frame, sorted
    read_latencies: list[float]  # ms from each tick to the load generator reading its frame, sorted

    @classmethod
    def of(cls, reports: list[dict], start: float, end: float, interval: float) -> "Delivery":
        # Samples are (tick timestamp, kernel arrival time, time the load generator read it).
        in_window = [[s for s in report["samples"] if start <= s[0] <= end] for report in reports]
        ticks = sorted({sample[0] for samples in in_window for sample in samples})
        return cls(
            ticks=ticks,
            expected_ticks=(end - start) / interval,
            missing=sum(len(set(ticks) - {sample[0] for sample in samples}) for samples in in_window),
            latencies=sorted((arrival - tick) * 1000 for got in in_window for tick, arrival, _ in got),
            read_latencies=sorted((read - tick) * 1000 for got in in_window for tick, _, read in got),
        )

    @property
    def delivered(self) -> int:
        return len(self.latencies)

    def opening_rows(self, connected: int, wanted: int) -> list[tuple[str, str, str, str]]:
        """The first rows of a stream benchmark's table: clients connected, ticks in the window."""
        return [
            ("clients connected", f"{connected}/{wanted}", str(wanted), verdict(connected == wanted)),
            (
                "ticks in window (expected)",
                f"{len(self.ticks)} ({self.expected_ticks:.0f})",
                "about expected",
                verdict(abs(len(self.ticks) - self.expected_ticks) <= 2),
            ),
        ]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_table(header: tuple[str, ...], rows: list[tuple], rule: bool = False) -> bool:
    """Print ``rows`` in columns under ``header`` (with a line of dashes under it if ``rule``);
    return whether any row's last cell is FAIL."""
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
    lines = [header, tuple("-" * width for width in widths)] if rule else [header]
    for row in (*lines, *rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))
    return any(row[-1] == "FAIL" for row in rows)
