"""/api/watchlist/ and /api/watchlist/<ticker>/: the user's default watchlist."""

from ninja import Router, Schema, Status

from market.tickers import InvalidTicker, normalize_ticker
from portfolio import selectors, services

from .bodies import Fields
from .errors import ApiError, BadRequest, documented

router = Router(tags=["watchlist"])


class PriceRowOut(Schema):
    """A ticker with its live price, as the price stream's PRICE (numbers; null before the first price).

    ``change`` is the last tick's; ``day_change`` (rounded to the cent) and ``day_change_percent``
    (1.25 means +1.25 %) are against ``previous_close``. ``state`` is ``priced``, ``pending`` (no
    price yet) or ``unknown`` (the source, Massive, does not know the ticker). More keys may appear.
    """

    ticker: str
    price: float | None
    previous_price: float | None
    change: float | None
    change_percent: float | None
    direction: str
    timestamp: float | None
    previous_close: float | None
    day_change: float | None
    day_change_percent: float | None
    state: str

    model_config = {"extra": "allow"}


class WatchlistOut(Schema):
    name: str
    tickers: list[PriceRowOut]


class WatchlistChangeOut(WatchlistOut):
    """The ticker added (normalised) and whether it was new, with the watchlist after the change."""

    ticker: str
    created: bool


class WatchlistAddIn(Schema):
    ticker: str

    model_config = {"json_schema_extra": {"examples": [{"ticker": "PLTR"}]}}


def _watchlist_body(watchlist) -> dict:
    return {"name": watchlist.name, "tickers": selectors.watchlist_rows(watchlist)}


@router.get("/", response={200: WatchlistOut, **documented(401)}, url_name="watchlist")
def watchlist(request):
    """The user's default watchlist, in the order its tickers were added, with live prices."""
    return _watchlist_body(selectors.default_watchlist(request.user))


@router.post(
    "/",
    response={201: WatchlistChangeOut, 200: WatchlistChangeOut, **documented(400, 401, 403)},
    url_name="watchlist",
)
def add_to_watchlist(request, payload: Fields[WatchlistAddIn]):
    """Add a ticker to the default watchlist: 201 when added, 200 when it was already there."""
    default = selectors.default_watchlist(request.user)
    entry, created = services.add_to_watchlist(default, payload.ticker)
    body = {"ticker": entry.ticker, "created": created, **_watchlist_body(default)}
    return Status(201 if created else 200, body)


@router.delete(
    "/{ticker}/", response={204: None, **documented(400, 401, 403, 404)}, url_name="watchlist-ticker"
)
def remove_from_watchlist(request, ticker: str):
    """Remove a ticker from the default watchlist (404 when it is not there)."""
    try:
        ticker = normalize_ticker(ticker)
    except InvalidTicker as exc:
        raise BadRequest(str(exc)) from None
    if not services.remove_from_watchlist(selectors.default_watchlist(request.user), ticker):
        raise ApiError(f"{ticker} is not on your watchlist.", 404)
    return Status(204, None)
