"""The ASGI application starts this process's feed lazily or on lifespan, stops it, and keeps it alive."""

import asyncio
import subprocess

import pytest
from channels.testing import ApplicationCommunicator, HttpCommunicator, WebsocketCommunicator

from market.feed import get_feed, reset_feed
from market.interface import MarketDataSource
from market.seed_prices import DEFAULT_TICKERS
from market.stream import lifecycle
from tests import stream_support
from tests.support import PROJECT_DIR, clean_env, eventually, python_command


class FakeSource(MarketDataSource):
    """A source whose loop is a real task; ``die()`` makes that task crash, as a bug in a step would."""

    name = "simulator"
    interval = 0.1
    fail_starts = 0
    instances: list["FakeSource"] = []

    def __init__(self, cache):
        self.cache = cache
        self.tickers: list[str] = []
        self.starts = 0
        self.stopped = False
        self._task: asyncio.Task | None = None
        self._crash = asyncio.Event()
        FakeSource.instances.append(self)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self, tickers):
        if FakeSource.fail_starts:
            FakeSource.fail_starts -= 1
            raise RuntimeError("source cannot start")
        self.starts += 1
        self.tickers = list(tickers)
        self.cache.update_many(self.tickers, [100.0 + self.starts] * len(self.tickers))
        self._crash = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def _run(self):
        await self._crash.wait()
        raise RuntimeError("a step blew up")

    def die(self):
        self._crash.set()

    async def stop(self):
        self.stopped = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def add_ticker(self, ticker):
        if ticker not in self.tickers:
            self.tickers.append(ticker)

    async def remove_ticker(self, ticker):
        if ticker in self.tickers:
            self.tickers.remove(ticker)

    def get_tickers(self):
        return list(self.tickers)


@pytest.fixture(autouse=True)
def fake_source(settings, monkeypatch):
    settings.MARKET_AUTOSTART = True
    settings.MARKET_TICKER_DEMAND = None
    settings.MARKET_PERIODIC_JOBS = []
    FakeSource.fail_starts = 0
    FakeSource.instances = []
    monkeypatch.setattr("market.feed.create_market_data_source", FakeSource)
    reset_feed()  # a feed builds its source when it is made
    # The application is one object per process: forget a failed start of an earlier test.
    monkeypatch.setattr(stream_support.application(), "_retry_at", 0.0)
    stream_support.reset_channel_layers()
    yield
    stream_support.reset_channel_layers()


@pytest.fixture
async def feed():
    feed = get_feed()
    yield feed
    await feed.stop()


async def get_healthz(app) -> dict:
    communicator = HttpCommunicator(app, "GET", "/healthz", headers=[(b"host", b"localhost")])
    response = await communicator.get_response(timeout=5)
    await communicator.wait(timeout=5)
    return response


async def lifespan(message_type: str, communicator: ApplicationCommunicator) -> dict:
    await communicator.send_input({"type": message_type})
    return await communicator.receive_output(timeout=5)


async def test_lifespan_startup_starts_the_feed_and_shutdown_stops_it(feed):
    communicator = ApplicationCommunicator(stream_support.application(), {"type": "lifespan"})
    assert await lifespan("lifespan.startup", communicator) == {"type": "lifespan.startup.complete"}
    assert feed.started
    source = FakeSource.instances[0]
    assert source.running and sorted(source.tickers) == sorted(DEFAULT_TICKERS)
    assert await lifespan("lifespan.shutdown", communicator) == {"type": "lifespan.shutdown.complete"}
    assert not feed.started
    assert source.stopped
    await communicator.wait(timeout=1)


async def test_lifespan_startup_completes_even_when_the_feed_cannot_start(feed):
    FakeSource.fail_starts = 1
    communicator = ApplicationCommunicator(stream_support.application(), {"type": "lifespan"})
    assert await lifespan("lifespan.startup", communicator) == {"type": "lifespan.startup.complete"}
    assert not feed.started
    assert await lifespan("lifespan.shutdown", communicator) == {"type": "lifespan.shutdown.complete"}
    await communicator.wait(timeout=1)


async def test_the_first_http_request_starts_the_feed_once(feed):
    response = await get_healthz(stream_support.application())
    assert feed.started
    assert response["status"] == 200
    await get_healthz(stream_support.application())
    assert len(FakeSource.instances) == 1
    assert FakeSource.instances[0].starts == 1


async def test_the_first_websocket_connection_starts_the_feed(feed, settings):
    settings.MARKET_STREAM_TICKERS = None
    communicator = WebsocketCommunicator(stream_support.application(), "/ws/prices/", [stream_support.ORIGIN])
    connected, _ = await communicator.connect(timeout=5)
    assert connected and feed.started
    snapshot = await communicator.receive_json_from(timeout=5)
    assert snapshot["prices"].keys() == set(DEFAULT_TICKERS)
    await communicator.disconnect()


async def test_with_autostart_off_a_request_leaves_the_feed_alone(feed, settings):
    settings.MARKET_AUTOSTART = False
    response = await get_healthz(stream_support.application())
    assert response["status"] == 503
    assert not feed.started
    assert [source.starts for source in FakeSource.instances] == [0]  # made with the feed, never started


async def test_a_feed_that_cannot_start_still_serves_the_request_and_is_retried_later(feed, monkeypatch):
    FakeSource.fail_starts = 1
    app = stream_support.application()
    response = await get_healthz(app)
    assert response["status"] == 503
    assert not feed.started
    assert (await get_healthz(app))["status"] == 503  # within the retry delay: not tried again
    assert len(FakeSource.instances) == 1
    monkeypatch.setattr(app, "_retry_at", 0.0)
    response = await get_healthz(app)
    assert response["status"] == 200
    assert feed.started


async def test_the_watchdog_restarts_a_source_whose_loop_died(feed, monkeypatch):
    monkeypatch.setattr("market.feed.WATCHDOG_INTERVAL", 0.05)
    await feed.start()
    source = FakeSource.instances[0]
    source.die()
    await eventually(
        lambda: source.starts == 2 and source.running, timeout=5, message="the source to restart"
    )
    assert feed.started


def test_no_twisted_reactor_means_no_shutdown_hook():
    assert lifecycle.stop_with_twisted(get_feed(), asyncio.new_event_loop()) is False


def test_management_commands_never_start_the_feed():
    result = subprocess.run(
        python_command("manage.py", "check"),
        env=clean_env(MARKET_LOG_LEVEL="DEBUG"),
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "market feed started" not in result.stdout + result.stderr


def test_importing_the_asgi_application_does_not_start_the_feed():
    stream_support.application()
    assert not get_feed().started
