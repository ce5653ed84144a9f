"""Reads of the portfolio app, each in a constant number of queries.

Selectors that need a user's portfolio or default watchlist create them on first use
(``services.ensure_user_setup``), so every user has both however the user was made.
Money is Decimal; prices read from the feed's cache are converted with ``money.price_from_float``.
"""

from collections import Counter
from collections.abc import Iterable
from decimal import Decimal

from django.db.models import Count

from market.feed import get_feed
from market.seed_prices import DEFAULT_TICKERS

from . import services
from .models import Portfolio, PortfolioSnapshot, Position, Trade, Watchlist, WatchlistEntry
from .money import percent_change, price_from_float, value_in_cents

# Keeps each IN (...) well below every backend's limit on query parameters.
_DEMAND_CHUNK = 500


def ticker_demand(tickers: Iterable[str] | None = None) -> dict[str, int]:
    """How many watchlist entries and open positions reference each ticker, across all users.

    ``tickers=None`` reports every referenced ticker; otherwise exactly the given tickers (0 when
    unreferenced). This is the feed's demand hook (``settings.MARKET_TICKER_DEMAND``).
    """
    counts: Counter[str] = Counter()
    if tickers is None:
        chunks: list[list[str] | None] = [None]
    else:
        wanted = sorted(set(tickers))
        counts.update(dict.fromkeys(wanted, 0))
        chunks = [wanted[i : i + _DEMAND_CHUNK] for i in range(0, len(wanted), _DEMAND_CHUNK)]
    for chunk in chunks:
        for model in (WatchlistEntry, Position):
            rows = model.objects.all()
            if chunk is not None:
                rows = rows.filter(ticker__in=chunk)
            for row in rows.order_by().values("ticker").annotate(references=Count("id")):
                counts[row["ticker"]] += row["references"]
    return dict(counts)


def default_watchlist(user) -> Watchlist:
    """The user's default watchlist (made on first use)."""
    watchlist = Watchlist.objects.filter(user=user, is_default=True).first()
    if watchlist is None:
        services.ensure_user_setup(user)
        watchlist = Watchlist.objects.get(user=user, is_default=True)
    return watchlist


def watchlists_for(user) -> list[Watchlist]:
    """The user's watchlists, default first then by creation, entries prefetched in the order added."""
    watchlists = Watchlist.objects.filter(user=user).order_by("-is_default", "created_at", "id")
    found = list(watchlists.prefetch_related("entries"))
    if found and found[0].is_default:
        return found
    # Set up on first use only: a set-up user's page costs no extra queries.
    services.ensure_user_setup(user)
    return list(watchlists.prefetch_related("entries"))


def portfolio_for(user) -> Portfolio:
    """The user's portfolio (made on first use)."""
    portfolio = Portfolio.objects.filter(user=user).first()
    if portfolio is None:
        portfolio = services.ensure_user_setup(user)
    return portfolio


def stream_tickers_for_user(user) -> list[str]:
    """The tickers a price-stream socket follows by default (``settings.MARKET_STREAM_TICKERS``).

    Anonymous visitors: the default ten. Users: their default watchlist in order, then their other
    watchlists, then their open positions, without repeats.
    """
    if user is None or not user.is_authenticated:
        return list(DEFAULT_TICKERS)
    default_watchlist(user)
    entries = WatchlistEntry.objects.filter(watchlist__user=user).order_by(
        "-watchlist__is_default", "watchlist__created_at", "watchlist_id", "added_at", "id"
    )
    tickers = list(entries.values_list("ticker", flat=True))
    tickers += (
        Position.objects.filter(portfolio__user=user).order_by("ticker").values_list("ticker", flat=True)
    )
    return list(dict.fromkeys(tickers))


