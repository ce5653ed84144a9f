"""Business rules of the portfolio app: user set-up, watchlists, trades, value snapshots.

Orders (limit, stop, cancel, expiry) have their own rules in ``portfolio.orders.services``; every fill,
of a market trade or an order, goes through ``fill`` here, the one place for the money rules.

Every function that changes state runs in a transaction and raises ``ServiceError`` (a ``ValueError``)
with a message fit for the user when a rule refuses the change; a refused change changes nothing.
The feed hears about watchlist and position changes through ``portfolio.signals`` once they commit.
"""

import logging
import math
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from market import config as market_config
from market import prices as market_prices
from market.seed_prices import DEFAULT_TICKERS
from market.tickers import InvalidTicker, normalize_ticker

from . import display, events, names
from .models import (
    DEFAULT_WATCHLIST_NAME,
    Order,
    Portfolio,
    PortfolioSnapshot,
    Position,
    Trade,
    Watchlist,
    WatchlistEntry,
)
from .money import (
    MAX_MONEY,
    MAX_PRICE,
    MAX_QUANTITY,
    InvalidQuantity,
    InvalidSide,
    cents_down,
    cost_in_cents,
    format_price,
    format_quantity,
    multiply,
    parse_quantity,
    parse_side,
    price_from_float,
    proceeds_in_cents,
    weighted_average,
)
from .valuation import portfolio_value

logger = logging.getLogger(__name__)

WATCHLIST_NAME_MAX_LENGTH = 64
# Limits (CONTRACT.md), each overridable in settings; the feed's own is MARKET_MAX_TICKERS (market.config).
DEFAULT_MAX_WATCHLISTS = 20
DEFAULT_MAX_TICKERS_PER_WATCHLIST = 100


class ServiceError(ValueError):
    """A change the rules refuse; ``str(error)`` is a message for the user."""


class TradeRefused(ServiceError):
    """A trade that was not executed; nothing changed."""


def _ticker(raw, error: type[ServiceError] = ServiceError) -> str:
    try:
        return normalize_ticker(raw)
    except InvalidTicker as exc:
        raise error(str(exc)) from None


# Users


def ensure_user_setup(user) -> Portfolio:
    """Give ``user`` a portfolio ($10,000 cash) and a default watchlist (the default ten) if missing.

    Idempotent and safe when several requests set up the same user at once. Returns the portfolio.
    """
    portfolio, _ = Portfolio.objects.get_or_create(user=user)
    if not Watchlist.objects.filter(user=user, is_default=True).exists():
        _create_default_watchlist(user)
    return portfolio


def _create_default_watchlist(user) -> Watchlist:
    try:
        with transaction.atomic():
            watchlist = Watchlist.objects.create(user=user, name=DEFAULT_WATCHLIST_NAME, is_default=True)
            # bulk_create skips the entry signals: the default ten are always tracked by the feed.
            WatchlistEntry.objects.bulk_create(
                WatchlistEntry(watchlist=watchlist, ticker=ticker) for ticker in DEFAULT_TICKERS
            )
            return watchlist
    except IntegrityError:
        pass
    # Another request made the default meanwhile, or a watchlist already has the default's name.
    existing = Watchlist.objects.filter(user=user, is_default=True).first()
    if existing is not None:
        return existing
    named = Watchlist.objects.get(user=user, name__iexact=DEFAULT_WATCHLIST_NAME)
    return set_default_watchlist(named)


def username_looks_taken(username: str, exclude_pk: int | None = None) -> bool:
    """Whether ``username`` looks like an existing user's username (see ``portfolio.names``).

    Reads every username (about 5 ms per 1,000 users): sign-up and the admin's user forms call it.
    """
    users = get_user_model().objects.all()
    if exclude_pk is not None:
        users = users.exclude(pk=exclude_pk)
    existing = users.values_list(get_user_model().USERNAME_FIELD, flat=True).iterator(chunk_size=2000)
    return names.first_lookalike(username, existing) is not None


# Watchlists


def clean_watchlist_name(raw) -> str:
    """``raw`` as a watchlist name: runs of whitespace made one space; ``ServiceError`` when it is blank
    (invisible characters alone count as blank), holds a control character or is too long."""
    if not isinstance(raw, str) or names.is_blank(raw):
        raise ServiceError("A watchlist needs a name.")
    try:
        names.check_text(raw, "A watchlist name")
    except names.InvalidText as exc:
        raise ServiceError(str(exc)) from None
    name = " ".join(raw.split())
    if len(name) > WATCHLIST_NAME_MAX_LENGTH:
        raise ServiceError(f"A watchlist name has at most {WATCHLIST_NAME_MAX_LENGTH} characters.")
    return name


