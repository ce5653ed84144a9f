"""Quantity parsing and the way decimals are shown: exact, never through binary floats."""

from decimal import Decimal

import pytest

from portfolio.money import (
    InvalidQuantity,
    format_money,
    format_price,
    format_quantity,
    parse_quantity,
    price_from_float,
    value_in_cents,
    weighted_average,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("5", "5"), (" 2.5 ", "2.5"), (3, "3"), (0.1, "0.1"), ("1e2", "100"), (Decimal("0.000001"), "0.000001")],
)
def test_a_quantity_is_parsed_exactly(raw, expected):
    assert parse_quantity(raw) == Decimal(expected)


def test_trailing_zeros_beyond_six_places_are_not_extra_precision():
    assert parse_quantity("1.50000000") == Decimal("1.5")


def test_a_quantity_of_exactly_the_maximum_is_accepted_and_one_step_more_is_absurd():
    assert parse_quantity("999999999.999999") == Decimal("999999999.999999")
    with pytest.raises(InvalidQuantity, match="absurd"):
        parse_quantity("1000000000")


def test_a_cached_float_price_becomes_the_decimal_it_shows():
    assert price_from_float(190.23) == Decimal("190.23")
    assert price_from_float(0.1 + 0.2) == Decimal("0.3")  # 0.30000000000000004, to six places


def test_value_in_cents_rounds_down_as_a_sale_would_credit():
    assert value_in_cents(Decimal("0.5"), Decimal("190.23")) == Decimal("95.11")  # 95.115
    assert value_in_cents(Decimal("0.5"), Decimal("190.25")) == Decimal("95.12")  # 95.125


def test_value_in_cents_of_the_largest_quantity_at_the_largest_price_is_exact():
    quantity, price = Decimal("999999999.999999"), Decimal("999999999.999999")
    assert value_in_cents(quantity, price) == Decimal("999999999999998000.00")


def test_weighted_average_of_two_lots():
    assert weighted_average(Decimal(1), Decimal(100), Decimal(2), Decimal(101)) == Decimal("100.666667")


@pytest.mark.parametrize(
    ("formatter", "value", "shown"),
    [
        (format_money, Decimal("8100"), "8100.00"),
        (format_money, Decimal("-0.5"), "-0.50"),
        (format_quantity, Decimal("10.000000"), "10"),
        (format_quantity, Decimal("1E+3"), "1000"),
        (format_quantity, Decimal("0.500000"), "0.5"),
        (format_price, Decimal("195.000000"), "195.00"),
        (format_price, Decimal("190.230000"), "190.23"),
        (format_price, Decimal("0.123400"), "0.1234"),
        (format_price, None, None),
    ],
)
def test_decimals_are_shown_plainly(formatter, value, shown):
    assert formatter(value) == shown
