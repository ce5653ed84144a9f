"""External mode for real: Redis, one ``manage.py runfeed`` and two daphne servers on one database.

The processes live for the whole module; a test that kills one restarts it before it ends, so the
tests do not depend on their order.
"""

import asyncio
import http.cookiejar
import itertools
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import redis
import websockets

from market.external.last_prices import PRICES_KEY
from market.external.leader import LOCK_KEY
from tests.support import (
    Process,
    artifacts_dir,
    clean_env,
    manage,
    migrate_database,
    python_command,
    start_daphne,
    start_redis,
    wait_for,
)

pytestmark = pytest.mark.redis

INTERVAL = 0.25
LOCK_TTL = 3.0
USERNAME, PASSWORD = "trader", "a-long-test-password-42"


def healthz(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def status_code(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


class Cluster:
    def __init__(self, env: dict[str, str], log_dir: Path, redis_proc: Process, redis_port: int):
        self.env = env
        self.log_dir = log_dir
        self.redis_proc, self.redis_port = redis_proc, redis_port
        self.runfeed: Process | None = None
        self.servers: list[tuple[Process, int]] = []
        self._runfeeds = 0

    @property
    def ports(self) -> list[int]:
        return [port for _, port in self.servers]

    def redis(self) -> redis.Redis:
        return redis.Redis(port=self.redis_port, decode_responses=True, socket_timeout=2)

    def start_runfeed(self, wait_until: str = "leading") -> Process:
        self._runfeeds += 1
        proc = Process(
            python_command(
                "manage.py", "runfeed", "--reconcile-interval", "1", "--lock-ttl", str(LOCK_TTL),
                "--log-every", "4",
            ),
            self.env,
            self.log_dir / f"runfeed-{os.getpid()}-{self._runfeeds}.log",  # never a previous run's log
        ).start()  # fmt: skip
        wait_for(
            lambda: f"runfeed: {wait_until}" in proc.log() or not proc.alive,
            20,
            message=f"runfeed to report {wait_until!r}",
        )
        assert proc.alive, proc.log()
        return proc

    def wait_healthy(self, timeout: float = 15) -> None:
        wait_for(lambda: all(healthz(port)[0] == 200 for port in self.ports), timeout, 0.1, "both servers ok")

    def ensure_running(self) -> None:
        """Restart what a previous test left dead, and wait until both servers are fresh."""
        if not self.redis_proc.alive:
            self.redis_proc, _ = start_redis(self.log_dir, port=self.redis_port)
        if self.runfeed is None or not self.runfeed.alive:
            self.runfeed = self.start_runfeed()
        self.wait_healthy()

    def stop(self) -> None:
        for proc, _ in self.servers:
            proc.stop()
        if self.runfeed is not None:
            self.runfeed.stop()
        self.redis_proc.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    log_dir = artifacts_dir() / "external"
    log_dir.mkdir(exist_ok=True)
    redis_proc, redis_port = start_redis(log_dir)
    database = tmp_path_factory.mktemp("external") / "db.sqlite3"
    env = clean_env(
        DATABASE_URL=f"sqlite:///{database}",
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        MARKET_FEED="external",
        SIMULATOR_INTERVAL=str(INTERVAL),
        SIMULATOR_SEED="7",
    )
    migrate_database(env)
    manage(
        env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_user({USERNAME!r}, password={PASSWORD!r})",
    )
    cluster = Cluster(env, log_dir, redis_proc, redis_port)
    try:
        cluster.runfeed = cluster.start_runfeed()
        for name in ("daphne-a", "daphne-b"):
            cluster.servers.append(start_daphne(env, log_dir, name=name))
        cluster.wait_healthy()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def running(cluster):
    cluster.ensure_running()
    return cluster


async def read_frames(port: int, seconds: float, subscribe: list[str] | None = None, ready=None) -> list:
    """Every frame one stream socket gets for ``seconds`` (after an optional subscribe).

    Each frame gets ``received``: ``time.monotonic()`` when it arrived.
    """
    frames = []
    origin = f"http://127.0.0.1:{port}"
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/prices/", origin=origin) as socket:
        frames.append(json.loads(await asyncio.wait_for(socket.recv(), 5)))
        if subscribe:
            await socket.send(json.dumps({"action": "subscribe", "tickers": subscribe}))
            # The subscription is in place once the server has answered it with a snapshot.
            while (frame := json.loads(await asyncio.wait_for(socket.recv(), 5)))["type"] != "snapshot":
                frames.append({**frame, "received": time.monotonic()})
            frames.append({**frame, "received": time.monotonic()})
        if ready is not None:
            ready.set()
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                frame = json.loads(await asyncio.wait_for(socket.recv(), left))
            except TimeoutError:
                break
            frames.append({**frame, "received": time.monotonic()})
    return frames


def updates_of(frames: list) -> list[dict]:
    return [update for frame in frames if frame["type"] == "prices" for update in frame["prices"].values()]


def latest_prices(port: int) -> dict[str, float]:
    frames = asyncio.run(read_frames(port, 0))
    return {ticker: update["price"] for ticker, update in frames[0]["prices"].items()}


class Browser:
    """A logged-in session against one server, for the JSON API."""

    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def csrf(self) -> str:
        return next(cookie.value for cookie in self.cookies if cookie.name == "csrftoken")

    def login(self, username: str, password: str) -> None:
        self.opener.open(f"{self.base}/accounts/login/", timeout=5).read()
        form = urllib.parse.urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": self.csrf()}
        ).encode()
        self.opener.open(f"{self.base}/accounts/login/", data=form, timeout=5).read()
        assert any(cookie.name == "sessionid" for cookie in self.cookies), "login failed"

    def call(self, method: str, path: str, body: dict | None = None) -> int:
        return self.call_json(method, path, body)[0]

    def call_json(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict | None]:
        request = urllib.request.Request(
            f"{self.base}{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json", "X-CSRFToken": self.csrf()},
        )
        try:
            with self.opener.open(request, timeout=5) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        return status, json.loads(raw) if raw else None


