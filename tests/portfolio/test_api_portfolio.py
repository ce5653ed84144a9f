"""/api/portfolio/ and /api/portfolio/trade/: status codes and bodies as CONTRACT.md states them."""

import json
from decimal import Decimal

import pytest
from django.test import Client

from market.feed import get_feed
from portfolio import services
from portfolio.models import Portfolio, Position, Trade
from tests.portfolio_support import make_user, set_price, set_prices

pytestmark = pytest.mark.django_db

PORTFOLIO = "/api/portfolio/"
TRADE = "/api/portfolio/trade/"


def post_json(client, url, body, **extra):
    return client.post(url, json.dumps(body), content_type="application/json", **extra)


def test_the_portfolio_of_a_new_user_is_ten_thousand_cash(api):
    response = api.get(PORTFOLIO)
    assert response.status_code == 200
    assert response.json() == {
        "cash": "10000.00",
        "reserved_cash": "0.00",
        "available_cash": "10000.00",
        "total_value": "10000.00",
        "positions": [],
    }


def test_the_portfolio_lists_positions_with_decimals_as_strings(api, user):
    set_price("AAPL", 190.0)
    services.execute_trade(user, "AAPL", "buy", "1.5")
    set_price("AAPL", 200.0)
    body = api.get(PORTFOLIO).json()
    assert body["cash"] == "9715.00"
    assert body["total_value"] == "10015.00"
    assert body["positions"] == [
        {
            "ticker": "AAPL",
            "quantity": "1.5",
            "avg_cost": "190.00",
            "price": "200.00",
            "market_value": "300.00",
            "unrealized_pnl": "15.00",
            "unrealized_pnl_percent": "5.26",
        }
    ]


def test_a_position_without_a_price_has_null_price(api, user):
    set_prices({"XYZ": 10.0})
    services.execute_trade(user, "XYZ", "buy", 1)
    get_feed().cache.remove("XYZ")
    (position,) = api.get(PORTFOLIO).json()["positions"]
    assert position["price"] is None
    assert position["market_value"] is None


def test_a_trade_returns_the_trade_and_the_new_cash(api, user):
    set_price("AAPL", 190.0)
    response = post_json(api, TRADE, {"ticker": "aapl", "side": "buy", "quantity": 10})
    assert response.status_code == 200
    body = response.json()
    assert body["cash"] == "8100.00"
    trade = body["trade"]
    assert {k: trade[k] for k in ("ticker", "side", "quantity", "price", "notional", "cash_after")} == {
        "ticker": "AAPL",
        "side": "buy",
        "quantity": "10",
        "price": "190.00",
        "notional": "1900.00",
        "cash_after": "8100.00",
    }
    assert trade["realized_pnl"] is None
    assert Portfolio.objects.get(user=user).cash == Decimal("8100.00")


def test_a_sell_reports_its_realized_pnl(api, user):
    set_price("AAPL", 100.0)
    services.execute_trade(user, "AAPL", "buy", 2)
    set_price("AAPL", 150.0)
    body = post_json(api, TRADE, {"ticker": "AAPL", "side": "sell", "quantity": "1"}).json()
    assert body["trade"]["realized_pnl"] == "50.00"
    assert body["cash"] == "9950.00"


def test_a_json_number_quantity_is_read_exactly(api):
    set_price("AAPL", 100.0)
    response = api.post(
        TRADE, b'{"ticker": "AAPL", "side": "buy", "quantity": 0.1}', content_type="application/json"
    )
    assert response.json()["trade"]["quantity"] == "0.1"
    assert response.json()["cash"] == "9990.00"


