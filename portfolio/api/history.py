"""/api/history/<ticker>/?range=R: a ticker's price history as OHLC bars (CONTRACT.md, "Price history").

Public for the default ten (the public dashboard charts them); other tickers need a login (401).
The bars come from the market app (``market.history.queries``: stored bars aggregated in the
database, the current bar last and still moving); this module only checks the input and the caller.
"""

from typing import Literal

from ninja import Query, Router, Schema

from market.history import queries
from market.seed_prices import DEFAULT_TICKERS
from market.tickers import InvalidTicker, normalize_ticker

from .errors import ApiError, BadRequest, documented
from .security import session_login

router = Router(tags=["history"])


class BarOut(Schema):
    """One bar: ``t`` its start in Unix seconds (a daily bar: midnight America/New_York), prices numbers."""

    t: int
    o: float
    h: float
    l: float  # noqa: E741 (the contract's name)
    c: float


class HistoryOut(Schema):
    """Bars ascending, the current one last and still moving, at most 500. ``backfilling`` is true
    while history the database lacks is being fetched from Massive: ask again in a few seconds."""

    ticker: str
    range: str
    interval: Literal["1m", "5m", "30m", "1h", "1d"]
    previous_close: float | None
    bars: list[BarOut]
    backfilling: bool

    model_config = {"extra": "allow"}


def default_ticker(request) -> bool | None:
    """Lets anyone ask for a default ticker; a malformed one too, so that the view answers it 400."""
    match = getattr(request, "resolver_match", None)
    raw = match.kwargs.get("ticker", "") if match is not None else ""
    try:
        return normalize_ticker(raw) in DEFAULT_TICKERS or None
    except InvalidTicker:
        return True


@router.get(
    "/{ticker}/",
    response={200: HistoryOut, **documented(400, 401, 404)},
    url_name="history",
    auth=[session_login, default_ticker],
)
def history(
    request,
    ticker: str,
    range_: str = Query(queries.DEFAULT_RANGE, alias="range", description="1H, 1D, 5D, 1M, 6M or 1Y"),
):
    """OHLC bars of ``ticker`` over ``range`` (default 1D), the interval picked by the server: 1H in
    1-minute bars, 1D in 5-minute, 5D in 30-minute, 1M, 6M and 1Y in daily bars. 404 for a ticker
    that has never been tracked."""
    try:
        ticker = normalize_ticker(ticker)
        range_name = queries.parse_range(range_)
    except (InvalidTicker, queries.BadRange) as exc:
        raise BadRequest(str(exc)) from None
    body = queries.history(ticker, range_name)
    if body is None:
        raise ApiError(f"No history for {ticker}: it has never been tracked.", 404)
    return body