def test_both_servers_stream_the_same_prices_for_the_same_tick(running):
    async def both():
        return await asyncio.gather(*(read_frames(port, 2.0) for port in running.ports))

    frames_a, frames_b = asyncio.run(both())
    seen_a = {(u["ticker"], u["timestamp"]): (u["price"], u["previous_price"]) for u in updates_of(frames_a)}
    seen_b = {(u["ticker"], u["timestamp"]): (u["price"], u["previous_price"]) for u in updates_of(frames_b)}
    common = seen_a.keys() & seen_b.keys()
    assert len(common) >= 20, f"only {len(common)} updates seen by both servers"
    assert {key: seen_a[key] for key in common} == {key: seen_b[key] for key in common}


def test_a_watchlist_change_on_one_server_reaches_runfeed_and_the_other_servers_sockets(running):
    server_a, server_b = running.ports
    browser = Browser(server_a)
    browser.login(USERNAME, PASSWORD)

    async def add_and_watch():
        ready = asyncio.Event()
        watching = asyncio.create_task(read_frames(server_b, 4.0, subscribe=["ZETA"], ready=ready))
        await asyncio.wait_for(ready.wait(), 5)
        added_at = time.monotonic()
        assert await asyncio.to_thread(browser.call, "POST", "/api/watchlist/", {"ticker": "ZETA"}) == 201
        frames = await watching
        return added_at, frames

    added_at, frames = asyncio.run(add_and_watch())
    zeta = [
        frame for frame in frames if frame["type"] in ("prices", "snapshot") and "ZETA" in frame["prices"]
    ]
    assert zeta, "server B's socket never got a price for the ticker added through server A"
    assert zeta[0]["received"] - added_at < 1.0
    assert healthz(server_b)[1]["tickers"] == 11

    removed_at = time.monotonic()
    assert browser.call("DELETE", "/api/watchlist/ZETA/") == 204
    wait_for(lambda: healthz(server_b)[1]["tickers"] == 10, 3, 0.05, "ZETA to leave server B's feed")
    assert time.monotonic() - removed_at < 1.5


def test_a_change_that_skips_signals_is_picked_up_by_runfeeds_periodic_reconcile(running):
    code = (
        "from django.contrib.auth import get_user_model; from portfolio.models import WatchlistEntry; "
        f"user = get_user_model().objects.get(username={USERNAME!r}); "
        "WatchlistEntry.objects.bulk_create([WatchlistEntry(watchlist=user.watchlists.get(is_default=True), "
        "ticker='BULK')])"
    )
    manage(running.env, "shell", "-c", code)
    try:
        wait_for(lambda: healthz(running.ports[0])[1]["tickers"] == 11, 5, 0.1, "the reconcile to add BULK")
    finally:
        manage(
            running.env,
            "shell",
            "-c",
            "from portfolio.models import WatchlistEntry; "
            "WatchlistEntry.objects.filter(ticker='BULK').delete()",
        )


