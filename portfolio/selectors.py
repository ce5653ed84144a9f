"""Reads of the portfolio app, each in a constant number of queries.

Selectors that need a user's portfolio or default watchlist create them on first use
(``services.ensure_user_setup``), so every user has both however the user was made.
Money is Decimal; live prices come from ``market.prices`` and are valued by ``portfolio.valuation``.
"""

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import BigIntegerField, Count, F, Func, Value, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from market import prices as market_prices
from market.seed_prices import COMPANY_NAMES, DEFAULT_TICKERS

from . import services
from .models import Order, Portfolio, PortfolioSnapshot, Position, Trade, Watchlist, WatchlistEntry
from .valuation import value_position

# Keeps each IN (...) well below every backend's limit on query parameters.
_DEMAND_CHUNK = 500
TICKER_SUGGESTIONS = 10
_WORD = re.compile(r"\w+")


def ticker_demand(tickers: Iterable[str] | None = None) -> dict[str, int]:
    """How many watchlist entries, open positions and open orders reference each ticker, across all users.

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
        for rows in (
            WatchlistEntry.objects.all(),
            Position.objects.all(),
            Order.objects.filter(status="open"),
        ):
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
    watchlists, then their open positions, then the tickers of their open orders, without repeats.
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
    tickers += (
        Order.objects.filter(portfolio__user=user, status=Order.Status.OPEN)
        .order_by("ticker")
        .values_list("ticker", flat=True)
        .distinct()
    )
    return list(dict.fromkeys(tickers))


def price_rows(tickers: Iterable[str], history: int = 0) -> list[dict]:
    """One row per ticker, in order, with its live price: ``ticker``, ``price`` (None when none yet),
    ``previous_price``, ``change``, ``change_percent`` (the last tick's), ``direction``, ``timestamp``
    (Unix seconds), the day's change as the stream carries it (``previous_close``, ``day_change``,
    ``day_change_percent``), ``state`` (``priced``; ``pending`` while no price has come yet;
    ``unknown`` when the source, Massive, does not know the ticker), and with ``history > 0`` its last
    ``history`` ``[timestamp, price]`` points. Prices are floats, as in the price stream."""
    tickers = list(tickers)
    updates = market_prices.latest_many(tickers)
    histories = market_prices.histories(tickers, limit=history) if history > 0 else {}
    unknown = market_prices.unknown_tickers()
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
            "previous_close": None,
            "day_change": None,
            "day_change_percent": None,
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
    """Cash, positions at live prices and total value, in three queries whatever the positions.

    Returns Decimals: ``cash``, ``reserved_cash`` (held by open buy orders), ``available_cash`` (cash
    less that), ``positions_value``, ``total_value``, and ``positions``, a list (by
    ticker) of dicts with ``ticker``, ``quantity``, ``avg_cost``, ``cost_basis``, ``price`` (None
    when the feed has no price), ``market_value``, ``unrealized_pnl``, ``unrealized_pnl_percent``
    (the last three None without a price). A position without a price counts at its cost basis.

    Every amount is rounded down to the cent, so no figure shows more than exact arithmetic gives:
    ``cost_basis`` and ``market_value`` are quantity x average cost and quantity x price rounded down,
    ``unrealized_pnl`` is the exact quantity x (price - average cost) rounded down (so it may differ by
    a cent from ``market_value - cost_basis``), ``unrealized_pnl_percent`` is rounded down to 2 places.
    """
    portfolio = portfolio_for(user)
    positions = list(Position.objects.filter(portfolio=portfolio).order_by("ticker"))
    summary = _valued_portfolio(portfolio.cash, positions)
    reserved = services.reserved_cash(portfolio)
    summary["reserved_cash"] = reserved
    summary["available_cash"] = max(portfolio.cash - reserved, Decimal("0.00"))
    return summary


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
    updates = market_prices.latest_many([p.ticker for p in positions])
    rows = []
    positions_value = Decimal("0.00")
    for position in positions:
        update = updates.get(position.ticker)
        value = value_position(position.quantity, position.avg_cost, update.price if update else None)
        positions_value += value.counted
        rows.append(
            {
                "ticker": position.ticker,
                "quantity": position.quantity,
                "avg_cost": position.avg_cost,
                "cost_basis": value.cost_basis,
                "price": value.price,
                "market_value": value.market_value,
                "unrealized_pnl": value.unrealized_pnl,
                "unrealized_pnl_percent": value.unrealized_pnl_percent,
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


def orders_for(user, status: str = "open", limit: int = 500) -> list[Order]:
    """The user's orders, newest first: ``status`` is one of the order statuses or ``all``."""
    orders = Order.objects.filter(portfolio__user=user)
    if status != "all":
        orders = orders.filter(status=status)
    return list(orders.select_related("portfolio").order_by("-created_at", "-id")[:limit])


def trade_log(user):
    """Every trade of the user, oldest first, as an iterator (for the CSV export); ``order_pk`` is the id
    of the order it filled (None for a market trade placed directly)."""
    trades = Trade.objects.filter(portfolio__user=user).annotate(order_pk=F("order__id"))
    return trades.order_by("executed_at", "id").iterator(chunk_size=1000)


