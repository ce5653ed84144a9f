"""``manage.py runfeed`` as an operator sees it: clean stops, the in-memory warning, the live table."""

import os
import pty
import select
import signal
import subprocess
import time

import pytest
import redis

from market.external.console import render_table
from market.external.leader import LOCK_KEY
from market.models import make_update
from tests.support import (
    PROJECT_DIR,
    Process,
    artifacts_dir,
    clean_env,
    free_port,
    migrate_database,
    python_command,
    start_redis,
    wait_for,
)


@pytest.fixture(scope="module")
def database_env(tmp_path_factory):
    database = tmp_path_factory.mktemp("runfeed") / "db.sqlite3"
    env = clean_env(DATABASE_URL=f"sqlite:///{database}", SIMULATOR_INTERVAL="0.1")
    migrate_database(env)
    return env


@pytest.fixture(scope="module")
def redis_port():
    proc, port = start_redis(artifacts_dir())
    yield port
    proc.stop()


def start_runfeed(env: dict[str, str], name: str, *args: str) -> Process:
    return Process(
        python_command("manage.py", "runfeed", "--log-every", "5", *args),
        env,
        artifacts_dir() / f"runfeed-{name}-{os.getpid()}-{time.monotonic_ns()}.log",
    ).start()


@pytest.mark.redis
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_runfeed_stops_cleanly_and_releases_its_lock(database_env, redis_port, signum):
    client = redis.Redis(port=redis_port, decode_responses=True)
    client.flushdb()
    env = {**database_env, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "MARKET_FEED": "external"}
    runfeed = start_runfeed(env, signum.name)
    wait_for(lambda: "ticks published" in runfeed.log() or not runfeed.alive, 20, 0.05, "published ticks")
    assert client.get(LOCK_KEY)
    returncode = runfeed.stop(signum)
    log = runfeed.log()
    assert returncode == 0, f"runfeed ended with {returncode}; its log ends:\n{log[-3000:]}"
    assert log.rstrip().endswith("runfeed: stopped")
    assert "Traceback" not in log
    assert client.get(LOCK_KEY) is None


@pytest.mark.redis
def test_a_waiting_runfeed_also_stops_cleanly(database_env, redis_port):
    client = redis.Redis(port=redis_port, decode_responses=True)
    client.flushdb()
    client.set(LOCK_KEY, "elsewhere:1:abcd", px=60_000)  # another runfeed leads
    env = {**database_env, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "MARKET_FEED": "external"}
    runfeed = start_runfeed(env, "waiting")
    wait_for(lambda: "runfeed: waiting" in runfeed.log() or not runfeed.alive, 20, 0.05, "the waiting line")
    assert "elsewhere:1:abcd" in runfeed.log()
    assert runfeed.stop(signal.SIGTERM) == 0
    assert "ticks published" not in runfeed.log()
    assert client.get(LOCK_KEY) == "elsewhere:1:abcd"  # not its lock to release


def test_with_the_in_memory_layer_runfeed_warns_that_no_server_sees_its_ticks(database_env):
    runfeed = start_runfeed(database_env, "in-memory")
    wait_for(lambda: "ticks published" in runfeed.log() or not runfeed.alive, 20, 0.05, "published ticks")
    assert "no server process can see" in runfeed.log()
    assert runfeed.stop(signal.SIGTERM) == 0


def test_runfeed_refuses_to_start_with_an_unreachable_redis(database_env):
    env = {**database_env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "MARKET_FEED": "external"}
    result = subprocess.run(
        python_command("manage.py", "runfeed"),
        env=env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "REDIS_URL" in output and "unreachable" in output
    assert "Traceback" not in output


def test_on_a_terminal_runfeed_redraws_a_live_price_table_in_place(database_env):
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        python_command("manage.py", "runfeed"),
        env={**database_env, "COLUMNS": "100", "LINES": "40"},
        cwd=PROJECT_DIR,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
    )
    os.close(terminal)
    output = b""
    try:
        deadline = time.monotonic() + 20
        while output.count(b"AAPL") < 3 and time.monotonic() < deadline:
            if select.select([controller], [], [], 0.2)[0]:
                try:
                    output += os.read(controller, 65536)
                except OSError:
                    break
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(controller)
    text = output.decode(errors="replace")
    assert text.count("AAPL") >= 3, text[-2000:]
    assert "\x1b[" in text and "F" in text.split("AAPL", 1)[1]  # the cursor goes back up to redraw
    assert "TICKER" in text and "PRICE" in text


def test_the_price_table_shows_each_ticker_once_in_order_with_its_change():
    rows = render_table(
        [make_update("MSFT", 410.0, 412.0, 1.0), make_update("AAPL", 191.5, 190.0, 1.0)], 10, False
    )
    assert rows[0].split() == ["TICKER", "PRICE", "CHANGE", "CHANGE", "%"]
    assert rows[1].split()[:3] == ["AAPL", "191.50", "+1.50"]
    assert rows[2].split()[:3] == ["MSFT", "410.00", "-2.00"]
    assert "▲" in rows[1] and "▼" in rows[2]


def test_the_price_table_says_how_many_rows_it_left_out():
    updates = [make_update(f"T{index:03d}", 10.0, 10.0, 1.0) for index in range(50)]
    rows = render_table(updates, 10, False)
    assert len(rows) == 11
    assert rows[-1] == "... and 41 more"