def test_killing_runfeed_shows_stale_on_every_server_within_seconds(running):
    running.runfeed.stop(signal.SIGKILL)
    killed_at = time.monotonic()
    wait_for(lambda: all(healthz(port)[0] == 503 for port in running.ports), 10, 0.1, "both servers stale")
    assert time.monotonic() - killed_at < 8
    assert all(healthz(port)[1]["status"] == "stale" for port in running.ports)


def test_trades_are_refused_with_a_clear_message_while_runfeed_is_down(running):
    browser = Browser(running.ports[1])
    browser.login(USERNAME, PASSWORD)
    assert (
        browser.call("POST", "/api/portfolio/trade/", {"ticker": "AAPL", "side": "buy", "quantity": "1"})
        == 200
    )
    running.runfeed.stop(signal.SIGKILL)
    wait_for(lambda: healthz(running.ports[1])[0] == 503, 10, 0.1, "server B stale")
    status, body = browser.call_json(
        "POST", "/api/portfolio/trade/", {"ticker": "AAPL", "side": "buy", "quantity": "1"}
    )
    assert status == 400
    assert "stale" in body["error"]


def test_a_restarted_runfeed_continues_from_the_last_published_prices(running):
    before = latest_prices(running.ports[0])
    running.runfeed.stop(signal.SIGKILL)
    # What a previous run published last, made unmistakable: AAPL stood at 500, far from its start price.
    running.redis().hset(PRICES_KEY, "AAPL", json.dumps([500.0, 499.5, time.time()]))
    running.runfeed = running.start_runfeed()
    running.wait_healthy()
    for port in running.ports:
        after = latest_prices(port)
        assert after["AAPL"] == pytest.approx(500.0, rel=0.02)
        for ticker in ("MSFT", "GOOGL", "NVDA"):
            assert after[ticker] == pytest.approx(before[ticker], rel=0.02), ticker


def test_a_second_runfeed_waits_and_takes_over_when_the_first_dies(running):
    standby = running.start_runfeed(wait_until="waiting")
    try:
        frames = asyncio.run(read_frames(running.ports[0], 1.5, subscribe=["AAPL"]))
        chain = [update for update in updates_of(frames) if update["ticker"] == "AAPL"]
        assert len(chain) >= 3
        # One price stream: each tick starts where the previous one ended.
        assert all(
            later["previous_price"] == earlier["price"] for earlier, later in itertools.pairwise(chain)
        )
        assert "runfeed: leading" not in standby.log()

        running.runfeed.stop(signal.SIGKILL)
        wait_for(lambda: "runfeed: leading" in standby.log(), LOCK_TTL + 8, 0.1, "the standby to take over")
        running.runfeed, standby = standby, None
        running.wait_healthy()
    finally:
        if standby is not None:
            standby.stop()


def test_servers_keep_serving_pages_while_redis_is_away_and_recover_by_themselves(running):
    running.redis_proc.stop(signal.SIGKILL)
    try:
        assert [status_code(port, "/") for port in running.ports] == [200, 200]
        wait_for(lambda: all(healthz(port)[0] == 503 for port in running.ports), 10, 0.2, "both stale")
        assert [status_code(port, "/") for port in running.ports] == [200, 200]
    finally:
        running.redis_proc, _ = start_redis(running.log_dir, port=running.redis_port)
    running.wait_healthy(timeout=15)
    assert running.runfeed.alive
    frames = asyncio.run(read_frames(running.ports[1], 1.0))
    assert updates_of(frames), "no ticks after Redis came back"


def test_runfeed_releases_the_lock_when_stopped(running):
    holder = running.redis().get(LOCK_KEY)
    assert holder and str(running.runfeed.proc.pid) in holder
    assert running.runfeed.stop(signal.SIGTERM) == 0
    assert running.redis().get(LOCK_KEY) is None
    assert running.runfeed.log().rstrip().endswith("runfeed: stopped")