def clashing_watchlist_name(user, name: str, exclude_pk: int | None = None) -> str | None:
    """The name of another of ``user``'s watchlists that ``name`` equals (ignoring case) or looks like
    ("Default" spelt with a Cyrillic e, U+0435,
    beside "Default"), or None. ``user`` may be a user or its id."""
    others = Watchlist.objects.filter(user=user)
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    existing = list(others.values_list("name", flat=True))
    same = next((other for other in existing if other.lower() == name.lower()), None)
    return same or names.first_lookalike(name, existing)


def _refuse_clash(user, name: str, exclude_pk: int | None = None) -> None:
    other = clashing_watchlist_name(user, name, exclude_pk)
    if other is None:
        return
    if other.lower() == name.lower():
        raise ServiceError(f"You already have a watchlist named {name!r}.")
    raise ServiceError(f"{name!r} looks too much like your watchlist {other!r}: choose another name.")


def max_watchlists() -> int:
    """``settings.PORTFOLIO_MAX_WATCHLISTS``: the most watchlists one user may have (default 20)."""
    return getattr(settings, "PORTFOLIO_MAX_WATCHLISTS", DEFAULT_MAX_WATCHLISTS)


def max_tickers_per_watchlist() -> int:
    """``settings.PORTFOLIO_MAX_TICKERS_PER_WATCHLIST``: the most tickers on one watchlist (default 100)."""
    return getattr(settings, "PORTFOLIO_MAX_TICKERS_PER_WATCHLIST", DEFAULT_MAX_TICKERS_PER_WATCHLIST)


def watchlist_count_problem(user) -> str | None:
    """Why ``user`` may not have one more watchlist, or None."""
    limit = max_watchlists()
    if Watchlist.objects.filter(user=user).count() >= limit:
        return f"You can have at most {limit} watchlists: delete one before creating another."
    return None


def _references():
    """The querysets of what makes the feed track a ticker: watchlist entries, positions, open orders."""
    return (
        WatchlistEntry.objects.all(),
        Position.objects.all(),
        Order.objects.filter(status=Order.Status.OPEN),
    )


def _untracked(tickers: set[str]) -> set[str]:
    """Those of ``tickers`` that the feed does not track yet (neither a default nor referenced)."""
    new = tickers - set(DEFAULT_TICKERS)
    for rows in _references():
        if new:
            new -= set(rows.filter(ticker__in=new).values_list("ticker", flat=True).distinct())
    return new


def tracked_ticker_count() -> int:
    """How many tickers the feed tracks: the default ten plus every distinct referenced ticker."""
    entries, *others = (
        rows.exclude(ticker__in=DEFAULT_TICKERS).order_by().values_list("ticker") for rows in _references()
    )
    return len(DEFAULT_TICKERS) + entries.union(*others).count()


def feed_capacity_problem(new_tickers: set[str]) -> str | None:
    """Why the feed may not start tracking those of ``new_tickers`` it does not track yet, or None: it
    would track more than ``MARKET_MAX_TICKERS`` in all."""
    untracked = _untracked(new_tickers)
    if not untracked:
        return None
    feed_limit = market_config.max_tickers()
    if tracked_ticker_count() + len(untracked) <= feed_limit:
        return None
    shown = ", ".join(sorted(untracked)[:5]) + (", ..." if len(untracked) > 5 else "")
    return (
        f"The market feed already tracks its maximum of {feed_limit} tickers: {shown} cannot be "
        "added until tickers nobody uses any more are removed."
    )


def watchlist_growth_problem(final_count: int, new_tickers: set[str]) -> str | None:
    """Why a watchlist may not end with ``final_count`` tickers after adding ``new_tickers``, or None:
    more than ``max_tickers_per_watchlist()``, or the feed would track more than ``MARKET_MAX_TICKERS``
    (only tickers it does not track yet count against that)."""
    limit = max_tickers_per_watchlist()
    if new_tickers and final_count > limit:
        return f"A watchlist holds at most {limit} tickers: remove one before adding another."
    return feed_capacity_problem(new_tickers)


def create_watchlist(user, name) -> Watchlist:
    """A new, empty, non-default watchlist. Names are unique per user, ignoring case and look-alikes;
    a user has at most ``max_watchlists()``."""
    name = clean_watchlist_name(name)
    ensure_user_setup(user)
    _refuse_clash(user, name)
    if problem := watchlist_count_problem(user):
        raise ServiceError(problem)
    try:
        with transaction.atomic():
            return Watchlist.objects.create(user=user, name=name)
    except IntegrityError:
        raise ServiceError(f"You already have a watchlist named {name!r}.") from None


