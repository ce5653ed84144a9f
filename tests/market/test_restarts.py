"""Restarts that continue, with real processes: an embedded daphne, and runfeed with Redis and a daphne,
stopped (SIGTERM or SIGKILL) and started again, continue every ticker from its last stored price.

The restarted process runs with another SIMULATOR_SEED, whose start prices differ (PYPL's by far), so a
process that did not resume would show it. Each test runs on a SQLite file; the PostgreSQL variants
(marker ``postgres``) run in scripts/test's PostgreSQL pass, on a database of their own.
"""

import asyncio
import json
import os
import signal
import sqlite3
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import redis
import websockets
from django.db import connection

from market.external.last_prices import PRICES_KEY
from market.seed_prices import DEFAULT_TICKERS
from market.simulator import GBMSimulator
from tests.support import (
    Process,
    artifacts_dir,
    clean_env,
    manage,
    migrate_database,
    python_command,
    scratch_postgres_database,
    start_daphne,
    start_redis,
    wait_for,
)

TICKERS = [*DEFAULT_TICKERS, "PYPL"]
INTERVAL = "0.2"
ONE_TICK = 0.002  # relative: a tick moves a price ~0.003 % (sigma 25 %), a rare jump 2-5 %: seeds avoid them
USER_SETUP = (
    "from decimal import Decimal; from django.contrib.auth import get_user_model; "
    "from portfolio.models import Position; from portfolio import selectors; "
    "user = get_user_model().objects.create_user('trader', password='a-long-test-password-42'); "
    "p = selectors.portfolio_for(user); "
    "Position.objects.create(portfolio=p, ticker='PYPL', quantity=Decimal('5'), avg_cost=Decimal('172.16'))"
)


# Databases for the child processes


@contextmanager
def sqlite_database(tmp_path: Path):
    yield f"sqlite:///{tmp_path / 'db.sqlite3'}"


def postgres_database():
    """A database of its own on the PostgreSQL server the test run uses (dropped afterwards)."""
    if connection.vendor != "postgresql":
        pytest.skip("runs in the PostgreSQL pass (scripts/test), which selects it")
    return scratch_postgres_database(os.environ["DATABASE_URL"], "finally_restart")


def stored_prices(database_url: str) -> dict[str, tuple[float, float]]:
    """``{ticker: (price, timestamp)}`` of market_latestprice, read directly."""
    query = "SELECT ticker, price, timestamp FROM market_latestprice"
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            rows = db.execute(query).fetchall()
    else:
        with psycopg.connect(database_url) as db:
            rows = db.execute(query).fetchall()
    return {ticker: (price, ts) for ticker, price, ts in rows}


def prepared_env(database_url: str, **more) -> dict[str, str]:
    env = clean_env(DATABASE_URL=database_url, SIMULATOR_INTERVAL=INTERVAL, SIMULATOR_SEED="11", **more)
    migrate_database(env)
    manage(env, "shell", "-c", USER_SETUP)
    return env


# Reading prices


async def _read(port: int, seconds: float) -> list[dict]:
    """What a socket subscribed to TICKERS sees: its snapshot, then ``seconds`` of ticks. Each entry is
    every ticker's latest price as of then (``{ticker: price}``), with ``at`` (Unix seconds) and
    ``snapshot`` (whether it is the snapshot)."""
    seen: list[dict] = []
    latest: dict[str, float] = {}
    url, origin = f"ws://127.0.0.1:{port}/ws/prices/", f"http://127.0.0.1:{port}"
    async with websockets.connect(url, origin=origin) as socket:
        await socket.send(json.dumps({"action": "subscribe", "tickers": TICKERS}))
        deadline = None
        while True:
            left = 10.0 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                break
            try:
                frame = json.loads(await asyncio.wait_for(socket.recv(), left))
            except TimeoutError:
                break
            if frame.get("type") not in ("snapshot", "prices"):
                continue
            latest.update({t: u["price"] for t, u in frame["prices"].items()})
            is_answer = frame["type"] == "snapshot" and "PYPL" in frame["prices"]
            seen.append({**latest, "at": time.time(), "snapshot": is_answer})
            if is_answer and deadline is None:
                deadline = time.monotonic() + seconds
    return seen


