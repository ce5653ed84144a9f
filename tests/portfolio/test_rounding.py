"""Rounding to the cent never pays the trader (CONTRACT.md, "Rules that hold everywhere").

A buy costs its notional rounded up, a sell credits it rounded down, an order worth less than a cent is
refused on either side, and positions are valued rounded down: cash plus market value never ends above
what exact arithmetic gives, whatever the sequence of trades.
"""

import random
from decimal import Decimal

import pytest

from portfolio import selectors, services
from portfolio.models import Portfolio, Position, Trade
from portfolio.money import cents_down, multiply
from portfolio.services import TradeRefused
from tests.portfolio_support import make_user, set_price

pytestmark = pytest.mark.django_db

START = Decimal("10000.00")


def cash_of(user) -> Decimal:
    return Portfolio.objects.get(user=user).cash


class ExactBook:
    """What the account would hold with exact arithmetic: cash and shares, no rounding at all."""

    def __init__(self):
        self.cash = START
        self.shares: dict[str, Decimal] = {}

    def fill(self, trade: Trade) -> None:
        amount = multiply(trade.quantity, trade.price)
        sign = -1 if trade.side == "buy" else 1
        self.cash += sign * amount
        self.shares[trade.ticker] = self.shares.get(trade.ticker, Decimal(0)) - sign * trade.quantity

    def value(self, prices: dict[str, Decimal]) -> Decimal:
        return self.cash + sum(multiply(q, prices[t]) for t, q in self.shares.items())


def test_random_small_trades_never_end_above_exact_arithmetic():
    rng = random.Random(20261201)
    user = make_user()
    exact = ExactBook()
    prices = {"AAPL": Decimal("185.19"), "MSFT": Decimal("0.37")}
    for ticker, price in prices.items():
        set_price(ticker, float(price))
    for step in range(400):
        ticker = rng.choice(list(prices))
        if rng.random() < 0.3:
            prices[ticker] = Decimal(rng.randint(1, 500_000)) / 1000  # $0.001 to $500, to 3 places
            set_price(ticker, float(prices[ticker]))
        side = "sell" if exact.shares.get(ticker) and rng.random() < 0.45 else "buy"
        quantity = Decimal(rng.randint(1, 20_000)) / 1_000_000  # 0.000001 to 0.02 shares
        if side == "sell":
            quantity = min(quantity, exact.shares[ticker])
        try:
            trade = services.execute_trade(user, ticker, side, quantity)
        except TradeRefused as refusal:
            assert "worth less than a cent" in str(refusal) or "not enough" in str(refusal).lower()
            continue
        exact.fill(trade)
        summary = selectors.portfolio_summary(user)
        assert summary["cash"] <= exact.cash, f"step {step}: cash above exact"
        assert summary["total_value"] <= exact.value(prices), f"step {step}: value above exact"
        for row in summary["positions"]:
            exact_value = multiply(row["quantity"], row["price"])
            assert row["market_value"] <= exact_value
            assert row["unrealized_pnl"] <= exact_value - multiply(row["quantity"], row["avg_cost"])
    assert Trade.objects.filter(portfolio__user=user).count() > 100  # most steps really traded


def test_a_hundred_sells_worth_half_a_cent_each_are_refused_and_credit_nothing():
    user = make_user()
    set_price("AAPL", 185.19)
    services.execute_trade(user, "AAPL", "buy", 1)
    cash = cash_of(user)
    for _ in range(100):
        with pytest.raises(TradeRefused, match="worth less than a cent"):
            services.execute_trade(user, "AAPL", "sell", "0.000027")  # $0.00500013 each
    assert cash_of(user) == cash
    assert Position.objects.get(portfolio__user=user, ticker="AAPL").quantity == 1


def test_a_hundred_buys_worth_a_cent_and_a_half_each_cost_at_least_their_exact_notional():
    user = make_user()
    set_price("AAPL", 148.0)
    for _ in range(100):
        services.execute_trade(user, "AAPL", "buy", "0.0001")  # $0.0148 each
    assert cash_of(user) == START - Decimal("2.00")  # each rounded up to $0.02, never down to $0.01
    exact_value = START - 100 * Decimal("0.0148") + Decimal("0.01") * 148  # the shares, at the same price
    assert selectors.portfolio_summary(user)["total_value"] <= exact_value


def test_a_buy_worth_less_than_a_cent_is_refused():
    user = make_user()
    set_price("AAPL", 185.19)
    with pytest.raises(TradeRefused, match="worth less than a cent"):
        services.execute_trade(user, "AAPL", "buy", "0.000027")
    assert cash_of(user) == START


def test_a_buy_costs_its_notional_rounded_up_to_the_cent():
    user = make_user()
    set_price("NVDA", 800.0)
    trade = services.execute_trade(user, "NVDA", "buy", "0.123456")  # 98.7648
    assert trade.notional == Decimal("98.77")
    assert cash_of(user) == START - Decimal("98.77")


def test_a_sell_credits_its_notional_rounded_down_and_its_realized_pnl_matches_the_credit():
    user = make_user()
    set_price("NVDA", 800.0)
    services.execute_trade(user, "NVDA", "buy", 1)
    set_price("NVDA", 801.0)
    trade = services.execute_trade(user, "NVDA", "sell", "0.123456")  # 98.888256
    assert trade.notional == Decimal("98.88")
    assert trade.cash_after == START - Decimal("800.00") + Decimal("98.88")
    # credited 98.88 for shares that cost 0.123456 x 800 = 98.7648: a gain of 0.1152, rounded down
    assert trade.realized_pnl == Decimal("0.11") == cents_down(trade.notional - Decimal("98.7648"))


def test_positions_are_valued_rounded_down_to_the_cent():
    user = make_user()
    set_price("AAPL", 100.0)
    services.execute_trade(user, "AAPL", "buy", "0.5")
    set_price("AAPL", 100.019)  # 0.5 x 100.019 = 50.0095
    summary = selectors.portfolio_summary(user)
    (row,) = summary["positions"]
    assert row["market_value"] == Decimal("50.00")
    assert row["unrealized_pnl"] == Decimal("0.00")  # 0.0095, rounded down
    assert summary["total_value"] == START - Decimal("50.00") + Decimal("50.00")
