"""/api/portfolio/, /api/portfolio/trade/ and /api/portfolio/history/: the user's cash and positions,
market trades, and the value over time."""

from ninja import Field, Query, Router, Schema

from portfolio import selectors, services
from portfolio.events import trade_payload
from portfolio.money import format_money, format_percent, format_price, format_quantity

from .bodies import Fields, NumberOrText
from .errors import BadRequest, documented

router = Router(tags=["portfolio"])


class PositionOut(Schema):
    """Decimals as strings; ``price`` and the figures from it are null while the ticker has no price."""

    ticker: str
    quantity: str
    avg_cost: str
    price: str | None
    market_value: str | None
    unrealized_pnl: str | None
    unrealized_pnl_percent: str | None


class PortfolioOut(Schema):
    """``reserved_cash``: held by open buy orders; ``available_cash``: what a new buy can use."""

    cash: str
    reserved_cash: str
    available_cash: str
    total_value: str
    positions: list[PositionOut]


class TradeIn(Schema):
    ticker: str = Field(description="1 to 10 of A-Z, 0-9, '.' or '-' (any case, spaces stripped)")
    side: str = Field(description="buy or sell")
    quantity: NumberOrText = Field(
        description="more than 0, at most 6 decimal places: a JSON number (read exactly) or a string"
    )

    model_config = {"json_schema_extra": {"examples": [{"ticker": "AAPL", "side": "buy", "quantity": "1.5"}]}}


class TradeOut(Schema):
    """A filled trade, as the price stream's ``trade`` frame carries it (decimals as strings)."""

    id: int
    ticker: str
    side: str
    quantity: str
    price: str
    notional: str
    realized_pnl: str | None
    cash_after: str
    executed_at: str

    model_config = {"extra": "allow"}


class TradeResultOut(Schema):
    trade: TradeOut
    cash: str


@router.get("/", response={200: PortfolioOut, **documented(401)}, url_name="portfolio")
def portfolio(request):
    """Cash (with what open buy orders hold and what is available), positions at live prices and total
    value (decimals as strings)."""
    summary = selectors.portfolio_summary(request.user)
    return {
        "cash": format_money(summary["cash"]),
        "reserved_cash": format_money(summary["reserved_cash"]),
        "available_cash": format_money(summary["available_cash"]),
        "total_value": format_money(summary["total_value"]),
        "positions": [
            {
                "ticker": row["ticker"],
                "quantity": format_quantity(row["quantity"]),
                "avg_cost": format_price(row["avg_cost"]),
                "price": format_price(row["price"]),
                "market_value": format_money(row["market_value"]),
                "unrealized_pnl": format_money(row["unrealized_pnl"]),
                "unrealized_pnl_percent": format_percent(row["unrealized_pnl_percent"]),
            }
            for row in summary["positions"]
        ],
    }


@router.post("/trade/", response={200: TradeResultOut, **documented(400, 401, 403)}, url_name="trade")
def trade(request, payload: Fields[TradeIn]):
    """A market order filled at once at the live price, no fee.

    ``side`` is ``buy`` or ``sell``; ``quantity`` a positive number of at most 6 decimal places (a JSON
    number is read exactly; finer is refused, never rounded). Refused (400, nothing changed) without a
    live price, without enough cash or shares, or for a bad ticker, side or quantity.
    """
    executed = services.execute_trade(request.user, payload.ticker, payload.side, payload.quantity)
    return {"trade": trade_payload(executed), "cash": format_money(executed.cash_after)}


class ValuePointOut(Schema):
    t: int
    value: str


class ValueHistoryOut(Schema):
    """The portfolio's value (decimal strings) over the range: the last snapshot of each interval,
    oldest first, then the live value now. Snapshots are kept 30 days (by default), so 6M and 1Y show
    at most that much."""

    range: str
    interval: str
    points: list[ValuePointOut]


@router.get(
    "/history/", response={200: ValueHistoryOut, **documented(400, 401)}, url_name="portfolio-history"
)
def value_history(request, range_: str = Query("1D", alias="range", description="1H, 1D, 5D, 1M, 6M or 1Y")):
    """The value over time for the value chart, downsampled in the database."""
    name = (range_ or "").strip().upper() or "1D"
    if name not in selectors.VALUE_RANGES:
        raise BadRequest(f"range must be one of {', '.join(selectors.VALUE_RANGES)}, got {range_[:20]!r}")
    series = selectors.value_series(request.user, name)
    for point in series["points"]:
        point["value"] = format_money(point["value"])
    return series