def price_rows(tickers: Iterable[str], history: int = 0) -> list[dict]:
    """One row per ticker, in order, with its live price: ``ticker``, ``price`` (None when none yet),
    ``previous_price``, ``change``, ``change_percent``, ``direction``, ``timestamp`` (Unix seconds),
    ``state`` (``priced``; ``pending`` while no price has come yet; ``unknown`` when the source, Massive,
    does not know the ticker), and with ``history > 0`` its last ``history`` ``[timestamp, price]``
    points. Prices are floats, as in the price stream."""
    tickers = list(tickers)
    feed = get_feed()
    updates = feed.cache.get_many(tickers)
    histories = feed.cache.histories(tickers, limit=history) if history > 0 else {}
    unknown = feed.unknown_tickers()
    rows = []
    for ticker in tickers:
        update = updates.get(ticker)
        row = {
            "ticker": ticker,
            "price": None,
            "previous_price": None,
            "change": None,
            "change_percent": None,
            "direction": "flat",
            "timestamp": None,
            "state": "unknown" if ticker in unknown else "pending",
        }
        if update is not None:
            row["state"] = "priced"
            row.update(update.to_dict())
            row["change_percent"] = (
                round(update.change / update.previous_price * 100, 2) if update.previous_price else 0.0
            )
        if history > 0:
            row["history"] = [list(point) for point in histories.get(ticker, [])]
        rows.append(row)
    return rows


def watchlist_rows(watchlist: Watchlist, history: int = 0) -> list[dict]:
    """``price_rows`` of the watchlist's tickers in the order they were added (one query)."""
    return price_rows(watchlist.tickers(), history=history)


def portfolio_summary(user) -> dict:
    """Cash, positions at live prices and total value, in two queries whatever the positions.

    Returns Decimals: ``cash``, ``positions_value``, ``total_value``, and ``positions``, a list (by
    ticker) of dicts with ``ticker``, ``quantity``, ``avg_cost``, ``cost_basis``, ``price`` (None
    when the feed has no price), ``market_value``, ``unrealized_pnl``, ``unrealized_pnl_percent``
    (the last three None without a price). A position without a price counts at its cost basis.
    """
    portfolio = portfolio_for(user)
    positions = list(Position.objects.filter(portfolio=portfolio).order_by("ticker"))
    return _valued_portfolio(portfolio.cash, positions)


def portfolio_value(portfolio: Portfolio) -> dict:
    """``portfolio_summary``'s figures for a portfolio already read, from ``portfolio.positions.all()``
    (prefetch ``positions`` to value a page of portfolios in one query), plus ``unrealized_pnl``: the
    sum over the positions that have a price."""
    summary = _valued_portfolio(portfolio.cash, sorted(portfolio.positions.all(), key=lambda p: p.ticker))
    summary["unrealized_pnl"] = sum(
        (row["unrealized_pnl"] for row in summary["positions"] if row["unrealized_pnl"] is not None),
        Decimal("0.00"),
    )
    return summary


def _valued_portfolio(cash: Decimal, positions: list[Position]) -> dict:
    updates = get_feed().cache.get_many([p.ticker for p in positions])
    rows = []
    positions_value = Decimal("0.00")
    for position in positions:
        cost_basis = value_in_cents(position.quantity, position.avg_cost)
        update = updates.get(position.ticker)
        price = market_value = unrealized_pnl = unrealized_pnl_percent = None
        if update is not None:
            price = price_from_float(update.price)
            market_value = value_in_cents(position.quantity, price)
            unrealized_pnl = market_value - cost_basis
            unrealized_pnl_percent = percent_change(price, position.avg_cost)
        positions_value += market_value if market_value is not None else cost_basis
        rows.append(
            {
                "ticker": position.ticker,
                "quantity": position.quantity,
                "avg_cost": position.avg_cost,
                "cost_basis": cost_basis,
                "price": price,
                "market_value": market_value,
                "unrealized_pnl": unrealized_pnl,
                "unrealized_pnl_percent": unrealized_pnl_percent,
            }
        )
    return {
        "cash": cash,
        "positions_value": positions_value,
        "total_value": cash + positions_value,
        "positions": rows,
    }


def recent_trades(user, limit: int = 50) -> list[Trade]:
    """The user's latest trades, newest first."""
    return list(Trade.objects.filter(portfolio__user=user).order_by("-executed_at", "-id")[:limit])


def value_history(user, limit: int = 500) -> list[PortfolioSnapshot]:
    """The user's latest ``limit`` value snapshots, oldest first (for the value-over-time chart)."""
    latest = PortfolioSnapshot.objects.filter(portfolio__user=user).order_by("-recorded_at", "-id")[:limit]
    return list(reversed(latest))