def rename_watchlist(watchlist: Watchlist, name) -> Watchlist:
    name = clean_watchlist_name(name)
    if name == watchlist.name:
        return watchlist
    _refuse_clash(watchlist.user_id, name, exclude_pk=watchlist.pk)
    watchlist.name = name
    try:
        with transaction.atomic():
            watchlist.save(update_fields=["name"])
    except IntegrityError:
        raise ServiceError(f"You already have a watchlist named {name!r}.") from None
    return watchlist


def delete_watchlist(watchlist: Watchlist) -> None:
    """Delete a watchlist and its entries; the default watchlist cannot be deleted."""
    if watchlist.is_default:
        raise ServiceError("The default watchlist cannot be deleted.")
    # The cascade deletes entries through the ORM's collector, which fires their signals (the feed
    # then drops tickers nobody needs any more).
    watchlist.delete()


def set_default_watchlist(watchlist: Watchlist) -> Watchlist:
    """Make ``watchlist`` its user's default (the dashboard's), demoting the previous one."""
    with transaction.atomic():
        Watchlist.objects.filter(user_id=watchlist.user_id, is_default=True).exclude(pk=watchlist.pk).update(
            is_default=False
        )
        watchlist.is_default = True
        watchlist.save(update_fields=["is_default"])
    return watchlist


def add_to_watchlist(watchlist: Watchlist, ticker) -> tuple[WatchlistEntry, bool]:
    """Add ``ticker`` (normalised) to ``watchlist``; ``created`` is False when it was already there.

    Refused (``ServiceError``) when the watchlist is full or the feed would track more than
    ``MARKET_MAX_TICKERS`` tickers in all.
    """
    ticker = _ticker(ticker)
    existing = WatchlistEntry.objects.filter(watchlist=watchlist, ticker=ticker).first()
    if existing is not None:
        return existing, False
    if problem := watchlist_growth_problem(watchlist.entries.count() + 1, {ticker}):
        raise ServiceError(problem)
    try:
        with transaction.atomic():
            return WatchlistEntry.objects.create(watchlist=watchlist, ticker=ticker), True
    except IntegrityError:
        # A concurrent request added it first.
        return WatchlistEntry.objects.get(watchlist=watchlist, ticker=ticker), False


def remove_from_watchlist(watchlist: Watchlist, ticker) -> bool:
    """Remove ``ticker`` (normalised) from ``watchlist``; False when it was not there."""
    ticker = _ticker(ticker)
    entry = WatchlistEntry.objects.filter(watchlist=watchlist, ticker=ticker).first()
    if entry is None:
        return False
    with transaction.atomic():
        entry.delete()
    return True


# Trading


def current_price(ticker: str) -> Decimal:
    """The price a market order for ``ticker`` fills at now; ``TradeRefused`` when there is no live one."""
    if not market_prices.is_live():
        raise TradeRefused("No live prices right now (the market data feed is stale); try again shortly.")
    price = market_prices.price(ticker)
    if price is None:
        raise TradeRefused(f"No live price for {ticker} yet; add it to a watchlist and try again shortly.")
    if not math.isfinite(price) or not 0 < price <= MAX_PRICE:
        raise TradeRefused(f"No usable price for {ticker} right now.")
    return price_from_float(price)


def execute_trade(user, ticker, side, quantity) -> Trade:
    """Fill a market order for ``user`` at the cached price, moving cash and position together.

    ``quantity`` may be a str, int, float or Decimal. Raises ``TradeRefused`` (nothing changes) for a
    bad ticker, side or quantity, no live price, an order worth less than a cent, not enough cash or
    not enough shares (cash and shares held by open orders do not count). Concurrent trades of one
    user are serialised on the portfolio row, so they never overspend or oversell.
    """
    ticker = _ticker(ticker, TradeRefused)
    try:
        side = parse_side(side)
        quantity = parse_quantity(quantity)
    except (InvalidSide, InvalidQuantity) as exc:
        raise TradeRefused(str(exc)) from None
    # What a seller can act on comes first: without shares, whether there is a price does not matter.
    if side == Trade.Side.SELL and not Position.objects.filter(portfolio__user=user, ticker=ticker).exists():
        raise TradeRefused(f"You hold no {ticker}: not enough shares to sell {display.quantity(quantity)}.")
    price = current_price(ticker)
    ensure_user_setup(user)
    with transaction.atomic():
        portfolio = Portfolio.objects.select_for_update().get(user=user)
        return fill(portfolio, ticker, side, quantity, price)


