"""Black-box checks of CONTRACT.md promises that an audit found broken (each test names its promise).

These drive only the documented surface (the ASGI application, the URLs, the JSON bodies), the way a
test written from the contract alone would.
"""

import asyncio
import json
import re

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model

from finally_site.asgi import application
from market.feed import Feed, reset_feed
from market.interface import PriceCache
from market.massive_client import MassiveDataSource
from market.seed_prices import DEFAULT_TICKERS
from market.simulator import SimulatorDataSource
from tests.fake_massive import fake_massive_fixture  # noqa: F401 (the fake_massive fixture)

ORIGIN = [(b"origin", b"http://localhost")]
RECEIVE_TIMEOUT = 5.0


async def first_price_tick() -> dict:
    """Connect anonymously, read the snapshot, then wait for the first ``prices`` frame."""
    communicator = WebsocketCommunicator(application, "/ws/prices/", headers=ORIGIN)
    connected, _ = await communicator.connect(timeout=RECEIVE_TIMEOUT)
    assert connected
    try:
        snapshot = json.loads(await communicator.receive_from(timeout=RECEIVE_TIMEOUT))
        assert snapshot["type"] == "snapshot"
        async with asyncio.timeout(RECEIVE_TIMEOUT):
            while True:
                frame = json.loads(await communicator.receive_from(timeout=RECEIVE_TIMEOUT))
                if frame["type"] == "prices":
                    return frame
    finally:
        await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
def test_the_stream_sends_price_ticks_in_each_new_event_loop(settings):
    """'then, on each tick, {"type": "prices", ...}': also for a test whose loop is not the one that
    first started the feed (pytest-asyncio gives each test its own loop and closes it afterwards)."""
    settings.MARKET_AUTOSTART = True
    for _ in range(2):
        frame = asyncio.run(first_price_tick())
        assert frame["prices"]


def ticker_list(client) -> list[str]:
    return [row["ticker"] for row in client.get("/api/watchlist/").json()["tickers"]]


@pytest.mark.django_db
def test_the_watchlist_page_removes_a_ticker_with_a_form_whose_remove_button_is_named(client):
    """'/watchlist/: POST forms to add and remove a ticker': a submit button named ``remove`` removes
    (before, a form without an ``action`` field was always read as an add)."""
    client.force_login(get_user_model().objects.create_user("remover"))
    assert "AAPL" in ticker_list(client)

    response = client.post("/watchlist/", {"ticker": "aapl", "remove": ""})

    assert response.status_code == 302
    assert "AAPL" not in ticker_list(client)


@pytest.mark.django_db
def test_the_watchlist_page_adds_a_ticker_posted_alone_or_with_an_add_button(client):
    """'/watchlist/: POST forms to add ... a ticker': a bare ``ticker`` adds, so does an ``add`` button."""
    client.force_login(get_user_model().objects.create_user("adder"))

    client.post("/watchlist/", {"ticker": " pypl "})
    client.post("/watchlist/", {"ticker": "amd", "add": ""})

    assert ticker_list(client)[-2:] == ["PYPL", "AMD"]


async def test_an_anonymous_stream_gets_the_default_ten_even_where_the_database_is_out_of_reach(settings):
    """'A connection that never subscribes gets ... (anonymous: the default ten)': also in a test without
    database access (the feed used to give up starting when it could not read the tickers in use)."""
    settings.MARKET_AUTOSTART = True
    communicator = WebsocketCommunicator(application, "/ws/prices/", headers=ORIGIN)
    connected, _ = await communicator.connect(timeout=RECEIVE_TIMEOUT)
    assert connected
    snapshot = json.loads(await communicator.receive_from(timeout=RECEIVE_TIMEOUT))
    await communicator.disconnect()

    assert snapshot["type"] == "snapshot"
    assert set(snapshot["prices"]) == set(DEFAULT_TICKERS)


class MassiveNotKnowing(SimulatorDataSource):
    """Stands in for the Massive source: it reports ``ZZZZ`` as a ticker Massive does not know."""

    def unknown_tickers(self):
        return {"ZZZZ"}


@pytest.fixture
def user_with_unknown_ticker(client, fresh_feed):
    client.force_login(get_user_model().objects.create_user("curious"))
    assert (
        client.post("/api/watchlist/", {"ticker": "zzzz"}, content_type="application/json").status_code == 201
    )
    reset_feed(Feed(cache=fresh_feed.cache, source_factory=MassiveNotKnowing))
    return client


@pytest.mark.django_db
def test_the_watchlist_api_reports_a_ticker_massive_does_not_know_as_unknown(user_with_unknown_ticker):
    """'A ticker that Massive does not know is reported as unknown where the user added it' (the API)."""
    rows = {row["ticker"]: row for row in user_with_unknown_ticker.get("/api/watchlist/").json()["tickers"]}

    assert rows["ZZZZ"]["price"] is None
    assert rows["ZZZZ"]["state"] == "unknown"
    assert rows["AAPL"]["state"] == "pending"


@pytest.mark.django_db
def test_the_watchlist_page_reports_a_ticker_massive_does_not_know_as_unknown(user_with_unknown_ticker):
    """The same promise on /watchlist/, the page with the add form."""
    html = user_with_unknown_ticker.get("/watchlist/").content.decode()

    assert re.search(r'data-live-price="ZZZZ">no price / unknown<', html)
    assert re.search(r'data-live-price="AAPL">no price yet<', html)


async def connects_with_origin(origin: bytes) -> bool:
    communicator = WebsocketCommunicator(application, "/ws/prices/", headers=[(b"origin", origin)])
    connected, _ = await communicator.connect(timeout=RECEIVE_TIMEOUT)
    if connected:
        await communicator.disconnect()
    return connected


async def test_the_stream_accepts_an_origin_in_allowed_hosts_as_they_are_now(settings):
    """'Origins are checked against ALLOWED_HOSTS': the setting's current value, including a value set after
    the ASGI application was imported (as Django's test set-up does with ``testserver``)."""
    settings.ALLOWED_HOSTS = ["prices.example.com"]

    assert await connects_with_origin(b"https://prices.example.com")
    assert not await connects_with_origin(b"http://localhost")


async def test_the_stream_accepts_the_test_clients_host_as_origin():
    """Django's test set-up adds ``testserver`` to ALLOWED_HOSTS; the stream honours it like the pages do."""
    assert await connects_with_origin(b"http://testserver")


async def test_massive_base_url_points_the_seeds_massive_constructor_at_that_server(
    fake_massive, monkeypatch
):
    """'MASSIVE_BASE_URL: base URL of the Massive REST API (tests point it at a local server)': also for
    ``MassiveDataSource(api_key=..., price_cache=..., poll_interval=...)``, the seed's constructor."""
    monkeypatch.setenv("MASSIVE_BASE_URL", fake_massive.url)
    cache = PriceCache()
    source = MassiveDataSource(api_key=fake_massive.api_key, price_cache=cache, poll_interval=0.1)
    await source.start(["AAPL"])
    try:
        async with asyncio.timeout(RECEIVE_TIMEOUT):
            while cache.get("AAPL") is None:
                await asyncio.sleep(0.02)
    finally:
        await source.stop()
    assert fake_massive.requests
