"""How figures read (portfolio.display): one set of rules for templates, messages and the admin."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from portfolio import charts, display


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Decimal("-1234.5"), "-$1,234.50"),
        (Decimal("80015000"), "$80,015,000.00"),
        (0, "$0.00"),
        (-0.004, "$0.00"),
        (-0.005, "-$0.01"),
        (1.005, "$1.01"),  # half up from the decimal 1.005, not from the binary 1.00499999...
        (Decimal("9999999999999.99"), "$9,999,999,999,999.99"),
        ("12.3", "$12.30"),
        (None, "—"),
        ("", "—"),
        ("abc", "—"),
        (float("nan"), "—"),
    ],
)
def test_money_has_separators_cents_and_a_sign_only_when_negative(value, shown):
    assert display.money(value) == shown


@pytest.mark.parametrize(
    ("formatter", "value", "shown"),
    [
        (display.signed_money, Decimal("12"), "+$12.00"),
        (display.signed_money, Decimal("-3.1"), "-$3.10"),
        (display.signed_money, Decimal("-0.001"), "$0.00"),
        (display.price, 1234.5, "1,234.50"),
        (display.signed, -0.4, "-0.40"),
        (display.signed, 0.0, "0.00"),
        (display.percent, 1.25, "+1.25%"),
        (display.percent, -12345.678, "-12,345.68%"),
    ],
)
def test_signed_figures_carry_their_sign_except_at_zero(formatter, value, shown):
    assert formatter(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Decimal("188.177900"), "$188.1779"),
        (Decimal("104.000000"), "$104.00"),
        (Decimal("1234.5"), "$1,234.50"),
        (Decimal("0.000001"), "$0.000001"),
        (Decimal("0.000000"), "$0.00"),
        (None, "—"),
    ],
)
def test_a_unit_price_is_shown_exactly_as_stored(value, shown):
    assert display.unit_price(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Decimal("10.000000"), "10"),
        (Decimal("0.500000"), "0.5"),
        (Decimal("1000000"), "1,000,000"),
        (Decimal("1500.250000"), "1,500.25"),
        (None, "—"),
    ],
)
def test_quantities_have_no_trailing_zeros(value, shown):
    assert display.quantity(value) == shown


@pytest.mark.parametrize(("value", "hook"), [(0.01, "up"), (-0.01, "down"), (-0.004, "flat"), (None, "flat")])
def test_sign_follows_the_figure_shown(value, hook):
    assert display.sign(value) == hook


def test_times_are_rendered_in_utc():
    moment = datetime(2026, 12, 1, 9, 32, 5, 700_000, tzinfo=timezone(timedelta(hours=-5)))
    assert display.utc_iso(moment) == "2026-12-01T14:32:05Z"
    assert display.utc_text(moment) == "2026-12-01 14:32:05 UTC"
    assert display.utc_text(moment, date=False, seconds=False) == "14:32 UTC"
    assert display.utc_text(None) == "—"
    assert display.utc_iso(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00Z"


def test_chart_coordinates_round_half_up_whatever_the_language():
    # 3.125 is exact in binary: Python's :.2f gives 3.12, JavaScript's toFixed 3.13; both charts say 3.13.
    assert charts.coordinate(3.125) == "3.13"
    assert charts.coordinate(0.0) == "0.00"
    assert charts.coordinate(22.5) == "22.50"


def test_a_flat_series_is_drawn_across_the_middle():
    assert charts.series_points([5.0, 5.0, 5.0], 24) == "0.00,12.00 50.00,12.00 100.00,12.00"
    assert charts.series_points([0.0], 24) == "0.00,12.00 100.00,12.00"