def fill(
    portfolio: Portfolio,
    ticker: str,
    side: str,
    quantity: Decimal,
    price: Decimal,
    *,
    excluding: frozenset[int] = frozenset(),
    held_cash: Decimal | None = None,
    snapshot: bool = True,
) -> Trade:
    """The one place where a trade moves money: a market trade and every order fill come through here.

    The caller holds ``portfolio`` locked (``select_for_update``) inside a transaction, and has parsed
    ``ticker``, ``side`` and ``quantity``. Cash and shares held by open orders cannot be used, except
    those of the orders in ``excluding`` (the order being filled, and the orders triggered at the same
    tick, filling one after the other: they do not hold cash from each other). ``held_cash``, when the
    caller knows it, is the cash the other open orders hold (``reserved_cash(portfolio, excluding)``:
    an engine filling several orders of one portfolio reads it once). Raises ``TradeRefused`` (the
    caller's transaction then rolls back) when the rules refuse; otherwise records the trade and
    (unless ``snapshot`` is False: a caller filling several orders records one with
    ``record_snapshot_after_trade`` at the end) a value snapshot, and tells the user's sockets after
    the commit.

    Rounding never pays the trader: a buy costs its notional rounded up to the cent, a sell credits
    it rounded down, and the realized P&L is the cash credited less the shares' cost, rounded down.
    """
    if proceeds_in_cents(quantity, price) <= 0:
        # Either side: rounded up, a buy would pay a whole cent for less; rounded down, a sell gets nothing.
        raise TradeRefused(
            f"Order too small: {display.quantity(quantity)} {ticker} is worth less than a cent."
        )
    if side == Trade.Side.BUY:
        notional = cost_in_cents(quantity, price)
    else:
        notional = proceeds_in_cents(quantity, price)
    if notional > MAX_MONEY:
        raise TradeRefused(f"Order too large: at most {display.money(MAX_MONEY)} per trade.")
    position = Position.objects.filter(portfolio=portfolio, ticker=ticker).first()
    if side == Trade.Side.BUY:
        realized_pnl = None
        held = held_cash if held_cash is not None else reserved_cash(portfolio, excluding)
        _buy(portfolio, position, ticker, quantity, price, notional, held)
    else:
        reserved = reserved_shares(portfolio, ticker, excluding)
        realized_pnl = _sell(portfolio, position, ticker, quantity, notional, reserved)
    portfolio.save(update_fields=["cash"])
    trade = Trade.objects.create(
        portfolio=portfolio,
        ticker=ticker,
        side=side,
        quantity=quantity,
        price=price,
        notional=notional,
        realized_pnl=realized_pnl,
        cash_after=portfolio.cash,
    )
    if snapshot:
        record_snapshot_after_trade(portfolio)
    user_id = portfolio.user_id
    transaction.on_commit(lambda: events.trade_executed(user_id, trade), robust=True)
    logger.info(
        "trade %s: %s %s %s @ %s", trade.pk, side, format_quantity(quantity), ticker, format_price(price)
    )
    return trade


def reserved_cash(portfolio: Portfolio, excluding=()) -> Decimal:
    """Cash held by the portfolio's open buy orders (except those whose ids are in ``excluding``)."""
    held = Order.objects.filter(portfolio=portfolio, side=Trade.Side.BUY, status=Order.Status.OPEN)
    if not excluding:
        return held.aggregate(total=Sum("reserved_cash"))["total"] or Decimal("0.00")
    # A user has at most PORTFOLIO_MAX_OPEN_ORDERS open: summed here rather than with a long NOT IN (...).
    return sum(
        (cash for pk, cash in held.values_list("pk", "reserved_cash") if pk not in excluding), Decimal("0.00")
    )


def reserved_shares(portfolio: Portfolio, ticker: str, excluding=()) -> Decimal:
    """Shares of ``ticker`` held by the portfolio's open sell orders (except those in ``excluding``)."""
    held = Order.objects.filter(
        portfolio=portfolio, ticker=ticker, side=Trade.Side.SELL, status=Order.Status.OPEN
    )
    if not excluding:
        return held.aggregate(total=Sum("quantity"))["total"] or Decimal(0)
    return sum(
        (quantity for pk, quantity in held.values_list("pk", "quantity") if pk not in excluding), Decimal(0)
    )


