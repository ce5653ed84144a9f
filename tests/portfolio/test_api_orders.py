"""/api/orders/ and /api/orders/<id>/ (CONTRACT.md "Orders"): placing, listing, reading and cancelling
orders; every bad input refused with 400 changing nothing; buying power; /portfolio/trades.csv."""

import csv
import io
import json
from decimal import Decimal

import pytest
from django.test import override_settings

from portfolio import services
from portfolio.models import Order, Portfolio, Position, Trade
from portfolio.orders import services as orders
from tests.portfolio_support import make_user, set_price

pytestmark = pytest.mark.django_db

ORDERS = "/api/orders/"
ORDER_KEYS = {
    "id",
    "ticker",
    "side",
    "type",
    "quantity",
    "limit_price",
    "stop_price",
    "time_in_force",
    "status",
    "created_at",
    "filled_at",
    "fill_price",
    "reason",
}


def post(api, body: dict):
    return api.post(ORDERS, json.dumps(body), content_type="application/json")


def nothing_changed(user) -> bool:
    return (
        not Order.objects.filter(portfolio__user=user).exists()
        and not Trade.objects.filter(portfolio__user=user).exists()
        and Portfolio.objects.get(user=user).cash == Decimal("10000.00")
    )


def test_a_limit_order_is_placed_open_with_the_contracts_shape(api, user):
    set_price("AAPL", 190.0)
    response = post(
        api, {"ticker": "aapl", "side": "buy", "quantity": "10", "type": "limit", "limit_price": "185"}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["cash"] == "10000.00"
    order = body["order"]
    assert set(order) == ORDER_KEYS
    assert order["ticker"] == "AAPL"
    assert (order["type"], order["side"], order["status"], order["time_in_force"]) == (
        "limit",
        "buy",
        "open",
        "day",
    )
    assert (order["quantity"], order["limit_price"], order["stop_price"]) == ("10", "185.00", None)
    assert (order["filled_at"], order["fill_price"], order["reason"]) == (None, None, None)
    assert order["created_at"].endswith("+00:00")


def test_a_market_order_fills_at_once_like_a_trade(api, user):
    set_price("AAPL", 190.0)
    response = post(api, {"ticker": "AAPL", "side": "buy", "quantity": 2})
    assert response.status_code == 201
    body = response.json()
    assert (body["order"]["type"], body["order"]["status"], body["order"]["fill_price"]) == (
        "market",
        "filled",
        "190.00",
    )
    assert body["cash"] == "9620.00"
    assert Trade.objects.get(portfolio__user=user).order.pk == body["order"]["id"]


def test_a_marketable_limit_order_answers_filled_at_the_current_price(api):
    set_price("AAPL", 190.0)
    body = post(
        api, {"ticker": "AAPL", "side": "buy", "quantity": 1, "type": "limit", "limit_price": 200}
    ).json()
    assert (body["order"]["status"], body["order"]["fill_price"], body["cash"]) == (
        "filled",
        "190.00",
        "9810.00",
    )


def test_the_trade_endpoint_still_works_as_a_market_order(api, user):
    set_price("AAPL", 190.0)
    response = api.post("/api/portfolio/trade/", {"ticker": "AAPL", "side": "buy", "quantity": "1"})
    assert response.status_code == 200
    assert response.json()["cash"] == "9810.00"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"type": "bracket"}, "unknown order type"),
        ({"type": "limit", "limit_price": "100", "time_in_force": "ioc"}, "unknown time in force"),
        ({"type": "limit"}, "needs a limit_price"),
        ({"type": "stop"}, "needs a stop_price"),
        ({"type": "stop_limit", "limit_price": "100"}, "needs a stop_price"),
        ({"type": "stop_limit", "stop_price": "100"}, "needs a limit_price"),
        ({"type": "market", "limit_price": "100"}, "takes no limit_price"),
        ({"limit_price": "100"}, "takes no limit_price"),
        ({"type": "limit", "limit_price": "100", "stop_price": "90"}, "takes no stop_price"),
        ({"type": "stop", "stop_price": "100", "limit_price": "101"}, "takes no limit_price"),
        ({"type": "limit", "limit_price": "0"}, "greater than zero"),
        ({"type": "limit", "limit_price": "-5"}, "greater than zero"),
        ({"type": "stop", "stop_price": -1}, "greater than zero"),
        ({"type": "limit", "limit_price": "NaN"}, "finite"),
        ({"type": "limit", "limit_price": "Infinity"}, "finite"),
        ({"type": "limit", "limit_price": "-inf"}, "finite"),
        ({"type": "limit", "limit_price": "1e12"}, "absurd"),
        ({"type": "limit", "limit_price": "100.0000001"}, "decimal places"),
        ({"type": "limit", "limit_price": "abc"}, "not a number"),
        ({"type": "limit", "limit_price": "\u0661\u0660\u0660"}, "not a number"),  # Arabic-Indic digits
        ({"type": "limit", "limit_price": "\uff11\uff10\uff10"}, "not a number"),  # full-width digits
        ({"type": "limit", "limit_price": True}, "must be a number"),
        ({"type": "limit", "limit_price": [100]}, "must be a number"),
        ({"type": "limit", "limit_price": "100", "quantity": "\u0661\u0660"}, "not a number"),
        ({"type": "limit", "limit_price": "100", "quantity": "0"}, "greater than zero"),
        ({"type": "limit", "limit_price": "100", "quantity": "NaN"}, "finite"),
        ({"type": "limit", "limit_price": "100", "quantity": "1e30"}, "absurd"),
        ({"type": "limit", "limit_price": "100", "quantity": "0.0000001"}, "decimal places"),
        ({"type": "limit", "limit_price": "100", "side": "short"}, "side"),
        ({"type": "limit", "limit_price": "100", "ticker": "NOT A TICKER"}, "ticker"),
        ({"type": "limit", "limit_price": "0.000001", "quantity": "1"}, "worth less than a cent"),
        ({"type": "limit", "limit_price": "200", "quantity": "100"}, "not enough buying power"),
    ],
)
def test_a_bad_order_is_refused_with_a_clear_message_changing_nothing(api, user, body, message):
    set_price("AAPL", 190.0)
    response = post(api, {"ticker": "AAPL", "side": "buy", "quantity": "1", **body})
    assert response.status_code == 400, response.content
    assert message in response.json()["error"].lower()
    assert nothing_changed(user)


