"""What a trader reads when a trade is refused: money as money, and the reason that matters first."""

import pytest

from portfolio import services
from portfolio.services import TradeRefused
from tests.portfolio_support import make_user, set_price

pytestmark = pytest.mark.django_db


def refusal(user, ticker, side, quantity) -> str:
    with pytest.raises(TradeRefused) as refused:
        services.execute_trade(user, ticker, side, quantity)
    return str(refused.value)


def test_a_refusal_shows_money_with_separators_and_cents():
    set_price("AAPL", 80.015)
    message = refusal(make_user(), "AAPL", "buy", "1000000")
    assert message == (
        "Not enough cash: buying 1,000,000 AAPL costs $80,015,000.00, you have $10,000.00 available."
    )


def test_selling_a_ticker_one_does_not_hold_says_so_before_anything_about_prices():
    assert refusal(make_user(), "GE", "sell", "1").startswith("You hold no GE")


def test_selling_a_priced_ticker_one_does_not_hold_says_so():
    set_price("GE", 150.0)
    assert refusal(make_user(), "ge", "sell", "2").startswith("You hold no GE")


def test_selling_more_than_one_holds_says_how_many_one_holds():
    user = make_user()
    set_price("GE", 1.5)
    services.execute_trade(user, "GE", "buy", "1500")
    assert refusal(user, "GE", "sell", "2000") == "Not enough shares: you hold 1,500 GE, cannot sell 2,000."


def test_an_absurd_order_names_the_limit_as_money():
    set_price("AAPL", 999999999.0)
    assert "at most $9,999,999,999,999.99 per trade" in refusal(make_user(), "AAPL", "buy", "999999")
