"""Watchlist and position changes reach a real running feed, only once committed, reference-counted."""

import sys

import pytest
from asgiref.sync import sync_to_async
from django.db import connections, transaction

from market.feed import get_feed
from market.seed_prices import DEFAULT_TICKERS
from portfolio import selectors, services
from portfolio.models import Position, WatchlistEntry
from tests.portfolio_support import make_user
from tests.support import eventually

pytestmark = pytest.mark.postgres
db_in_threads = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def threads_close_their_connections(settings):
    """Worker threads close their database connections (see ticker_demand_closing_connection)."""
    settings.MARKET_TICKER_DEMAND = "tests.portfolio_support.ticker_demand_closing_connection"
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
async def feed(transactional_db):
    """This process's feed, running a simulator in the test's own event loop."""
    running = get_feed()
    await running.start()
    yield running
    await running.stop()


def tracked(feed) -> set[str]:
    return set(feed.source.get_tickers())


async def settle(feed, marker: str) -> None:
    """Commit a change to ``marker`` and wait for the feed to apply it: earlier signals are applied too."""
    user = await sync_to_async(make_user)()
    watchlist = await sync_to_async(selectors.default_watchlist)(user)
    await sync_to_async(services.add_to_watchlist)(watchlist, marker)
    await eventually(lambda: marker in tracked(feed), message=f"{marker} to be tracked")


@db_in_threads
async def test_the_feed_starts_with_the_default_ten_and_every_referenced_ticker():
    user = await sync_to_async(make_user)()
    watchlist = await sync_to_async(selectors.default_watchlist)(user)
    await sync_to_async(services.add_to_watchlist)(watchlist, "PLTR")
    feed = get_feed()
    await feed.start()
    try:
        assert tracked(feed) == {*DEFAULT_TICKERS, "PLTR"}
    finally:
        await feed.stop()


@db_in_threads
async def test_adding_a_ticker_to_a_watchlist_makes_the_feed_track_and_price_it(feed):
    user = await sync_to_async(make_user)()
    watchlist = await sync_to_async(selectors.default_watchlist)(user)
    await sync_to_async(services.add_to_watchlist)(watchlist, "pltr")
    await eventually(lambda: "PLTR" in tracked(feed), message="PLTR to be tracked")
    await eventually(lambda: feed.cache.get("PLTR") is not None, message="a PLTR price")


@db_in_threads
async def test_removing_the_last_reference_stops_tracking_the_ticker(feed):
    user = await sync_to_async(make_user)()
    watchlist = await sync_to_async(selectors.default_watchlist)(user)
    await sync_to_async(services.add_to_watchlist)(watchlist, "PLTR")
    await eventually(lambda: "PLTR" in tracked(feed), message="PLTR to be tracked")
    await sync_to_async(services.remove_from_watchlist)(watchlist, "PLTR")
    await eventually(lambda: "PLTR" not in tracked(feed), message="PLTR to be dropped")


@db_in_threads
async def test_a_ticker_stays_tracked_while_another_users_watchlist_holds_it(feed):
    alice, bob = await sync_to_async(make_user)(), await sync_to_async(make_user)()
    alice_list = await sync_to_async(selectors.default_watchlist)(alice)
    bob_list = await sync_to_async(selectors.default_watchlist)(bob)
    await sync_to_async(services.add_to_watchlist)(alice_list, "XYZ")
    await sync_to_async(services.add_to_watchlist)(bob_list, "XYZ")
    await eventually(lambda: "XYZ" in tracked(feed), message="XYZ to be tracked")

    await sync_to_async(services.remove_from_watchlist)(alice_list, "XYZ")
    await settle(feed, "SYNC1")
    assert "XYZ" in tracked(feed)

    await sync_to_async(services.remove_from_watchlist)(bob_list, "XYZ")
    await eventually(lambda: "XYZ" not in tracked(feed), message="XYZ to be dropped")


@db_in_threads
async def test_removing_a_held_ticker_from_every_watchlist_keeps_it_priced(feed):
    user = await sync_to_async(make_user)()
    watchlist = await sync_to_async(selectors.default_watchlist)(user)
    await sync_to_async(services.add_to_watchlist)(watchlist, "XYZ")
    await eventually(lambda: feed.cache.get("XYZ") is not None, message="a XYZ price")
    await sync_to_async(services.execute_trade)(user, "XYZ", "buy", 1)

    await sync_to_async(services.remove_from_watchlist)(watchlist, "XYZ")
    await settle(feed, "SYNC1")
    assert "XYZ" in tracked(feed)

    await sync_to_async(services.execute_trade)(user, "XYZ", "sell", 1)
    await eventually(lambda: "XYZ" not in tracked(feed), message="XYZ to be dropped once sold")


