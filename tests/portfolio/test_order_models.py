"""What must never be false of an order is a database constraint (checked on SQLite and PostgreSQL)."""

from decimal import Decimal

import pytest
from django.db import DataError, IntegrityError, transaction
from django.utils import timezone

from portfolio.models import Order, Trade
from tests.portfolio_support import make_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def portfolio():
    return make_user().portfolio


def order(portfolio, **fields) -> Order:
    values = {
        "portfolio": portfolio,
        "ticker": "AAPL",
        "side": "buy",
        "type": "limit",
        "quantity": Decimal("1"),
        "limit_price": Decimal("100"),
        "time_in_force": "gtc",
        "reserved_cash": Decimal("100.00"),
        **fields,
    }
    return Order(**values)


def refused(instance) -> bool:
    try:
        with transaction.atomic():
            instance.save()
    except (IntegrityError, DataError):  # PostgreSQL reports an over-long value as a DataError
        return True
    return False


def test_a_well_formed_open_limit_order_is_stored(portfolio):
    assert not refused(order(portfolio))


@pytest.mark.parametrize(
    "fields",
    [
        {"side": "sel"},
        {"type": "bracket"},
        {"time_in_force": "ioc"},
        {"status": "pending"},
        {"quantity": Decimal("0")},
        {"limit_price": Decimal("0")},
        {"limit_price": Decimal("-1")},
        {"limit_price": None},
        {"stop_price": Decimal("90")},
        {"type": "stop", "stop_price": Decimal("-1"), "limit_price": None},
        {"type": "stop", "stop_price": None, "limit_price": None},
        {"type": "stop_limit", "stop_price": None},
        {"type": "market"},
        {"time_in_force": "day", "expires_at": None},
        {"status": "filled"},
        {"status": "rejected", "reason": ""},
        {"fill_price": Decimal("100")},
        {"reserved_cash": Decimal("-1")},
        {"side": "sell", "reserved_cash": Decimal("1.00")},
        {"triggered_at": timezone.now()},
        {"ticker": "aapl"},
    ],
    ids=lambda fields: ",".join(f"{key}={value}" for key, value in fields.items()),
)
def test_the_database_refuses_an_order_that_breaks_a_rule(portfolio, fields):
    assert refused(order(portfolio, **fields))


def test_a_filled_order_needs_its_fill_price_time_and_trade(portfolio):
    trade = Trade.objects.create(
        portfolio=portfolio, ticker="AAPL", side="buy", quantity=1, price=100, notional=100, cash_after=9900
    )
    done = {"status": "filled", "fill_price": Decimal("100"), "filled_at": timezone.now(), "trade": trade}
    assert refused(order(portfolio, **{**done, "fill_price": None}))
    assert refused(order(portfolio, **{**done, "filled_at": None}))
    assert refused(order(portfolio, **{**done, "trade": None}))
    assert refused(order(portfolio, **{**done, "fill_price": Decimal("0")}))
    assert not refused(order(portfolio, **done))


def test_a_rejected_order_keeps_its_reason(portfolio):
    assert not refused(order(portfolio, status="rejected", reason="Not enough cash."))