class OpenSockets:
    """Stream sockets kept open in a thread of their own while the test stops and starts processes.

    Each socket records its frames (with ``received``) and how it ended; ``cookie`` makes it a
    logged-in user's.
    """

    def __init__(self, ports: list[int], cookie: str | None = None):
        self.ports, self.cookie = ports, cookie
        self.frames: dict[str, list[dict]] = {}
        self.ended: dict[str, str] = {}
        self._stop: asyncio.Event | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_until_complete, args=(self._run(),), daemon=True
        )

    def __enter__(self):
        self._thread.start()
        wait_for(lambda: len(self.frames) == 2 * len(self.ports) and all(self.frames.values()), 10,
                 message="every socket's snapshot")  # fmt: skip
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    async def _run(self):
        self._stop = asyncio.Event()
        await asyncio.gather(
            *(self._one(port, logged_in) for port in self.ports for logged_in in (False, True))
        )

    async def _one(self, port: int, logged_in: bool):
        name = f"{'user' if logged_in else 'anonymous'}@{port}"
        headers = {"Cookie": self.cookie} if logged_in and self.cookie else {}
        frames = self.frames.setdefault(name, [])
        try:
            async with websockets.connect(
                f"ws://127.0.0.1:{port}/ws/prices/",
                origin=f"http://127.0.0.1:{port}",
                additional_headers=headers,
            ) as socket:
                while not self._stop.is_set():
                    try:
                        frame = json.loads(await asyncio.wait_for(socket.recv(), 0.5))
                    except TimeoutError:
                        continue
                    frames.append({**frame, "received": time.monotonic()})
                self.ended[name] = "still open"
        except Exception as exc:
            self.ended[name] = f"closed: {exc!r}"

    def all_got(self, predicate, since: float) -> bool:
        """Whether every socket got a frame matching ``predicate`` after ``since``."""
        return all(
            any(frame["received"] >= since and predicate(frame) for frame in list(frames))
            for frames in self.frames.values()
        )

    def still_open(self) -> bool:
        return not self.ended


def is_stale(frame) -> bool:
    return frame["type"] == "status" and frame["status"] == "stale"


def is_ok(frame) -> bool:
    return frame["type"] == "status" and frame["status"] == "ok"


def is_tick(frame) -> bool:
    return frame["type"] == "prices"


def test_no_server_drops_a_socket_while_runfeed_is_dead_and_they_recover_when_it_is_back(running):
    browser = Browser(running.ports[0])
    browser.login(USERNAME, PASSWORD)
    cookie = "; ".join(f"{cookie.name}={cookie.value}" for cookie in browser.cookies)
    with OpenSockets(running.ports, cookie) as sockets:
        running.runfeed.stop(signal.SIGKILL)
        killed_at = time.monotonic()
        wait_for(lambda: sockets.all_got(is_stale, killed_at), 10, 0.1, "a stale status on every socket")
        # Long enough for what used to end them: an idle channel-layer read timing out every 5 s.
        wait_for(lambda: time.monotonic() - killed_at > 20 or not sockets.still_open(), 25, 0.2)
        assert sockets.still_open(), sockets.ended
        running.runfeed = running.start_runfeed()
        back_at = time.monotonic()
        wait_for(lambda: sockets.all_got(is_ok, back_at), 15, 0.1, "an ok status on every socket")
        wait_for(lambda: sockets.all_got(is_tick, back_at), 10, 0.1, "fresh prices on every socket")
        assert sockets.still_open(), sockets.ended


def test_no_server_drops_a_socket_while_redis_is_away_and_user_events_come_back_with_it(running):
    browser = Browser(running.ports[0])
    browser.login(USERNAME, PASSWORD)
    cookie = "; ".join(f"{cookie.name}={cookie.value}" for cookie in browser.cookies)
    with OpenSockets(running.ports, cookie) as sockets:
        running.redis_proc.stop(signal.SIGKILL)
        killed_at = time.monotonic()
        try:
            wait_for(lambda: sockets.all_got(is_stale, killed_at), 10, 0.1, "a stale status on every socket")
            wait_for(lambda: time.monotonic() - killed_at > 12 or not sockets.still_open(), 15, 0.2)
            assert sockets.still_open(), sockets.ended
        finally:
            running.redis_proc, _ = start_redis(running.log_dir, port=running.redis_port)  # an empty Redis
        back_at = time.monotonic()
        wait_for(lambda: sockets.all_got(is_tick, back_at), 20, 0.1, "fresh prices on every socket")
        # The user's sockets on both servers hear of a change made through one server (the events
        # follower re-joined its group in the new Redis).
        wait_for(lambda: browser.call("POST", "/api/watchlist/", {"ticker": "REDO"}) == 201, 10, 0.5)
        try:
            watchlist_seen = lambda: all(  # noqa: E731
                any(frame["type"] == "watchlist" and "REDO" in frame["tickers"] for frame in list(frames))
                for name, frames in sockets.frames.items()
                if name.startswith("user@")
            )
            wait_for(watchlist_seen, 10, 0.1, "the watchlist event on the user's sockets")
        finally:
            browser.call("DELETE", "/api/watchlist/REDO/")
        assert sockets.still_open(), sockets.ended