@db_in_threads
async def test_a_rolled_back_change_never_reaches_the_feed(feed):
    user = await sync_to_async(make_user)()
    watchlist = await sync_to_async(selectors.default_watchlist)(user)

    def add_then_roll_back():
        with pytest.raises(RuntimeError), transaction.atomic():
            services.add_to_watchlist(watchlist, "ROLLBK")
            raise RuntimeError("changed my mind")

    await sync_to_async(add_then_roll_back)()
    await settle(feed, "SYNC1")
    assert "ROLLBK" not in tracked(feed)
    assert not await sync_to_async(WatchlistEntry.objects.filter(ticker="ROLLBK").exists)()


@db_in_threads
async def test_the_default_ten_stay_tracked_when_removed_from_every_watchlist(feed):
    user = await sync_to_async(make_user)()
    watchlist = await sync_to_async(selectors.default_watchlist)(user)
    await sync_to_async(services.remove_from_watchlist)(watchlist, "AAPL")
    await settle(feed, "SYNC1")
    assert "AAPL" in tracked(feed)


@db_in_threads
async def test_bulk_changes_that_skip_signals_are_repaired_by_reconcile(feed):
    user = await sync_to_async(make_user)()
    watchlist = await sync_to_async(selectors.default_watchlist)(user)
    portfolio = await sync_to_async(selectors.portfolio_for)(user)
    await sync_to_async(services.add_to_watchlist)(watchlist, "OLD")
    await eventually(lambda: "OLD" in tracked(feed), message="OLD to be tracked")

    def change_behind_the_signals():
        WatchlistEntry.objects.filter(ticker="OLD").update(ticker="NEW")
        WatchlistEntry.objects.bulk_create([WatchlistEntry(watchlist=watchlist, ticker="BULK")])
        Position.objects.bulk_create([Position(portfolio=portfolio, ticker="HELD", quantity=1, avg_cost=10)])

    await sync_to_async(change_behind_the_signals)()
    await feed.reconcile()
    assert {"NEW", "BULK", "HELD"} <= tracked(feed)
    assert "OLD" not in tracked(feed)


# Live updates of the user's open sockets


@pytest.mark.django_db
def test_a_committed_change_of_the_default_watchlist_is_sent_to_the_user(
    notified, django_capture_on_commit_callbacks
):
    user = make_user()
    watchlist = selectors.default_watchlist(user)
    with django_capture_on_commit_callbacks(execute=True):
        services.add_to_watchlist(watchlist, "PLTR")
    assert notified == [
        (user.pk, {"type": "watchlist", "name": watchlist.name, "tickers": [*DEFAULT_TICKERS, "PLTR"]})
    ]


@pytest.mark.django_db
def test_a_removal_from_the_default_watchlist_is_sent_with_the_remaining_tickers(
    notified, django_capture_on_commit_callbacks
):
    user = make_user()
    watchlist = selectors.default_watchlist(user)
    with django_capture_on_commit_callbacks(execute=True):
        services.remove_from_watchlist(watchlist, "AAPL")
    assert notified[-1][1]["tickers"] == [t for t in DEFAULT_TICKERS if t != "AAPL"]


@pytest.mark.django_db
def test_changes_to_other_watchlists_are_not_sent(notified, django_capture_on_commit_callbacks):
    user = make_user()
    tech = services.create_watchlist(user, "Tech")
    with django_capture_on_commit_callbacks(execute=True):
        services.add_to_watchlist(tech, "PLTR")
    assert notified == []


@pytest.mark.django_db
def test_a_rolled_back_watchlist_change_is_not_sent(notified, django_capture_on_commit_callbacks):
    user = make_user()
    watchlist = selectors.default_watchlist(user)
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.add_to_watchlist(watchlist, "PLTR")
        raise RuntimeError("changed my mind")
    assert callbacks == []
    assert notified == []


@pytest.mark.django_db
def test_a_missing_stream_module_does_not_break_a_watchlist_change(
    monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setitem(sys.modules, "market.stream.events", None)  # makes the import fail
    watchlist = selectors.default_watchlist(make_user())
    with django_capture_on_commit_callbacks(execute=True):
        _entry, created = services.add_to_watchlist(watchlist, "PLTR")
    assert created