def first_prices(port: int) -> dict[str, float]:
    """The prices of the first snapshot that holds every ticker (the feed starts with the first socket)."""

    def snapshot():
        frames = asyncio.run(_read(port, 0))
        prices = next((latest_of([frame]) for frame in frames if frame["snapshot"]), {})
        return prices if set(TICKERS) <= set(prices) else None

    return wait_for(snapshot, 20, 0.2, "a snapshot with every ticker")


def latest_of(frames: list[dict]) -> dict[str, float]:
    return {t: p for t, p in frames[-1].items() if t in TICKERS} if frames else {}


def assert_continues(after: dict[str, float], before: dict[str, float]) -> None:
    for ticker in TICKERS:
        assert after[ticker] == pytest.approx(before[ticker], rel=ONE_TICK), ticker


def assert_the_seed_would_have_moved_pypl(before: dict[str, float]) -> None:
    # Sanity of the test itself: without resuming, PYPL would start far from where it was.
    start = GBMSimulator(seed=12).spec("PYPL").start_price
    assert abs(start - before["PYPL"]) / before["PYPL"] > 0.05, start


class Trader:
    """The trader's logged-in session on one server, for the JSON API."""

    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"
        self.cookies = urllib.request.HTTPCookieProcessor()
        self.opener = urllib.request.build_opener(self.cookies)
        self.opener.open(f"{self.base}/accounts/login/", timeout=5).read()
        form = f"username=trader&password=a-long-test-password-42&csrfmiddlewaretoken={self.csrf()}"
        login = urllib.request.Request(f"{self.base}/accounts/login/", form.encode(), headers=self._referer())
        self.opener.open(login, timeout=5).read()

    def csrf(self) -> str:
        return next(cookie.value for cookie in self.cookies.cookiejar if cookie.name == "csrftoken")

    def _referer(self) -> dict[str, str]:
        return {"Referer": f"{self.base}/"}

    def value(self) -> float:
        with self.opener.open(f"{self.base}/api/portfolio/", timeout=5) as response:
            return float(json.loads(response.read())["total_value"])

    def buy(self, ticker: str, quantity: str) -> None:
        body = json.dumps({"ticker": ticker, "side": "buy", "quantity": quantity}).encode()
        headers = {"Content-Type": "application/json", "X-CSRFToken": self.csrf(), **self._referer()}
        request = urllib.request.Request(f"{self.base}/api/portfolio/trade/", body, headers=headers)
        with self.opener.open(request, timeout=5) as response:
            assert response.status == 200


def value_snapshots(database_url: str) -> list[float]:
    """The trader's value snapshots (what the value chart draws), oldest first."""
    query = "SELECT total_value FROM portfolio_portfoliosnapshot ORDER BY recorded_at, id"
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            rows = db.execute(query).fetchall()
    else:
        with psycopg.connect(database_url) as db:
            rows = db.execute(query).fetchall()
    return [float(value) for (value,) in rows]


# An embedded server


def embedded_restart_continues(database_url: str, log_dir: Path) -> None:
    env = prepared_env(database_url)
    server, port = start_daphne(env, log_dir, name="embedded")
    try:
        first_prices(port)
        Trader(port).buy("AAPL", "1")  # a value snapshot follows every trade
        before = latest_of(asyncio.run(_read(port, 2.0)))
        value_before = Trader(port).value()
    finally:
        assert server.stop(signal.SIGTERM) == 0, server.log()
    stored = stored_prices(database_url)
    for ticker in TICKERS:  # the clean stop stored the last prices
        assert stored[ticker][0] == pytest.approx(before[ticker], rel=ONE_TICK), ticker
    assert_the_seed_would_have_moved_pypl(before)
    server, port = start_daphne({**env, "SIMULATOR_SEED": "12"}, log_dir, name="embedded-again")
    try:
        assert_continues(first_prices(port), {t: stored[t][0] for t in TICKERS})
        trader = Trader(port)
        # The trader's five PYPL stay worth what they were worth, and the value chart has no cliff.
        assert trader.value() == pytest.approx(value_before, rel=ONE_TICK)
        trader.buy("AAPL", "1")
    finally:
        server.stop()
    before_restart, after_restart = value_snapshots(database_url)[-2:]
    assert after_restart == pytest.approx(before_restart, rel=ONE_TICK)


def test_a_restarted_embedded_server_continues_every_ticker_from_its_last_price(tmp_path):
    with sqlite_database(tmp_path) as url:
        embedded_restart_continues(url, artifacts_dir())