def _buy(portfolio, position, ticker, quantity, price, notional, reserved=Decimal(0)) -> None:
    available = portfolio.cash - reserved
    if notional > available:
        held = f" ({display.money(reserved)} of it held by open orders)" if reserved else ""
        raise TradeRefused(
            f"Not enough cash: buying {display.quantity(quantity)} {ticker} costs {display.money(notional)}, "
            f"you have {display.money(max(available, Decimal(0)))} available{held}."
        )
    portfolio.cash -= notional
    if position is None:
        Position.objects.create(portfolio=portfolio, ticker=ticker, quantity=quantity, avg_cost=price)
        return
    new_quantity = position.quantity + quantity
    if new_quantity > MAX_QUANTITY:
        raise TradeRefused(f"A position can hold at most {display.quantity(MAX_QUANTITY)} {ticker}.")
    position.avg_cost = weighted_average(position.quantity, position.avg_cost, quantity, price)
    position.quantity = new_quantity
    position.save(update_fields=["quantity", "avg_cost", "updated_at"])


def _sell(portfolio, position, ticker, quantity, notional, reserved=Decimal(0)) -> Decimal:
    held = position.quantity if position is not None else Decimal(0)
    if quantity > held - reserved:
        if reserved:
            raise TradeRefused(
                f"Not enough shares: you hold {display.quantity(held)} {ticker}, "
                f"{display.quantity(min(reserved, held))} of them held by open sell orders; cannot sell "
                f"{display.quantity(quantity)}."
            )
        raise TradeRefused(
            f"Not enough shares: you hold {display.quantity(held)} {ticker}, cannot sell "
            f"{display.quantity(quantity)}."
        )
    if portfolio.cash + notional > MAX_MONEY:
        raise TradeRefused(f"Order too large: cash cannot exceed {display.money(MAX_MONEY)}.")
    # Against the cash actually credited (``notional``, rounded down), so the two always agree.
    realized_pnl = cents_down(notional - multiply(quantity, position.avg_cost))
    portfolio.cash += notional
    if quantity == held:
        position.delete()
    else:
        position.quantity = held - quantity
        position.save(update_fields=["quantity", "updated_at"])
    return realized_pnl


# Value over time


def _snapshot_value(cash: Decimal, positions, prices: dict[str, float]) -> Decimal:
    """The portfolio's value (``portfolio.valuation``), capped so the snapshot fits its column."""
    # Only a runaway simulated price could pass the cap.
    return min(portfolio_value(cash, positions, prices), MAX_MONEY)


def _live_prices(tickers) -> dict[str, float]:
    return {ticker: update.price for ticker, update in market_prices.latest_many(tickers).items()}


def record_snapshot_after_trade(portfolio: Portfolio) -> None:
    """A value snapshot of ``portfolio`` now (after a trade)."""
    positions = list(Position.objects.filter(portfolio=portfolio))
    prices = _live_prices({p.ticker for p in positions})
    PortfolioSnapshot.objects.create(
        portfolio=portfolio,
        total_value=_snapshot_value(portfolio.cash, positions, prices),
        cash=portfolio.cash,
    )


def record_value_snapshots() -> int:
    """Record every portfolio's value now, in one insert; skipped (0) while prices are not fresh.

    Run every 30 s by the process that owns the feed (``settings.MARKET_PERIODIC_JOBS``).
    Returns the number of snapshots recorded.
    """
    if not market_prices.is_live():
        logger.debug("value snapshots skipped: prices are stale")
        return 0
    portfolios = list(Portfolio.objects.prefetch_related("positions"))
    prices = _live_prices({p.ticker for portfolio in portfolios for p in portfolio.positions.all()})
    now = timezone.now()
    snapshots = [
        PortfolioSnapshot(
            portfolio=portfolio,
            recorded_at=now,
            total_value=_snapshot_value(portfolio.cash, portfolio.positions.all(), prices),
            cash=portfolio.cash,
        )
        for portfolio in portfolios
    ]
    PortfolioSnapshot.objects.bulk_create(snapshots, batch_size=500)
    _prune_value_snapshots(now)
    return len(snapshots)


_PRUNE_EVERY = timedelta(hours=1)
_last_prune: datetime | None = None


def _prune_value_snapshots(now: datetime) -> int:
    """Delete snapshots older than ``settings.PORTFOLIO_SNAPSHOT_RETENTION_DAYS``, at most once an hour.

    At one snapshot every 30 s the table grows by 2,880 rows a day per portfolio; this keeps it bounded.
    """
    global _last_prune
    if _last_prune is not None and now - _last_prune < _PRUNE_EVERY:
        return 0
    _last_prune = now
    days = getattr(settings, "PORTFOLIO_SNAPSHOT_RETENTION_DAYS", 30)
    deleted, _ = PortfolioSnapshot.objects.filter(recorded_at__lt=now - timedelta(days=days)).delete()
    if deleted:
        logger.info("value snapshots older than %s days deleted: %d", days, deleted)
    return deleted
