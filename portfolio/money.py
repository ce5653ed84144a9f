"""Money and quantity rules: parsing what users send, the precisions we store, and how we show them.

Precisions (every field keeps at most 15 significant digits, the most SQLite's NUMERIC affinity stores
exactly; PostgreSQL stores them exactly anyway):

- quantity: up to 6 decimal places, at most 999,999,999.999999; a finer quantity is refused, never
  rounded, and a larger one is refused as absurd;
- price and average cost: 6 decimal places (prices arrive as floats of cents or sub-cents and are read
  through ``repr`` so that 190.23 becomes Decimal("190.23"), not the binary float's expansion);
- cash and every amount of money (notional, realized P&L, market value, portfolio value): to the cent.

Rounding to the cent never pays the trader: a buy costs its notional rounded up (``cost_in_cents``), a
sell credits it rounded down (``proceeds_in_cents``), and a holding is valued rounded down
(``value_in_cents``), so cash plus market value never exceeds what exact arithmetic gives. Realized and
unrealized P&L are rounded down too (``cents_down``), so a gain is never overstated. Only display
helpers (``to_cents``, ``format_money``) round half up, and only amounts already in cents reach them
from the money paths.

Quantities and prices that users send are ASCII decimal numbers: other Unicode digits (Arabic-Indic,
full-width, ...), which Python's ``Decimal`` would read as 10, are refused.
"""

import math
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_UP,
    Context,
    Decimal,
    InvalidOperation,
    localcontext,
)

QUANTITY_PLACES = 6
PRICE_PLACES = 6
MONEY_PLACES = 2
MAX_DIGITS = 15

QUANTUM_QUANTITY = Decimal(1).scaleb(-QUANTITY_PLACES)
QUANTUM_PRICE = Decimal(1).scaleb(-PRICE_PLACES)
CENT = Decimal("0.01")
MAX_QUANTITY = Decimal("999999999.999999")
MAX_PRICE = Decimal("999999999.999999")
MAX_MONEY = Decimal("9999999999999.99")

# Products of two 15-digit numbers need 30 digits before rounding: never let the default 28-digit
# context round silently in the middle of a calculation.
_EXACT = Context(prec=60, rounding=ROUND_HALF_UP)


class InvalidQuantity(ValueError):
    """A quantity a user cannot trade; the message says why."""


class InvalidPrice(ValueError):
    """A limit or stop price a user cannot use; the message says why."""


class InvalidSide(ValueError):
    """A trade side other than buy or sell."""


SIDES = ("buy", "sell")


def parse_side(raw) -> str:
    """``"buy"`` or ``"sell"`` from ``raw`` (any case, surrounding spaces ignored)."""
    if isinstance(raw, str) and raw.strip().lower() in SIDES:
        return raw.strip().lower()
    shown = raw if isinstance(raw, str) else type(raw).__name__
    raise InvalidSide(f"Side must be 'buy' or 'sell', got {str(shown)[:20]!r}.")


def _decimal_from(raw, what: str, error: type[ValueError]) -> Decimal:
    """``raw`` (a str, int, float or Decimal) as a finite Decimal; ``error`` naming ``what`` otherwise."""
    if isinstance(raw, bool):
        raise error(f"{what} must be a number, not true or false.")
    if isinstance(raw, Decimal):
        value = raw
    elif isinstance(raw, int):
        value = Decimal(raw)
    elif isinstance(raw, float):
        if not math.isfinite(raw):
            raise error(f"{what} must be a finite number.")
        value = Decimal(repr(raw))
    elif isinstance(raw, str):
        text = raw.strip()
        if not text:
            raise error(f"{what} is required.")
        if not text.isascii():
            # Decimal() reads other scripts' digits (Arabic-Indic "\u0661\u0660" is 10) and full-width ones.
            raise error(f"{what} {text[:20]!r} is not a number: use the ASCII digits 0-9.")
        if "_" in text or len(text) > 50:
            raise error(f"{what} {text[:20]!r} is not a number.")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise error(f"{what} {text[:20]!r} is not a number.") from None
    else:
        raise error(f"{what} must be a number, got {type(raw).__name__}.")
    if not value.is_finite():
        raise error(f"{what} must be a finite number.")
    return value


def parse_quantity(raw) -> Decimal:
    """A positive quantity with at most 6 decimal places, from a str, int, float or Decimal.

    Raises ``InvalidQuantity`` for anything else: booleans, text that is not an ASCII decimal number
    (other scripts' digits included), NaN and infinities, zero or less, more than 6 decimal places, more
    than ``MAX_QUANTITY``.
    """
    value = _decimal_from(raw, "Quantity", InvalidQuantity)
    if value <= 0:
        raise InvalidQuantity("Quantity must be greater than zero.")
    if value > MAX_QUANTITY:
        raise InvalidQuantity(f"Quantity is absurd: at most {format_quantity(MAX_QUANTITY)} per trade.")
    if value.normalize(_EXACT).as_tuple().exponent < -QUANTITY_PLACES:
        raise InvalidQuantity(f"Quantity can have at most {QUANTITY_PLACES} decimal places.")
    return value.quantize(QUANTUM_QUANTITY, context=_EXACT)