def test_a_quantity_finer_than_six_places_is_refused_not_rounded(api):
    set_price("AAPL", 100.0)
    response = api.post(
        TRADE, b'{"ticker": "AAPL", "side": "buy", "quantity": 1.0000001}', content_type="application/json"
    )
    assert response.status_code == 400
    assert "decimal places" in response.json()["error"]
    assert not Trade.objects.exists()


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"ticker": "AAPL", "side": "buy", "quantity": 100}, "not enough cash"),
        ({"ticker": "AAPL", "side": "sell", "quantity": 1}, "not enough shares"),
        ({"ticker": "AAPL", "side": "hold", "quantity": 1}, "'buy' or 'sell'"),
        ({"ticker": "AAPL", "side": "buy", "quantity": 0}, "greater than zero"),
        ({"ticker": "AAPL", "side": "buy", "quantity": -3}, "greater than zero"),
        ({"ticker": "AAPL", "side": "buy", "quantity": "lots"}, "not a number"),
        ({"ticker": "AAPL", "side": "buy", "quantity": "NaN"}, "finite"),
        ({"ticker": "AAPL", "side": "buy", "quantity": "1e30"}, "absurd"),
        ({"ticker": "AAPL", "side": "buy", "quantity": True}, "quantity"),
        ({"ticker": "AAPL", "side": "buy", "quantity": None}, "quantity"),
        ({"ticker": "AAPL", "side": "buy", "quantity": [1]}, "quantity"),
        ({"ticker": "NOPRICE", "side": "buy", "quantity": 1}, "no live price"),
        ({"ticker": "BAD TICKER", "side": "buy", "quantity": 1}, "not valid"),
        ({"ticker": 7, "side": "buy", "quantity": 1}, "'ticker' must be a string"),
        ({"side": "buy", "quantity": 1}, "missing field 'ticker'"),
        ({"ticker": "AAPL", "quantity": 1}, "missing field 'side'"),
        ({"ticker": "AAPL", "side": "buy"}, "missing field 'quantity'"),
    ],
)
def test_a_refused_trade_is_a_400_saying_why_and_changes_nothing(api, user, body, why):
    set_price("AAPL", 190.0)
    response = post_json(api, TRADE, body)
    assert response.status_code == 400
    assert why.lower() in response.json()["error"].lower()
    assert Portfolio.objects.get(user=user).cash == Decimal("10000.00")
    assert not Trade.objects.exists()


@pytest.mark.parametrize(
    ("raw", "content_type", "why"),
    [
        (b"{not json", "application/json", "malformed json"),
        (b"", "application/json", "malformed json"),
        (b"\xff\xfe", "application/json", "utf-8"),
        (b"[1, 2]", "application/json", "must be an object"),
        (b'"AAPL"', "application/json", "must be an object"),
        (b'<trade ticker="AAPL"/>', "application/xml", "content-type"),
    ],
)
def test_an_unreadable_body_is_a_400_naming_the_problem(api, raw, content_type, why):
    response = api.post(TRADE, raw, content_type=content_type)
    assert response.status_code == 400
    assert why in response.json()["error"].lower()


def test_the_same_fields_sent_as_a_form_trade_too(api, user):
    set_price("AAPL", 100.0)
    response = api.post(TRADE, {"ticker": "aapl", "side": "buy", "quantity": "2.5"})
    assert response.status_code == 200
    assert response.json()["cash"] == "9750.00"
    assert Position.objects.get(portfolio__user=user, ticker="AAPL").quantity == Decimal("2.5")


def test_the_wrong_method_is_a_405(api):
    assert api.get(TRADE).status_code == 405
    response = api.delete(PORTFOLIO)
    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert "error" in response.json()


@pytest.mark.parametrize("url", [PORTFOLIO, TRADE])
def test_an_anonymous_request_is_a_401_not_a_redirect(client, url):
    response = client.get(url) if url == PORTFOLIO else post_json(client, url, {})
    assert response.status_code == 401
    assert response.json() == {"error": "login required"}


def test_a_user_sees_only_their_own_portfolio(client):
    alice, bob = make_user(), make_user()
    set_price("AAPL", 100.0)
    services.execute_trade(alice, "AAPL", "buy", 5)
    client.force_login(bob)
    body = client.get(PORTFOLIO).json()
    assert (body["cash"], body["total_value"], body["positions"]) == ("10000.00", "10000.00", [])


def test_a_post_without_the_csrf_token_is_refused_in_json(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    set_price("AAPL", 100.0)
    response = post_json(client, TRADE, {"ticker": "AAPL", "side": "buy", "quantity": 1})
    assert response.status_code == 403
    assert "csrf" in response.json()["error"].lower()
    assert not Trade.objects.exists()


def test_a_post_with_the_csrf_token_from_a_get_is_accepted(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    set_price("AAPL", 100.0)
    client.get(PORTFOLIO)  # hands out the csrftoken cookie
    token = client.cookies["csrftoken"].value
    response = post_json(
        client, TRADE, {"ticker": "AAPL", "side": "buy", "quantity": 1}, HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 200
