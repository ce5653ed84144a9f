"""The ticker directory: Massive's reference tickers loaded through the real ``massive`` client, page by
page within the plan's spare budget and after any waiting backfill, so ticker suggestions know
company names without asking Massive per keystroke (against tests/fake_massive.py's reference endpoint).
"""

import threading
import time

import pytest
from channels.layers import InMemoryChannelLayer

from market import directory
from market.cache import PriceCache
from market.directory import DirectoryLoader, TickerName
from market.external import control
from market.external.mirror import MirrorSource
from market.feed import Feed, reset_feed
from market.massive_budget import RequestBudget
from market.massive_client import MassiveDataSource
from tests.fake_massive import REFERENCE_NAMES, FakeMassive, fake_massive_fixture  # noqa: F401
from tests.market.history_support import database
from tests.portfolio_support import make_user
from tests.support import eventually

pytestmark = pytest.mark.django_db(transaction=True)


def source_for(fake: FakeMassive, limit=None, window: float = 60.0) -> MassiveDataSource:
    budget = RequestBudget(limit=limit, window=window)
    return MassiveDataSource(fake.api_key, PriceCache(), 30.0, base_url=fake.url, budget=budget)


def client_for(fake: FakeMassive):
    """The real ``massive`` client as the Massive source makes it, pointed at the fake."""
    return MassiveDataSource(fake.api_key, PriceCache(), 30.0, base_url=fake.url).new_client()


@database
def names() -> dict[str, str]:
    return dict(TickerName.objects.values_list("ticker", "name"))


async def test_every_page_of_the_reference_tickers_is_stored(fake_massive):
    fake_massive.reference_page_size = 4
    source = source_for(fake_massive)
    source.request_directory()
    try:
        await eventually(lambda: source.directory.loaded, timeout=10, message="the whole load")
        stored = await names()
        assert stored == REFERENCE_NAMES
        requests = fake_massive.reference_requests()
        assert len(requests) == 4  # 13 companies, 4 a page
        assert all(r.query["market"] == "stocks" and r.query["active"] == "true" for r in requests)
        assert [r.query.get("cursor") for r in requests] == [None, "4", "8", "12"]
    finally:
        await source.stop()


def test_each_page_waits_for_the_plans_spare_budget(fake_massive, transactional_db):
    # A poll every 30 s reserves 2 of 3 requests a window: one page a window is left for the directory.
    fake_massive.reference_page_size = 4
    budget = RequestBudget(limit=3, window=1.0)
    budget.reserve_for_polls(30.0 / 60.0)  # two polls a window
    loader = DirectoryLoader(client_for(fake_massive), budget)
    started = time.monotonic()
    loader.request()
    try:
        deadline = time.monotonic() + 20
        while loader.loaded == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert loader.loaded == len(REFERENCE_NAMES)
        times = [r.time for r in fake_massive.reference_requests()]
        assert len(times) == 4
        # One page a window: the fourth page went out at least three windows after the first.
        assert times[-1] - times[0] >= 2.9 and time.monotonic() - started >= 2.9
    finally:
        loader.stop()


def test_a_waiting_backfill_goes_first(fake_massive, transactional_db):
    waiting = threading.Event()
    waiting.set()
    loader = DirectoryLoader(client_for(fake_massive), RequestBudget(limit=None), busy=waiting.is_set)
    loader.request()
    try:
        time.sleep(0.3)  # a window in which the loader must not ask (it polls its condition every second)
        assert fake_massive.reference_requests() == []
        waiting.clear()
        deadline = time.monotonic() + 10
        while loader.loaded == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert loader.loaded == len(REFERENCE_NAMES)
    finally:
        loader.stop()


async def test_a_rate_limited_page_is_asked_again_after_its_retry_after(fake_massive):
    fake_massive.reference_page_size = 5
    fake_massive.rate_limit(2, window=1.0)
    source = source_for(fake_massive)
    source.request_directory()
    try:
        await eventually(lambda: source.directory.loaded, timeout=15, message="the load despite the 429s")
        assert await names() == REFERENCE_NAMES
        assert any(r.status == 429 for r in fake_massive.reference_requests())
    finally:
        await source.stop()


async def test_a_load_done_today_is_not_done_again(fake_massive):
    source = source_for(fake_massive)
    source.request_directory()
    try:
        await eventually(lambda: source.directory.loaded, timeout=10, message="the first load")
        asked = len(fake_massive.reference_requests())
        source.request_directory()
        await eventually(lambda: not source.directory.pending, timeout=5, message="the ask handled")
        assert len(fake_massive.reference_requests()) == asked
    finally:
        await source.stop()


async def test_suggestions_name_the_companies_massive_knows(fake_massive, async_client):
    feed = reset_feed(Feed(source_factory=lambda cache: MassiveDataSource(
        fake_massive.api_key, cache, 30.0, base_url=fake_massive.url, budget=RequestBudget(limit=None)
    )))  # fmt: skip
    user = await make_user_async()
    await async_client.aforce_login(user)
    try:
        first = await async_client.get("/api/tickers/?q=acme")
        assert first.status_code == 200  # answered at once, from what is known so far
        await eventually(lambda: feed.source.directory.loaded, timeout=10, message="the directory load")
        rows = (await async_client.get("/api/tickers/?q=acme")).json()["tickers"]
        assert {"ticker": "ACMW", "name": "Acme Widgets Holdings, Inc.", "price": None} in rows
        by_name = (await async_client.get("/api/tickers/?q=zebra")).json()["tickers"]
        assert [row["ticker"] for row in by_name] == ["ZEBR"]
    finally:
        await feed.source.stop()


@database
def make_user_async():
    return make_user()


def test_the_search_matches_ticker_prefixes_and_name_words(transactional_db):
    TickerName.objects.create(ticker="ACMW", name="Acme Widgets Holdings", updated_at="2026-12-01T00:00Z")
    TickerName.objects.create(ticker="WID", name="Widgetry Corp", updated_at="2026-12-01T00:00Z")
    assert directory.search("acm") == [("ACMW", "Acme Widgets Holdings")]
    assert directory.search("widget") == [("ACMW", "Acme Widgets Holdings"), ("WID", "Widgetry Corp")]
    assert directory.search("  ") == []


def test_a_page_keeps_only_tickers_that_follow_the_ticker_rule():
    body = (
        b'{"status": "OK", "results": [{"ticker": "AAPL", "name": "Apple  Inc."},'
        b' {"ticker": "X:BTCUSD", "name": "Bitcoin"}, {"ticker": "EMPTY", "name": " "}, 5],'
        b' "next_url": "https://api.massive.com/v3/reference/tickers?cursor=abc"}'
    )
    assert directory.parse_page(body) == ([("AAPL", "Apple Inc.")], "abc")


def test_a_server_mirroring_runfeed_asks_runfeed_for_the_directory_once_a_minute(monkeypatch):
    layer = InMemoryChannelLayer()
    mirror = MirrorSource(PriceCache(), layer)
    mirror.name = "massive"
    assert mirror.request_directory()
    assert mirror.request_directory()  # a second keystroke: not asked again
    assert layer.channels[control.CONTROL_CHANNEL].get_nowait()[1] == {"type": control.DIRECTORY}
    assert layer.channels[control.CONTROL_CHANNEL].empty()
    mirror.name = "simulator"
    assert not mirror.request_directory()
