"""/api/tickers/?q=: ticker suggestions for the ticker boxes, as one types.

The tickers the feed tracks with their last prices, the names the project knows, and with Massive
the names of its reference data (``market.prices.company_names``: the ticker directory, loaded in the
background within the plan's rate budget) join in ``selectors.ticker_suggestions``.
"""

from ninja import Router, Schema

from market import prices as market_prices
from portfolio import selectors

from .bodies import plain_text
from .errors import documented

router = Router(tags=["tickers"])

SuggestionQuery = plain_text(50)


class TickerSuggestionOut(Schema):
    ticker: str
    name: str | None
    price: float | None


class TickerSuggestionsOut(Schema):
    """At most 10, best first; ``price`` is the last price, null for a ticker the feed does not track."""

    tickers: list[TickerSuggestionOut]


@router.get("/", response={200: TickerSuggestionsOut, **documented(400, 401)}, url_name="tickers")
def suggest_tickers(request, q: SuggestionQuery = ""):
    """Tickers whose symbol starts with ``q`` or whose company name has words starting with its words
    (case-insensitive): the tickers the feed tracks, with their last price, and known company names."""
    suggestions = selectors.ticker_suggestions(
        q, market_prices.tracked(), market_prices.price, more=market_prices.company_names(q)
    )
    return {"tickers": suggestions}
