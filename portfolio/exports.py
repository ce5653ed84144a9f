"""Downloads: ``/portfolio/trades.csv``, the user's whole trade log as CSV (a header row, one row per
trade)."""

import csv

from django.contrib.auth.decorators import login_required
from django.http import StreamingHttpResponse
from django.views.decorators.http import require_safe

from . import selectors
from .money import format_money, format_price, format_quantity

TRADE_COLUMNS = [
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


class _Echo:
    """A file-like object whose ``write`` hands the line back (csv.writer into a streaming response)."""

    def write(self, value: str) -> str:
        return value


def _rows(user):
    writer = csv.writer(_Echo())
    yield writer.writerow(TRADE_COLUMNS)
    for trade in selectors.trade_log(user):
        yield writer.writerow(
            [
                trade.executed_at.isoformat(),
                trade.side,
                trade.ticker,
                format_quantity(trade.quantity),
                format_price(trade.price),
                format_money(trade.notional),
                format_money(trade.realized_pnl) or "",
                format_money(trade.cash_after),
                trade.order_pk or "",
            ]
        )


@login_required
@require_safe
def trades_csv(request):
    """The trade log, oldest first; times ISO 8601 UTC, decimals as in the API, ``order_id`` empty for a
    market trade placed directly."""
    response = StreamingHttpResponse(_rows(request.user), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="trades.csv"'
    return response