def test_a_json_nan_price_is_refused_changing_nothing(api, user):
    response = api.post(
        ORDERS,
        '{"ticker": "AAPL", "side": "buy", "quantity": 1, "type": "limit", "limit_price": NaN}',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "limit_price" in response.json()["error"]
    assert nothing_changed(user)


def test_a_market_order_without_a_live_price_is_refused(api, user):
    response = post(api, {"ticker": "AAPL", "side": "buy", "quantity": 1})
    assert response.status_code == 400
    assert "no live price" in response.json()["error"].lower()
    assert nothing_changed(user)


def test_a_sell_order_for_shares_not_held_is_refused(api, user):
    set_price("AAPL", 190.0)
    response = post(
        api, {"ticker": "AAPL", "side": "sell", "quantity": 1, "type": "limit", "limit_price": 200}
    )
    assert response.status_code == 400
    assert "not enough shares" in response.json()["error"].lower()
    assert nothing_changed(user)


@override_settings(PORTFOLIO_MAX_OPEN_ORDERS=3)
def test_more_open_orders_than_the_limit_are_refused(api, user):
    set_price("AAPL", 190.0)
    for _ in range(3):
        assert (
            post(
                api, {"ticker": "AAPL", "side": "buy", "quantity": 1, "type": "limit", "limit_price": 100}
            ).status_code
            == 201
        )
    response = post(
        api, {"ticker": "AAPL", "side": "buy", "quantity": 1, "type": "limit", "limit_price": 100}
    )
    assert response.status_code == 400
    assert "3 open orders" in response.json()["error"]
    assert Order.objects.filter(portfolio__user=user).count() == 3


def test_the_open_order_limit_is_100_by_default(user):
    set_price("AAPL", 190.0)
    Order.objects.bulk_create(
        Order(
            portfolio=user.portfolio,
            ticker="AAPL",
            side="buy",
            type="limit",
            quantity=1,
            limit_price=1,
            reserved_cash=Decimal("1.00"),
            time_in_force="gtc",
        )
        for _ in range(100)
    )
    with pytest.raises(orders.OrderRefused, match="100 open orders"):
        orders.place_order(user, "AAPL", "buy", 1, type="limit", limit_price=1)


# Buying power


def test_an_open_buy_holds_quantity_times_its_limit_rounded_up_to_the_cent(api, user):
    set_price("AAPL", 190.0)
    post(
        api, {"ticker": "AAPL", "side": "buy", "quantity": "0.333", "type": "limit", "limit_price": "100.01"}
    )
    body = api.get("/api/portfolio/").json()
    assert (body["cash"], body["reserved_cash"], body["available_cash"]) == ("10000.00", "33.31", "9966.69")


def test_an_open_buy_stop_holds_quantity_times_its_stop(api):
    set_price("AAPL", 190.0)
    post(api, {"ticker": "AAPL", "side": "buy", "quantity": 10, "type": "stop", "stop_price": "200"})
    assert api.get("/api/portfolio/").json()["reserved_cash"] == "2000.00"


def test_an_order_needing_cash_held_by_open_orders_is_refused(api, user):
    set_price("AAPL", 190.0)
    assert (
        post(
            api, {"ticker": "AAPL", "side": "buy", "quantity": 50, "type": "limit", "limit_price": 150}
        ).status_code
        == 201
    )
    response = post(
        api, {"ticker": "AAPL", "side": "buy", "quantity": 20, "type": "limit", "limit_price": 150}
    )
    assert response.status_code == 400
    assert (
        "you have $2,500.00 available ($7,500.00 of your cash is held by open orders)"
        in (response.json()["error"])
    )


def test_a_market_trade_needing_cash_held_by_open_orders_is_refused(api, user):
    set_price("AAPL", 190.0)
    post(
        api, {"ticker": "AAPL", "side": "buy", "quantity": 50, "type": "limit", "limit_price": 150}
    )  # holds 7,500
    with pytest.raises(services.TradeRefused, match="held by open orders"):
        services.execute_trade(user, "AAPL", "buy", 14)  # 2,660 > 2,500 available
    assert services.execute_trade(user, "AAPL", "buy", 13).notional == Decimal("2470.00")


def test_a_market_sell_of_shares_held_by_an_open_sell_is_refused(api, user):
    set_price("AAPL", 190.0)
    services.execute_trade(user, "AAPL", "buy", 10)
    post(api, {"ticker": "AAPL", "side": "sell", "quantity": 6, "type": "limit", "limit_price": 250})
    with pytest.raises(services.TradeRefused, match="held by open sell orders"):
        services.execute_trade(user, "AAPL", "sell", 5)
    response = post(api, {"ticker": "AAPL", "side": "sell", "quantity": 5, "type": "stop", "stop_price": 150})
    assert response.status_code == 400
    assert services.execute_trade(user, "AAPL", "sell", 4).quantity == 4


def test_cancelling_frees_the_cash_at_once(api, user):
    set_price("AAPL", 190.0)
    order = post(
        api, {"ticker": "AAPL", "side": "buy", "quantity": 60, "type": "limit", "limit_price": 150}
    ).json()["order"]
    with pytest.raises(services.TradeRefused):
        services.execute_trade(user, "AAPL", "buy", 10)
    assert api.delete(f"{ORDERS}{order['id']}/").status_code == 200
    assert api.get("/api/portfolio/").json()["available_cash"] == "10000.00"
    assert services.execute_trade(user, "AAPL", "buy", 10).quantity == 10


def test_cancelling_a_sell_frees_the_shares_at_once(api, user):
    set_price("AAPL", 190.0)
    services.execute_trade(user, "AAPL", "buy", 5)
    order = post(
        api, {"ticker": "AAPL", "side": "sell", "quantity": 5, "type": "limit", "limit_price": 250}
    ).json()["order"]
    api.delete(f"{ORDERS}{order['id']}/")
    services.execute_trade(user, "AAPL", "sell", 5)
    assert not Position.objects.filter(portfolio__user=user).exists()


# Reading and cancelling


def test_the_list_shows_open_orders_by_default_newest_first(api, user):
    set_price("AAPL", 190.0)
    first = orders.place_order(user, "AAPL", "buy", 1, type="limit", limit_price=100)
    second = orders.place_order(user, "AAPL", "buy", 1, type="limit", limit_price=101)
    filled = orders.place_order(user, "AAPL", "buy", 1)
    assert [o["id"] for o in api.get(ORDERS).json()["orders"]] == [second.pk, first.pk]
    assert [o["id"] for o in api.get(ORDERS + "?status=filled").json()["orders"]] == [filled.pk]
    assert [o["id"] for o in api.get(ORDERS + "?status=all").json()["orders"]] == [
        filled.pk,
        second.pk,
        first.pk,
    ]
    orders.cancel_order(user, first.pk)
    assert [o["id"] for o in api.get(ORDERS + "?status=cancelled").json()["orders"]] == [first.pk]
    assert api.get(ORDERS + "?status=expired").json() == {"orders": []}
    assert api.get(ORDERS + "?status=rejected").json() == {"orders": []}


def test_an_unknown_status_filter_is_a_400(api):
    response = api.get(ORDERS + "?status=pending")
    assert response.status_code == 400
    assert "status" in response.json()["error"]


def test_one_order_is_read_by_its_id(api, user):
    set_price("AAPL", 190.0)
    order = orders.place_order(user, "AAPL", "buy", 1, type="limit", limit_price=100)
    body = api.get(f"{ORDERS}{order.pk}/").json()
    assert body["order"]["id"] == order.pk
    assert set(body["order"]) == ORDER_KEYS


def test_another_users_order_is_a_404_to_read_and_to_cancel(api):
    other = make_user()
    set_price("AAPL", 190.0)
    order = orders.place_order(other, "AAPL", "buy", 1, type="limit", limit_price=100)
    assert api.get(f"{ORDERS}{order.pk}/").status_code == 404
    response = api.delete(f"{ORDERS}{order.pk}/")
    assert response.status_code == 404
    assert "error" in response.json()
    assert Order.objects.get(pk=order.pk).status == "open"
    assert {o["id"] for o in api.get(ORDERS + "?status=all").json()["orders"]} == set()


@pytest.mark.parametrize("order_id", ["999999", "99999999999999999999999"])
def test_an_unknown_order_id_is_a_404(api, order_id):
    assert api.get(f"{ORDERS}{order_id}/").status_code == 404
    assert api.delete(f"{ORDERS}{order_id}/").status_code == 404


def test_cancelling_an_open_order_answers_it_cancelled(api, user):
    set_price("AAPL", 190.0)
    order = orders.place_order(user, "AAPL", "buy", 1, type="limit", limit_price=100)
    response = api.delete(f"{ORDERS}{order.pk}/")
    assert response.status_code == 200
    assert response.json()["order"]["status"] == "cancelled"


def test_cancelling_a_filled_order_is_a_409(api, user):
    set_price("AAPL", 190.0)
    order = orders.place_order(user, "AAPL", "buy", 1, type="limit", limit_price=200)
    assert order.status == "filled"
    response = api.delete(f"{ORDERS}{order.pk}/")
    assert response.status_code == 409
    assert "filled" in response.json()["error"]
    assert Order.objects.get(pk=order.pk).status == "filled"


def test_cancelling_twice_is_a_409(api, user):
    set_price("AAPL", 190.0)
    order = orders.place_order(user, "AAPL", "buy", 1, type="limit", limit_price=100)
    api.delete(f"{ORDERS}{order.pk}/")
    assert api.delete(f"{ORDERS}{order.pk}/").status_code == 409


def test_the_orders_api_needs_a_login(client):
    assert client.get(ORDERS).status_code == 401
    assert client.post(ORDERS, {}).status_code == 401


def test_a_form_encoded_order_with_empty_price_fields_is_a_market_order(api):
    set_price("AAPL", 190.0)
    response = api.post(
        ORDERS,
        {
            "ticker": "AAPL",
            "side": "buy",
            "quantity": "1",
            "type": "market",
            "limit_price": "",
            "stop_price": "",
        },
    )
    assert response.status_code == 201
    assert response.json()["order"]["status"] == "filled"


# The feed and the stream


def test_an_open_order_keeps_its_ticker_in_the_feeds_demand_and_the_sockets_default(user):
    from portfolio import selectors

    set_price("PLTR", 20.0)
    order = orders.place_order(user, "PLTR", "buy", 1, type="limit", limit_price=10)
    assert selectors.ticker_demand(["PLTR"]) == {"PLTR": 1}
    assert "PLTR" in selectors.stream_tickers_for_user(user)
    orders.cancel_order(user, order.pk)
    assert selectors.ticker_demand(["PLTR"]) == {"PLTR": 0}
    assert "PLTR" not in selectors.stream_tickers_for_user(user)


# The trade log as CSV


def test_the_trade_log_downloads_as_csv_with_a_header_and_one_row_per_trade(client, user):
    set_price("AAPL", 190.0)
    services.execute_trade(user, "AAPL", "buy", "1.5")
    order = orders.place_order(user, "AAPL", "sell", 1, type="limit", limit_price=180)
    client.force_login(user)
    response = client.get("/portfolio/trades.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == [
        "executed_at",
        "side",
        "ticker",
        "quantity",
        "price",
        "notional",
        "realized_pnl",
        "cash_after",
        "order_id",
    ]
    assert [row[1:4] for row in rows[1:]] == [["buy", "AAPL", "1.5"], ["sell", "AAPL", "1"]]
    assert rows[1][5] == "285.00" and rows[1][8] == ""
    assert rows[2][8] == str(order.pk)


def test_the_trade_log_csv_needs_a_login_and_shows_only_ones_own_trades(client, user):
    assert client.get("/portfolio/trades.csv").status_code == 302
    set_price("AAPL", 190.0)
    services.execute_trade(make_user(), "AAPL", "buy", 1)
    client.force_login(user)
    assert b"".join(client.get("/portfolio/trades.csv").streaming_content).decode().count("\n") == 1


def test_the_portfolio_page_shows_reserved_and_available_cash(client, user):
    set_price("AAPL", 190.0)
    orders.place_order(user, "AAPL", "buy", 10, type="limit", limit_price=100)
    client.force_login(user)
    html = client.get("/portfolio/").content.decode()
    assert "$1,000.00" in html and "$9,000.00" in html