def value_history(user, limit: int = 500) -> list[PortfolioSnapshot]:
    """The user's latest ``limit`` value snapshots, oldest first (for the value-over-time chart)."""
    latest = PortfolioSnapshot.objects.filter(portfolio__user=user).order_by("-recorded_at", "-id")[:limit]
    return list(reversed(latest))


# The value chart's ranges: (window in seconds, bucket in seconds). Snapshots are kept
# PORTFOLIO_SNAPSHOT_RETENTION_DAYS (30 by default), so 6M and 1Y show at most that much.
VALUE_RANGES: dict[str, tuple[int, int]] = {
    "1H": (3600, 60),
    "1D": (86400, 300),
    "5D": (5 * 86400, 1800),
    "1M": (30 * 86400, 7200),
    "6M": (183 * 86400, 86400),
    "1Y": (365 * 86400, 86400),
}
VALUE_INTERVALS = {60: "1m", 300: "5m", 1800: "30m", 7200: "2h", 86400: "1d"}


class EpochSeconds(Func):
    """Unix seconds of a datetime column, in the database (SQLite and PostgreSQL)."""

    output_field = BigIntegerField()

    def as_sqlite(self, compiler, connection, **extra):
        # '%%%%s' reaches SQLite as '%s' (once through the template, once through the cursor wrapper).
        return self.as_sql(
            compiler, connection, template="CAST(strftime('%%%%s', %(expressions)s) AS INTEGER)"
        )

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="FLOOR(EXTRACT(EPOCH FROM %(expressions)s))::bigint"
        )


def value_series(user, range_name: str, now=None) -> dict:
    """The user's portfolio value over ``range_name`` (a key of ``VALUE_RANGES``), downsampled in the
    database in one query: the last snapshot of each bucket (``t`` its bucket's start, Unix seconds),
    oldest first, then the live value now. Values are Decimal money."""
    window, bucket = VALUE_RANGES[range_name]
    now = now or timezone.now()
    oldest_kept = now - timedelta(days=getattr(settings, "PORTFOLIO_SNAPSHOT_RETENTION_DAYS", 30))
    since = max(now - timedelta(seconds=window), oldest_kept)
    size = Value(bucket, output_field=BigIntegerField())
    rows = (
        PortfolioSnapshot.objects.filter(portfolio__user=user, recorded_at__gte=since)
        .annotate(bucket=EpochSeconds("recorded_at") / size * size)
        .annotate(
            rank=Window(
                RowNumber(), partition_by=[F("bucket")], order_by=[F("recorded_at").desc(), F("id").desc()]
            )
        )
        .filter(rank=1)
        .order_by("bucket")
        .values_list("bucket", "total_value")
    )
    points = [{"t": int(t), "value": value} for t, value in rows]
    live = {"t": int(now.timestamp()), "value": portfolio_summary(user)["total_value"]}
    if points and points[-1]["t"] >= live["t"]:
        points[-1] = live  # the current bucket began this very second: times stay strictly ascending
    else:
        points.append(live)
    return {"range": range_name, "interval": VALUE_INTERVALS[bucket], "points": points}


def ticker_suggestions(
    query: str,
    tracked: Iterable[str],
    price_of: Callable[[str], float | None],
    *,
    names: Mapping[str, str] = COMPANY_NAMES,
    more: Iterable[tuple[str, str]] = (),
    limit: int = TICKER_SUGGESTIONS,
) -> list[dict]:
    """At most ``limit`` tickers for a ticker box as one types: ``{"ticker", "name", "price"}`` each.

    The candidates are the tickers the feed ``tracked`` (priced through ``price_of``), those ``names``
    knows (ticker -> company name; null price while untracked) and ``more``: ``(ticker, name)`` pairs
    from another source, such as a reference search, which join here. A candidate matches when its
    ticker starts with ``query`` or each word of ``query`` starts a word of its name, ignoring case.
    Ranked: the ticker itself, then tickers starting so, then name matches; tracked ones first within
    each, then by ticker. ``name`` is null when no source knows it. A blank query suggests nothing.
    """
    prefix = query.strip().upper()
    words = _WORD.findall(query.casefold())
    if not prefix:
        return []
    tracked = set(tracked)
    known = dict(names)
    for ticker, name in more:
        known.setdefault(ticker, name)
    ranked = []
    for ticker in tracked | known.keys():
        name = known.get(ticker)
        if ticker == prefix:
            rank = 0
        elif ticker.startswith(prefix):
            rank = 1
        elif name and words and _name_matches(words, _WORD.findall(name.casefold())):
            rank = 2
        else:
            continue
        ranked.append((rank, ticker not in tracked, ticker, name))
    ranked.sort()
    return [
        {"ticker": ticker, "name": name, "price": price_of(ticker) if not untracked else None}
        for _, untracked, ticker, name in ranked[:limit]
    ]


def _name_matches(query_words: list[str], name_words: list[str]) -> bool:
    return all(any(word.startswith(part) for word in name_words) for part in query_words)
