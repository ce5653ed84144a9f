"""GET /api/tickers/?q=: ticker suggestions from the feed's tickers and known company names."""

import pytest

from market.feed import get_feed
from tests.portfolio_support import set_prices

pytestmark = pytest.mark.django_db

TICKERS = "/api/tickers/"


def suggest(client, query):
    return client.get(TICKERS, {"q": query})


def test_a_prefix_suggests_tracked_tickers_with_company_name_and_last_price(api):
    set_prices({"AAPL": 190.12, "AMZN": 185.0})
    response = suggest(api, "a")
    assert response.status_code == 200
    rows = response.json()["tickers"]
    assert rows[:2] == [
        {"ticker": "AAPL", "name": "Apple Inc.", "price": 190.12},
        {"ticker": "AMZN", "name": "Amazon.com, Inc.", "price": 185.0},
    ]
    assert len(rows) <= 10


def test_a_company_name_word_suggests_its_ticker_ignoring_case(api):
    set_prices({"MSFT": 420.0})
    assert suggest(api, "MICROSOFT").json() == {
        "tickers": [{"ticker": "MSFT", "name": "Microsoft Corporation", "price": 420.0}]
    }


def test_a_tracked_ticker_without_a_known_name_is_suggested_with_a_null_name(api):
    set_prices({"ZZZT": 12.5})
    assert suggest(api, "zzz").json()["tickers"] == [{"ticker": "ZZZT", "name": None, "price": 12.5}]


def test_a_known_company_the_feed_does_not_track_has_a_null_price(api):
    assert "KO" not in get_feed().cache
    assert suggest(api, "coca-cola").json()["tickers"] == [
        {"ticker": "KO", "name": "The Coca-Cola Company", "price": None}
    ]


def test_at_most_ten_are_suggested(api):
    set_prices({f"A{n:02}": 1.0 for n in range(30)})
    assert len(suggest(api, "a").json()["tickers"]) == 10


@pytest.mark.parametrize("query", ["", "   "])
def test_a_blank_query_suggests_nothing(api, query):
    assert suggest(api, query).json() == {"tickers": []}


def test_no_query_suggests_nothing(api):
    assert api.get(TICKERS).json() == {"tickers": []}


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("a\x00b", "query parameter 'q' must not contain control characters"),
        ("a\nb", "query parameter 'q' must not contain control characters"),
        ("x" * 51, "query parameter 'q' is too long: at most 50 characters"),
    ],
)
def test_bad_text_is_a_400_naming_the_parameter(api, query, why):
    response = suggest(api, query)
    assert response.status_code == 400
    assert why in response.json()["error"].lower()


def test_an_anonymous_request_is_a_401(client):
    response = suggest(client, "a")
    assert response.status_code == 401
    assert response.json() == {"error": "login required"}


def test_other_methods_are_405(api):
    response = api.post(TICKERS, {"q": "a"})
    assert response.status_code == 405
    assert response["Allow"] == "GET"
