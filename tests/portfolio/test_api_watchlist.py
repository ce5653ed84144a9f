"""/api/watchlist/ and /api/watchlist/<ticker>/: the user's default watchlist as JSON."""

import json

import pytest

from market.seed_prices import DEFAULT_TICKERS
from portfolio import selectors
from portfolio.models import WatchlistEntry
from tests.portfolio_support import make_user, set_price

pytestmark = pytest.mark.django_db

WATCHLIST = "/api/watchlist/"


def add(client, ticker):
    return client.post(WATCHLIST, json.dumps({"ticker": ticker}), content_type="application/json")


def tickers_of(user) -> list[str]:
    return [row["ticker"] for row in selectors.watchlist_rows(selectors.default_watchlist(user))]


def test_the_watchlist_of_a_new_user_is_the_default_ten_with_prices(api):
    set_price("AAPL", 190.0)
    body = api.get(WATCHLIST).json()
    assert body["name"] == "Default"
    assert [row["ticker"] for row in body["tickers"]] == list(DEFAULT_TICKERS)
    aapl = body["tickers"][0]
    assert {k: aapl[k] for k in ("price", "previous_price", "change", "direction")} == {
        "price": 190.0,
        "previous_price": 190.0,
        "change": 0.0,
        "direction": "flat",
    }
    assert isinstance(aapl["timestamp"], float)


def test_a_ticker_without_a_price_yet_has_null_price(api):
    assert all(row["price"] is None for row in api.get(WATCHLIST).json()["tickers"])


def test_adding_a_ticker_is_a_201_and_it_is_normalised(api, user):
    response = add(api, "  pltr ")
    assert response.status_code == 201
    assert response.json()["ticker"] == "PLTR"
    assert tickers_of(user)[-1] == "PLTR"


def test_adding_a_ticker_already_there_is_a_200(api, user):
    response = add(api, "aapl")
    assert response.status_code == 200
    assert response.json()["created"] is False
    assert tickers_of(user).count("AAPL") == 1


@pytest.mark.parametrize(
    ("ticker", "why"),
    [("", "required"), ("WAY-TOO-LONG", "too long"), ("A B", "not valid"), ("$$", "not valid")],
)
def test_adding_an_invalid_ticker_is_a_400_saying_why(api, user, ticker, why):
    response = add(api, ticker)
    assert response.status_code == 400
    assert why in response.json()["error"]
    assert tickers_of(user) == list(DEFAULT_TICKERS)


@pytest.mark.parametrize(
    ("raw", "why"),
    [(b"{}", "missing field 'ticker'"), (b'{"ticker": 5}', "must be a string"), (b"nope", "json")],
)
def test_a_bad_add_request_is_a_400(api, raw, why):
    response = api.post(WATCHLIST, raw, content_type="application/json")
    assert response.status_code == 400
    assert why in response.json()["error"].lower()


def test_deleting_a_ticker_is_a_204(api, user):
    response = api.delete(f"{WATCHLIST}msft/")
    assert response.status_code == 204
    assert response.content == b""
    assert "MSFT" not in tickers_of(user)


def test_deleting_a_ticker_not_on_the_watchlist_is_a_404(api):
    response = api.delete(f"{WATCHLIST}PLTR/")
    assert response.status_code == 404
    assert "PLTR" in response.json()["error"]


def test_deleting_an_invalid_ticker_is_a_400(api):
    response = api.delete(f"{WATCHLIST}TOOLONGTICKER/")
    assert response.status_code == 400
    assert "too long" in response.json()["error"]


def test_the_wrong_methods_are_405(api):
    assert api.put(WATCHLIST).status_code == 405
    assert api.get(f"{WATCHLIST}AAPL/").status_code == 405


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_anonymous_request_is_a_401(client, method):
    response = getattr(client, method)(WATCHLIST)
    assert response.status_code == 401
    assert response.json() == {"error": "login required"}


def test_an_anonymous_delete_is_a_401(client):
    assert client.delete(f"{WATCHLIST}AAPL/").status_code == 401


def test_each_user_changes_only_their_own_watchlist(client):
    alice, bob = make_user(), make_user()
    client.force_login(alice)
    add(client, "PLTR")
    client.delete(f"{WATCHLIST}AAPL/")
    assert tickers_of(bob) == list(DEFAULT_TICKERS)
    client.force_login(bob)
    assert [row["ticker"] for row in client.get(WATCHLIST).json()["tickers"]] == list(DEFAULT_TICKERS)
    assert WatchlistEntry.objects.filter(ticker="PLTR").count() == 1
