"""The limits of CONTRACT.md, each a setting with a clear refusal that changes nothing: watchlists per
user (20), tickers per watchlist (100), tickers the feed tracks in all (MARKET_MAX_TICKERS, 2,000)."""

import pytest

from market.seed_prices import DEFAULT_TICKERS
from portfolio import selectors, services
from portfolio.models import Order, Watchlist, WatchlistEntry
from portfolio.orders import services as orders
from portfolio.orders.services import OrderRefused
from portfolio.services import ServiceError
from tests.portfolio_support import make_user, set_price

pytestmark = pytest.mark.django_db


def fill(watchlist, count: int, prefix: str = "T") -> None:
    for number in range(count):
        services.add_to_watchlist(watchlist, f"{prefix}{number:04d}")


# Watchlists per user


def test_a_user_has_at_most_twenty_watchlists_by_default():
    user = make_user()
    for number in range(19):  # and the default one
        services.create_watchlist(user, f"List {number}")
    with pytest.raises(ServiceError, match="at most 20 watchlists"):
        services.create_watchlist(user, "One too many")
    assert Watchlist.objects.filter(user=user).count() == 20


def test_the_watchlist_limit_is_a_setting(settings):
    settings.PORTFOLIO_MAX_WATCHLISTS = 2
    user = make_user()
    services.create_watchlist(user, "Second")
    with pytest.raises(ServiceError, match="at most 2 watchlists: delete one"):
        services.create_watchlist(user, "Third")


def test_the_page_shows_the_watchlist_limit(client, settings):
    settings.PORTFOLIO_MAX_WATCHLISTS = 1
    user = make_user()
    client.force_login(user)
    response = client.post("/watchlist/", {"action": "create", "name": "Second"}, follow=True)
    assert response.status_code == 200  # the refusal, shown on the page it redirected back to
    assert "at most 1 watchlists" in response.content.decode()


