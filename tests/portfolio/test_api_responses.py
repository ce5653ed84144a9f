"""The API's response schemas document its bodies without trimming them: a key the selectors or the
stream's payloads add reaches the caller (the contract allows more keys in PRICE rows and trades)."""

import pytest

from portfolio import selectors
from portfolio.events import trade_payload
from portfolio.models import Trade
from tests.portfolio_support import set_price

pytestmark = pytest.mark.django_db


def test_a_watchlist_row_is_the_selectors_row_with_every_key(api, user):
    set_price("AAPL", 190.0)
    (expected,) = selectors.price_rows(["AAPL"])
    row = api.get("/api/watchlist/").json()["tickers"][0]
    assert row == expected


def test_a_trade_is_the_streams_trade_payload_with_every_key(api):
    set_price("AAPL", 190.0)
    body = api.post("/api/portfolio/trade/", {"ticker": "AAPL", "side": "buy", "quantity": "1"}).json()
    assert body["trade"] == trade_payload(Trade.objects.get())


def test_an_added_ticker_is_answered_with_the_whole_watchlist(api, user):
    body = api.post("/api/watchlist/", {"ticker": "pltr"}).json()
    assert (body["ticker"], body["created"], body["name"]) == ("PLTR", True, "Default")
    assert body["tickers"] == selectors.watchlist_rows(selectors.default_watchlist(user))
