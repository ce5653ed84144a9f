"""The stream for real: daphne, runserver and uvicorn processes, spoken to by the websockets library."""

import asyncio
import json
import signal
import time
import urllib.error
import urllib.request

import pytest
import websockets
from websockets.asyncio.client import connect

from market.seed_prices import DEFAULT_TICKERS
from market.stream.protocol import ABUSE_LIMIT, MESSAGE_BURST
from tests.raw_websocket import RawWebSocket, close_code
from tests.support import (
    Process,
    artifacts_dir,
    clean_env,
    free_port,
    migrate_database,
    port_open,
    python_command,
    start_daphne,
    wait_for,
)

INTERVAL = 0.2
TIMEOUT = 5.0


@pytest.fixture(scope="module")
def server_env(tmp_path_factory):
    database = tmp_path_factory.mktemp("live") / "db.sqlite3"
    env = clean_env(DATABASE_URL=f"sqlite:///{database}", SIMULATOR_INTERVAL=str(INTERVAL))
    migrate_database(env)
    return env


@pytest.fixture(scope="module")
def daphne_port(server_env):
    process, port = start_daphne(server_env, artifacts_dir(), name="daphne-live")
    yield port
    process.stop()


def get_json(port: int, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=TIMEOUT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def healthy(port: int) -> dict | None:
    status, body = get_json(port, "/healthz")
    return body if status == 200 and body["status"] == "ok" else None


def stream(port: int, origin: str | None = None):
    return connect(
        f"ws://127.0.0.1:{port}/ws/prices/",
        origin=origin or f"http://127.0.0.1:{port}",
        compression=None,
        open_timeout=TIMEOUT,
    )


async def next_frame(socket, frame_type: str | None = None, limit: int = 50) -> dict:
    for _ in range(limit):
        frame = json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT))
        if frame_type is None or frame["type"] == frame_type:
            return frame
    raise AssertionError(f"no {frame_type!r} frame among the next {limit}")


def test_healthz_is_ok_with_the_simulator_tracking_the_default_ten(daphne_port):
    body = wait_for(lambda: healthy(daphne_port), TIMEOUT, message="/healthz ok")
    assert (body["source"], body["tickers"]) == ("simulator", 10)
    assert body["last_tick_age"] < 3 * INTERVAL + 1


async def test_a_client_gets_a_snapshot_with_history_then_ticks_at_the_configured_interval(daphne_port):
    async with stream(daphne_port) as socket:
        snapshot = await next_frame(socket)
        assert snapshot["type"] == "snapshot"
        assert list(snapshot["prices"]) == list(DEFAULT_TICKERS)
        assert all(len(snapshot["history"][ticker]) >= 1 for ticker in DEFAULT_TICKERS)
        arrivals = []
        for _ in range(11):
            frame = await next_frame(socket, "prices")
            assert set(frame["prices"]) <= set(DEFAULT_TICKERS)
            arrivals.append(time.monotonic())
    mean_spacing = (arrivals[-1] - arrivals[0]) / (len(arrivals) - 1)
    assert 0.7 * INTERVAL <= mean_spacing <= 1.3 * INTERVAL, mean_spacing


async def test_bad_frames_are_answered_with_errors_and_the_socket_stays_open(daphne_port):
    async with stream(daphne_port) as socket:
        await next_frame(socket, "snapshot")
        await socket.send("not json")
        assert "JSON" in (await next_frame(socket, "error"))["error"]
        await socket.send(json.dumps({"action": "subscribe", "tickers": ["NO TICKER"]}))
        assert "not valid" in (await next_frame(socket, "error"))["error"]
        await socket.send(b"\x00\x01")
        assert "binary" in (await next_frame(socket, "error"))["error"]
        await socket.send(json.dumps({"action": "subscribe", "tickers": ["aapl"]}))
        snapshot = await next_frame(socket, "snapshot")
        assert list(snapshot["prices"]) == ["AAPL"]
        assert set((await next_frame(socket, "prices"))["prices"]) <= {"AAPL"}


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "http://127.0.0.1:{other_port}",  # another site on the same host: it carries the user's cookies
        "https://127.0.0.1:{port}",  # another scheme
        "http://localhost:{port}",  # another host name, even an allowed one
        "null",
    ],
)
async def test_a_page_of_any_other_origin_is_refused_with_403(daphne_port, origin):
    origin = origin.format(port=daphne_port, other_port=free_port())
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        async with stream(daphne_port, origin=origin):
            pass
    assert refused.value.response.status_code == 403