@pytest.mark.postgres
@pytest.mark.postgres_only
@pytest.mark.django_db
def test_a_restarted_embedded_server_continues_every_ticker_on_postgresql():
    with postgres_database() as url:
        embedded_restart_continues(url, artifacts_dir())


def test_a_killed_embedded_server_continues_from_the_prices_stored_at_most_5_s_before(tmp_path):
    with sqlite_database(tmp_path) as url:
        env = prepared_env(url)
        server, port = start_daphne(env, artifacts_dir(), name="embedded-killed")
        try:
            first_prices(port)
            frames = asyncio.run(_read(port, 7.0))
        finally:
            server.stop(signal.SIGKILL)
        killed_at = time.time()
        stored = stored_prices(url)
        recent = [frame for frame in frames if frame["at"] >= killed_at - 6.5]
        for ticker in TICKERS:
            price, stored_at = stored[ticker]
            assert stored_at >= killed_at - 6.0, ticker  # a checkpoint every 5 s (and the kill's own time)
            assert any(frame.get(ticker) == pytest.approx(price) for frame in recent), (ticker, price)
        server, port = start_daphne(
            {**env, "SIMULATOR_SEED": "12"}, artifacts_dir(), name="embedded-after-kill"
        )
        try:
            assert_continues(first_prices(port), {t: stored[t][0] for t in TICKERS})
        finally:
            server.stop()


# runfeed with Redis and a daphne


@pytest.fixture(scope="module")
def redis_port():
    proc, port = start_redis(artifacts_dir())
    yield port
    proc.stop()


def start_runfeed(env: dict[str, str], name: str) -> Process:
    proc = Process(
        python_command("manage.py", "runfeed", "--log-every", "10", "--lock-ttl", "2"),
        env,
        artifacts_dir() / f"runfeed-{name}-{os.getpid()}-{time.monotonic_ns()}.log",
    ).start()
    wait_for(lambda: "runfeed: leading" in proc.log() or not proc.alive, 30, 0.1, "runfeed to lead")
    assert proc.alive, proc.log()
    return proc


def runfeed_restart_continues(database_url: str, redis_port: int, forget_redis: bool) -> None:
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    redis.Redis.from_url(redis_url).flushdb()
    env = prepared_env(database_url, REDIS_URL=redis_url, MARKET_FEED="external")
    runfeed = start_runfeed(env, "first")
    server, port = start_daphne(env, artifacts_dir(), name="follower")
    try:
        first_prices(port)
        before = latest_of(asyncio.run(_read(port, 2.0)))
        assert runfeed.stop(signal.SIGTERM) == 0, runfeed.log()
        assert_the_seed_would_have_moved_pypl(before)
        if forget_redis:
            redis.Redis.from_url(redis_url).delete(PRICES_KEY)  # Redis lost them: the database has them
        runfeed = start_runfeed({**env, "SIMULATOR_SEED": "12"}, "again")
        assert "resumed" in runfeed.log()
        after = wait_for(lambda: _moved_on(port), 20, 0.2, "prices from the restarted runfeed")
        assert_continues(after, before)
        # A new server process of the deployment starts with prices at once.
        another, another_port = start_daphne(env, artifacts_dir(), name="follower-new")
        try:
            assert_continues(first_prices(another_port), before)
        finally:
            another.stop()
    finally:
        server.stop()
        runfeed.stop()


def _moved_on(port: int) -> dict[str, float] | None:
    frames = asyncio.run(_read(port, 1.0))
    ticks = [frame for frame in frames if not frame["snapshot"]]
    return latest_of(frames) if ticks and set(TICKERS) <= set(latest_of(frames)) else None


@pytest.mark.redis
def test_a_restarted_runfeed_continues_every_ticker_from_its_last_price(tmp_path, redis_port):
    with sqlite_database(tmp_path) as url:
        runfeed_restart_continues(url, redis_port, forget_redis=False)


@pytest.mark.redis
def test_a_restarted_runfeed_continues_from_the_database_when_redis_forgot_the_prices(tmp_path, redis_port):
    with sqlite_database(tmp_path) as url:
        runfeed_restart_continues(url, redis_port, forget_redis=True)


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.postgres_only
@pytest.mark.django_db
def test_a_restarted_runfeed_continues_every_ticker_on_postgresql(redis_port):
    with postgres_database() as url:
        runfeed_restart_continues(url, redis_port, forget_redis=True)