def test_the_admin_refuses_a_watchlist_beyond_the_limit(admin_client, settings):
    settings.PORTFOLIO_MAX_WATCHLISTS = 1
    user = make_user()
    response = admin_client.post(
        "/admin/portfolio/watchlist/add/",
        {"user": str(user.pk), "name": "Second", "entries-TOTAL_FORMS": "0", "entries-INITIAL_FORMS": "0",
         "entries-MIN_NUM_FORMS": "0", "entries-MAX_NUM_FORMS": "1000"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "at most 1 watchlists" in response.content.decode()
    assert Watchlist.objects.filter(user=user).count() == 1


# Tickers per watchlist


def test_a_watchlist_holds_at_most_a_hundred_tickers_by_default():
    watchlist = selectors.default_watchlist(make_user())
    fill(watchlist, 100 - len(DEFAULT_TICKERS))
    with pytest.raises(ServiceError, match="at most 100 tickers: remove one"):
        services.add_to_watchlist(watchlist, "ONEMORE")
    assert watchlist.entries.count() == 100
    assert services.add_to_watchlist(watchlist, "AAPL")[1] is False  # already there: not refused


def test_the_tickers_per_watchlist_limit_is_a_setting_and_the_api_says_so(client, settings):
    settings.PORTFOLIO_MAX_TICKERS_PER_WATCHLIST = 11
    user = make_user()
    client.force_login(user)
    assert client.post("/api/watchlist/", {"ticker": "PLTR"}).status_code == 201
    response = client.post("/api/watchlist/", {"ticker": "AMD"})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error == "A watchlist holds at most 11 tickers: remove one before adding another."


def test_the_admin_inline_refuses_tickers_beyond_the_limit(admin_client, settings):
    settings.PORTFOLIO_MAX_TICKERS_PER_WATCHLIST = 11
    watchlist = selectors.default_watchlist(make_user())
    data = inline_form_data(watchlist, ["AMD", "PLTR"])
    response = admin_client.post(f"/admin/portfolio/watchlist/{watchlist.pk}/change/", data)
    assert response.status_code == 200
    assert "at most 11 tickers" in response.content.decode()
    assert watchlist.tickers() == list(DEFAULT_TICKERS)


# Tickers the feed tracks in all


@pytest.fixture
def feed_limit(monkeypatch):
    monkeypatch.setenv("MARKET_MAX_TICKERS", "12")  # the default ten and two more


def test_a_ticker_the_feed_does_not_track_is_refused_once_the_feed_is_full(feed_limit):
    alice, bob = make_user(), make_user()
    services.add_to_watchlist(selectors.default_watchlist(alice), "PLTR")
    services.add_to_watchlist(selectors.default_watchlist(bob), "AMD")
    with pytest.raises(ServiceError, match="tracks its maximum of 12 tickers: SNOW cannot be added"):
        services.add_to_watchlist(selectors.default_watchlist(alice), "SNOW")
    assert not WatchlistEntry.objects.filter(ticker="SNOW").exists()


def test_a_ticker_the_feed_already_tracks_can_still_be_added_when_it_is_full(feed_limit):
    alice, bob = make_user(), make_user()
    services.add_to_watchlist(selectors.default_watchlist(alice), "PLTR")
    services.add_to_watchlist(selectors.default_watchlist(alice), "AMD")
    assert services.add_to_watchlist(selectors.default_watchlist(bob), "PLTR")[1]
    services.remove_from_watchlist(selectors.default_watchlist(bob), "AAPL")
    assert services.add_to_watchlist(selectors.default_watchlist(bob), "AAPL")[1]  # a default: always tracked


def test_a_held_ticker_counts_as_tracked(feed_limit):
    alice = make_user()
    watchlist = selectors.default_watchlist(alice)
    services.add_to_watchlist(watchlist, "PLTR")
    set_price("PLTR", 20.0)
    services.execute_trade(alice, "PLTR", "buy", 1)
    services.remove_from_watchlist(watchlist, "PLTR")  # still held, still tracked
    services.add_to_watchlist(watchlist, "AMD")
    with pytest.raises(ServiceError, match="maximum of 12 tickers"):
        services.add_to_watchlist(watchlist, "SNOW")
    assert services.add_to_watchlist(watchlist, "PLTR")[1]


def test_the_admin_inline_refuses_tickers_that_would_pass_the_feeds_limit(admin_client, feed_limit):
    watchlist = selectors.default_watchlist(make_user())
    data = inline_form_data(watchlist, ["AMD", "PLTR", "SNOW"])
    response = admin_client.post(f"/admin/portfolio/watchlist/{watchlist.pk}/change/", data)
    assert response.status_code == 200
    assert "maximum of 12 tickers: AMD, PLTR, SNOW cannot be added" in response.content.decode()
    assert watchlist.tickers() == list(DEFAULT_TICKERS)


def test_an_open_order_counts_as_tracked_and_one_on_a_new_ticker_is_refused_when_full(feed_limit):
    alice = make_user()
    orders.place_order(alice, "PLTR", "buy", 1, type="limit", limit_price=10, time_in_force="gtc")
    services.add_to_watchlist(selectors.default_watchlist(alice), "AMD")
    assert services.tracked_ticker_count() == 12
    with pytest.raises(OrderRefused, match="tracks its maximum of 12 tickers: SNOW cannot be added"):
        orders.place_order(alice, "SNOW", "buy", 1, type="limit", limit_price=10)
    assert not Order.objects.filter(ticker="SNOW").exists()
    # A ticker already tracked (by the order) can still go on a watchlist.
    services.add_to_watchlist(selectors.default_watchlist(make_user()), "PLTR")


def test_the_feed_counts_the_default_ten_and_each_distinct_ticker_once():
    alice, bob = make_user(), make_user()
    for user in (alice, bob):
        services.add_to_watchlist(selectors.default_watchlist(user), "PLTR")
    assert services.tracked_ticker_count() == len(DEFAULT_TICKERS) + 1


def inline_form_data(watchlist, new_tickers) -> dict:
    entries = list(watchlist.entries.order_by("added_at", "id"))
    data = {
        "name": watchlist.name,
        "entries-TOTAL_FORMS": str(len(entries) + len(new_tickers)),
        "entries-INITIAL_FORMS": str(len(entries)),
        "entries-MIN_NUM_FORMS": "0",
        "entries-MAX_NUM_FORMS": "1000",
    }
    for i, entry in enumerate(entries):
        data.update({f"entries-{i}-id": str(entry.pk), f"entries-{i}-watchlist": str(watchlist.pk)})
        data[f"entries-{i}-ticker"] = entry.ticker
    for j, ticker in enumerate(new_tickers, start=len(entries)):
        data.update({f"entries-{j}-id": "", f"entries-{j}-watchlist": str(watchlist.pk)})
        data[f"entries-{j}-ticker"] = ticker
    return data