async def test_the_pages_own_origin_is_let_in(daphne_port):
    async with stream(daphne_port, origin=f"http://127.0.0.1:{daphne_port}") as socket:
        assert (await next_frame(socket))["type"] == "snapshot"


def _serve(args: list[str], env: dict, name: str) -> tuple[Process, int]:
    port = free_port()
    process = Process(
        [arg.replace("{port}", str(port)) for arg in args], env, artifacts_dir() / f"{name}-{port}.log"
    ).start()
    try:
        wait_for(lambda: port_open(port) or not process.alive, 30, message=f"{name} on port {port}")
    except AssertionError:
        process.stop()
        raise
    assert process.alive, process.log()
    return process, port


def test_runserver_starts_the_feed_itself_and_stops_it_on_shutdown(server_env):
    process, port = _serve(
        python_command("manage.py", "runserver", "--noreload", "127.0.0.1:{port}"), server_env, "runserver"
    )
    try:
        body = wait_for(lambda: healthy(port), TIMEOUT, message="runserver /healthz ok")
        assert (body["source"], body["tickers"]) == ("simulator", 10)
    finally:
        process.stop(signal.SIGTERM)
    log = process.log()
    assert log.count("market feed started") == 1, log
    assert "market feed stopped" in log, log


def test_uvicorn_lifespan_starts_the_feed_before_any_request_and_stops_it(server_env):
    process, port = _serve(
        python_command(
            "-m", "uvicorn", "finally_site.asgi:application", "--port", "{port}", "--lifespan", "on"
        ),
        server_env,
        "uvicorn",
    )
    try:
        wait_for(lambda: "market feed started" in process.log(), TIMEOUT, message="feed started on lifespan")
        assert wait_for(lambda: healthy(port), TIMEOUT, message="uvicorn /healthz ok")
    finally:
        process.stop(signal.SIGTERM)
    assert "market feed stopped" in process.log(), process.log()


def test_a_client_that_never_reads_and_floods_subscribes_is_cut_off_and_costs_nothing_after(daphne_port):
    attacker = RawWebSocket(daphne_port, timeout=TIMEOUT)
    subscribe = json.dumps({"action": "subscribe", "tickers": list(DEFAULT_TICKERS)})
    sent = 0
    while sent < 10_000 and attacker.send_text(subscribe):
        sent += 1
    data, ended = attacker.read_all(time.monotonic() + 15)
    # The server ends the connection. Its close frame may not arrive: a server closing a socket whose
    # unread input still holds the rest of the flood is answered by a reset, which discards it.
    assert ended, f"{len(data)} bytes received and the connection still open"
    # Bounded: the allowed burst of snapshots (10 tickers x at most 120 points each: under 40 KB) and
    # the error frames, not ten thousand snapshots (350 MB).
    assert len(data) < (MESSAGE_BURST + 1) * 40 * 1024 + ABUSE_LIMIT * 100
    attacker.sock.close()

    async def a_visitor_still_streams():
        async with stream(daphne_port) as socket:
            assert (await next_frame(socket))["type"] == "snapshot"
            assert (await next_frame(socket, "prices"))["prices"]

    asyncio.run(a_visitor_still_streams())


def test_a_client_that_keeps_sending_after_its_refusals_is_closed_with_a_policy_code(daphne_port):
    attacker = RawWebSocket(daphne_port, timeout=TIMEOUT)
    subscribe = json.dumps({"action": "subscribe", "tickers": ["AAPL"]})
    # Few enough that the server has read them all when it closes (so its close frame arrives), and
    # enough beyond the burst for the refusals to count up even while a slow server refills tokens.
    for _ in range(MESSAGE_BURST + ABUSE_LIMIT + 30):
        assert attacker.send_text(subscribe)
    data, ended = attacker.read_all(time.monotonic() + 15)
    assert ended and close_code(data) == 4008, f"{len(data)} bytes received, no policy close"
    assert data.count(b"too many messages") >= ABUSE_LIMIT  # every refused message was told why
    attacker.sock.close()
