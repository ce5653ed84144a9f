"""Quantities and prices are ASCII decimal numbers: other scripts' digits are refused, never read as 10.

(Python's Decimal reads Arabic-Indic "\u0661\u0660" and full-width "\uff11\uff10" as 10.)
"""

from decimal import Decimal

import pytest

from portfolio import services
from portfolio.models import Portfolio, Trade
from portfolio.money import InvalidPrice, InvalidQuantity, parse_price, parse_quantity
from portfolio.services import TradeRefused
from tests.portfolio_support import make_user, set_price

LOOKALIKE_TENS = ["\u0661\u0660", "\uff11\uff10", "\u06f1\u06f0", "\u0967\u0966", "1\uff10", "10\u200b"]


@pytest.mark.parametrize("raw", LOOKALIKE_TENS)
def test_a_quantity_in_other_digits_is_refused_naming_the_ascii_digits(raw):
    with pytest.raises(InvalidQuantity, match="not a number: use the ASCII digits 0-9"):
        parse_quantity(raw)


@pytest.mark.django_db
@pytest.mark.parametrize("raw", ["\u0661\u0660", "\uff11\uff10"])
def test_a_trade_of_arabic_indic_or_full_width_ten_is_refused_and_changes_nothing(raw):
    user = make_user()
    set_price("AAPL", 10.0)
    with pytest.raises(TradeRefused, match="ASCII digits"):
        services.execute_trade(user, "AAPL", "buy", raw)
    assert Portfolio.objects.get(user=user).cash == Decimal("10000.00")
    assert not Trade.objects.exists()


@pytest.mark.django_db
def test_the_api_refuses_a_full_width_quantity_with_a_clear_message(client):
    client.force_login(make_user())
    set_price("AAPL", 10.0)
    response = client.post(
        "/api/portfolio/trade/",
        {"ticker": "AAPL", "side": "buy", "quantity": "\uff11\uff10"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "ASCII digits" in response.json()["error"]


@pytest.mark.parametrize(("raw", "expected"), [("190.23", "190.23"), (" 5 ", "5"), (12, "12"), (0.5, "0.5")])
def test_a_price_is_parsed_exactly(raw, expected):
    assert parse_price(raw) == Decimal(expected)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("\u0661\u0669\u0660", "ASCII digits"),
        ("\uff11\uff19\uff10", "ASCII digits"),
        ("abc", "not a number"),
        ("", "required"),
        ("NaN", "finite"),
        (float("inf"), "finite"),
        (True, "not true or false"),
        (None, "must be a number"),
        ("0", "greater than zero"),
        ("-1", "greater than zero"),
        ("1e10", "absurd"),
        ("1.0000001", "decimal places"),
        ("1_000", "not a number"),
    ],
)
def test_a_bad_price_is_refused_with_the_field_named(raw, why):
    with pytest.raises(InvalidPrice, match=why) as refused:
        parse_price(raw, "Limit price")
    assert str(refused.value).startswith("Limit price")