def parse_price(raw, what: str = "Price") -> Decimal:
    """A positive price with at most 6 decimal places (a limit or stop price), by ``parse_quantity``'s rules.

    ``what`` names the field in messages (``"Limit price"``). Raises ``InvalidPrice`` for booleans, text
    that is not an ASCII decimal number, NaN and infinities, zero or less, more than 6 decimal places,
    more than ``MAX_PRICE``.
    """
    value = _decimal_from(raw, what, InvalidPrice)
    if value <= 0:
        raise InvalidPrice(f"{what} must be greater than zero.")
    if value > MAX_PRICE:
        raise InvalidPrice(f"{what} is absurd: at most {format_price(MAX_PRICE)}.")
    if value.normalize(_EXACT).as_tuple().exponent < -PRICE_PLACES:
        raise InvalidPrice(f"{what} can have at most {PRICE_PLACES} decimal places.")
    return value.quantize(QUANTUM_PRICE, context=_EXACT)


def price_from_float(price: float) -> Decimal:
    """The exact decimal price a cached float stands for, to ``PRICE_PLACES`` places."""
    return Decimal(repr(float(price))).quantize(QUANTUM_PRICE, context=_EXACT)


def to_cents(amount: Decimal) -> Decimal:
    """``amount`` rounded half up to the cent: for showing amounts, never for moving money."""
    return amount.quantize(CENT, context=_EXACT)


def cents_down(amount: Decimal) -> Decimal:
    """``amount`` rounded down (towards minus infinity) to the cent: a gain is never overstated."""
    return amount.quantize(CENT, rounding=ROUND_FLOOR, context=_EXACT)


def cents_up(amount: Decimal) -> Decimal:
    """``amount`` rounded up (towards plus infinity) to the cent."""
    return amount.quantize(CENT, rounding=ROUND_CEILING, context=_EXACT)


def multiply(quantity: Decimal, price: Decimal) -> Decimal:
    """``quantity * price`` without any intermediate rounding."""
    with localcontext(_EXACT):
        return quantity * price


def cost_in_cents(quantity: Decimal, price: Decimal) -> Decimal:
    """What buying ``quantity`` at ``price`` costs: the notional rounded up to the cent."""
    return cents_up(multiply(quantity, price))


def proceeds_in_cents(quantity: Decimal, price: Decimal) -> Decimal:
    """What selling ``quantity`` at ``price`` credits: the notional rounded down to the cent."""
    return cents_down(multiply(quantity, price))


def value_in_cents(quantity: Decimal, price: Decimal) -> Decimal:
    """What ``quantity`` units at ``price`` are worth: rounded down to the cent, as a sale would credit."""
    return cents_down(multiply(quantity, price))


def pnl_in_cents(quantity: Decimal, price: Decimal, avg_cost: Decimal) -> Decimal:
    """The exact gain of ``quantity`` at ``price`` over ``avg_cost``, rounded down to the cent."""
    with localcontext(_EXACT):
        return cents_down(quantity * price - quantity * avg_cost)


def weighted_average(quantity_a: Decimal, price_a: Decimal, quantity_b: Decimal, price_b: Decimal) -> Decimal:
    """The average price of two lots, to ``PRICE_PLACES`` places (rounded half up)."""
    with localcontext(_EXACT):
        total = quantity_a * price_a + quantity_b * price_b
        return (total / (quantity_a + quantity_b)).quantize(QUANTUM_PRICE)


def percent_change(value: Decimal, base: Decimal) -> Decimal | None:
    """``(value - base) / base`` in percent, rounded down to 2 places, or None when ``base`` is zero."""
    if not base:
        return None
    with localcontext(_EXACT):
        return ((value - base) / base * 100).quantize(CENT, rounding=ROUND_FLOOR)


def format_money(amount: Decimal | None) -> str | None:
    """Cents as a plain string: ``"8100.00"``."""
    return None if amount is None else f"{to_cents(amount):f}"


def format_quantity(quantity: Decimal | None) -> str | None:
    """A quantity without trailing zeros or exponent: ``"10"``, ``"0.5"``."""
    return None if quantity is None else f"{quantity.normalize(_EXACT):f}"


def format_price(price: Decimal | None) -> str | None:
    """A price with at least two decimal places and no trailing zeros beyond: ``"190.23"``, ``"0.1234"``."""
    if price is None:
        return None
    normalized = price.normalize(_EXACT)
    if normalized.as_tuple().exponent > -MONEY_PLACES:
        normalized = normalized.quantize(CENT, context=_EXACT)
    return f"{normalized:f}"


def format_percent(percent: Decimal | None) -> str | None:
    return None if percent is None else f"{percent.quantize(CENT, context=_EXACT):f}"
