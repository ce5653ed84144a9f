"""GET /api/history/<ticker>/?range=R: the contract's body, who may ask, and the refusals."""

import time

import pytest

from market.history import store
from tests.portfolio_support import set_prices

pytestmark = pytest.mark.django_db


def history(client, ticker: str, **params):
    return client.get(f"/api/history/{ticker}/", params)


def stored_minutes(ticker: str, count: int = 90) -> None:
    now = int(time.time()) // 60 * 60
    store.write_minute_bars([(ticker, now - 60 * i, 100.0, 101.0, 99.0, 100.5) for i in range(count, 0, -1)])


def test_the_body_has_the_contracts_keys_with_numbers_for_prices(client):
    stored_minutes("AAPL")
    set_prices({"AAPL": 100.75})
    response = history(client, "AAPL", range="1H")
    assert response.status_code == 200
    body = response.json()
    assert {"ticker", "range", "interval", "previous_close", "bars"} <= set(body)
    assert (body["ticker"], body["range"], body["interval"]) == ("AAPL", "1H", "1m")
    assert isinstance(body["previous_close"], float)
    assert all(set(bar) == {"t", "o", "h", "l", "c"} for bar in body["bars"])
    assert all(isinstance(bar["t"], int) and isinstance(bar["c"], float) for bar in body["bars"])
    assert body["bars"][-1]["c"] == 100.75  # the current bar, last


def test_the_default_range_is_one_day_in_five_minute_bars(client):
    stored_minutes("AAPL")
    body = history(client, "AAPL").json()
    assert (body["range"], body["interval"]) == ("1D", "5m")


def test_a_lower_case_ticker_is_the_ticker(client):
    stored_minutes("AAPL")
    assert history(client, "aapl").json()["ticker"] == "AAPL"


def test_anyone_may_ask_for_a_default_ticker(client):
    stored_minutes("MSFT")
    assert history(client, "MSFT").status_code == 200


def test_another_ticker_needs_a_login(client):
    stored_minutes("PYPL")
    response = history(client, "PYPL")
    assert response.status_code == 401
    assert response.json() == {"error": "login required"}


def test_a_logged_in_user_may_ask_for_any_tracked_ticker(api):
    stored_minutes("PYPL")
    assert history(api, "PYPL", range="5D").json()["interval"] == "30m"


@pytest.mark.parametrize("bad", ["2W", "1 H", "ALL", "x" * 50])
def test_a_bad_range_is_a_400_naming_the_ranges(client, bad):
    stored_minutes("AAPL")
    response = history(client, "AAPL", range=bad)
    assert response.status_code == 400
    assert "1H, 1D, 5D, 1M, 6M, 1Y" in response.json()["error"]


@pytest.mark.parametrize("bad", ["TOO-LONG-TICKER", "A$PL", "%20"])
def test_a_bad_ticker_is_a_400(api, bad):
    response = history(api, bad)
    assert response.status_code == 400
    assert "error" in response.json()


def test_a_bad_ticker_is_a_400_for_anonymous_callers_too(client):
    assert history(client, "A$PL").status_code == 400


def test_a_ticker_never_tracked_is_a_404(api):
    response = history(api, "NEVER")
    assert response.status_code == 404
    assert "never been tracked" in response.json()["error"]
