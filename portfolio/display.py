"""How figures read for people: money, prices, changes, quantities and times, in one set of rules.

Templates (through ``finally_ui``), the pages' messages, the services' refusals and the admin all
format here; ``static/finally/format.js`` applies the same rules in the browser (a browser test
compares the two on the same values). The rules:

- money and prices to the cent, rounded half up (away from zero) from the value's shortest decimal
  form (a float is read through ``repr``), thousands separated by ``,``; a value that rounds to zero
  shows without a sign, never as ``-0.00``;
- signed figures carry ``+`` or ``-`` (nothing at zero), money its ``$`` after the sign: ``-$1,234.50``;
- ``unit_price`` is a price as stored (the price a trade filled at): at least two decimal places, no
  trailing zeros beyond, never rounded: ``$188.1779``;
- quantities without trailing zeros: ``10``, ``0.5``, ``1,000,000``;
- None (or an empty string) is an em dash;
- times are rendered in UTC; the page scripts show them in the browser's time zone.
"""

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from .money import to_cents

DASH = "—"


def number(value) -> Decimal | None:
    """``value`` (a Decimal, int, float or numeric str) as a Decimal; None for None, "" or a non-number."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str) and "_" in value:
        return None  # Decimal reads "1_000"; a figure shown to people never comes that way
    else:
        try:
            amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
        except InvalidOperation:
            return None
    return amount if amount.is_finite() else None


def cents(value) -> Decimal | None:
    """``value`` rounded half up to the cent; a value that rounds to zero is ``0.00``, never ``-0.00``."""
    amount = number(value)
    if amount is None:
        return None
    rounded = to_cents(amount)
    return rounded if rounded else abs(rounded)


def _grouped(digits: str) -> str:
    """``"1234567"`` -> ``"1,234,567"``."""
    head = len(digits) % 3 or 3
    return ",".join([digits[:head], *(digits[i : i + 3] for i in range(head, len(digits), 3))])


def _figure(amount: Decimal, unit: str, suffix: str, plus: str) -> str:
    mark = plus if amount > 0 else "-" if amount < 0 else ""
    whole, _, fraction = f"{abs(amount):f}".partition(".")
    return f"{mark}{unit}{_grouped(whole)}{'.' + fraction if fraction else ''}{suffix}"


def figure(value, unit: str = "", suffix: str = "", plus: str = "+") -> str:
    """``value`` to the cent with thousands separators, signed (``plus`` when positive, "-" when
    negative, nothing at zero) and ``unit`` between the sign and the digits; None -> an em dash."""
    amount = cents(value)
    return DASH if amount is None else _figure(amount, unit, suffix, plus)


def money(value) -> str:
    """``Decimal("-1234.5")`` -> ``"-$1,234.50"``; None -> an em dash."""
    return figure(value, unit="$", plus="")


def signed_money(value) -> str:
    """Money with an explicit sign: ``"+$12.00"``, ``"-$3.10"``, ``"$0.00"``."""
    return figure(value, unit="$")


def price(value) -> str:
    """A price to the cent with thousands separators: ``"1,234.50"``."""
    return figure(value, plus="")


def signed(value) -> str:
    """A change to the cent with its sign: ``"+1.25"``, ``"-0.40"``, ``"0.00"``."""
    return figure(value)


def percent(value) -> str:
    """A change in percent to two places with its sign: ``"+1.25%"``."""
    return figure(value, suffix="%")


def unit_price(value) -> str:
    """A price exactly as stored, as money: ``"$188.1779"``, ``"$1,234.50"`` (at least two places)."""
    amount = number(value)
    if amount is None:
        return DASH
    amount = amount.normalize()
    if amount.as_tuple().exponent > -2:
        amount = amount.quantize(Decimal("0.01"))
    return _figure(amount if amount else abs(amount), "$", "", "")


def quantity(value) -> str:
    """A quantity without trailing zeros: ``"10"``, ``"0.5"``, ``"1,000,000"``."""
    amount = number(value)
    if amount is None:
        return DASH
    amount = amount.normalize()
    if amount.as_tuple().exponent > 0:
        amount = amount.quantize(Decimal(1))
    return _figure(amount if amount else abs(amount), "", "", "")


def sign(value) -> str:
    """``"up"``, ``"down"`` or ``"flat"`` (the CSS hook colouring a figure), from its value to the cent."""
    amount = cents(value)
    if not amount:
        return "flat"
    return "up" if amount > 0 else "down"


def utc_iso(moment: datetime) -> str:
    """``moment`` in UTC, ISO 8601 to the second: ``"2026-12-01T14:32:05Z"`` (a <time> element's datetime)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_text(moment: datetime | None, seconds: bool = True, date: bool = True) -> str:
    """``moment`` as people read it, in UTC: ``"2026-12-01 14:32:05 UTC"``; None -> an em dash."""
    if moment is None:
        return DASH
    pattern = ("%Y-%m-%d " if date else "") + ("%H:%M:%S" if seconds else "%H:%M")
    return moment.astimezone(UTC).strftime(pattern) + " UTC"
