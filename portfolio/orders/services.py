"""The rules of orders: placing (every check of CONTRACT.md "Orders"), buying power, cancel, expiry, and
the guarded fill of an order whose price came.

Like ``portfolio.services``, every function that changes state runs in a transaction and raises a
``ServiceError`` with a message for the user when a rule refuses; a refused change changes nothing.
An order leaves ``open`` exactly once: every change is a conditional update on ``status='open'`` or
happens with the order's row locked (``select_for_update``; SQLite's ``BEGIN IMMEDIATE`` serialises
writers), so a cancel racing a fill, two engines or a restart can never fill an order twice or fill
a cancelled one. Money moves only through ``portfolio.services.fill``.

After a commit, each change reaches the user's sockets (``portfolio.events``), the order engine
(``portfolio.orders.sync``) and the feed's ticker set (an open order keeps its ticker tracked).
"""

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from functools import partial
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from market import demand
from market import prices as market_prices

from .. import display, events
from ..models import Order, Portfolio, Position, Trade
from ..money import (
    MAX_MONEY,
    InvalidPrice,
    InvalidQuantity,
    InvalidSide,
    cost_in_cents,
    format_price,
    parse_price,
    parse_quantity,
    parse_side,
    proceeds_in_cents,
)
from ..services import (
    ServiceError,
    TradeRefused,
    _ticker,
    current_price,
    ensure_user_setup,
    feed_capacity_problem,
    fill,
    record_snapshot_after_trade,
)
from ..services import reserved_cash as _reserved_cash
from ..services import reserved_shares as _reserved_shares
from . import conditions, sync

logger = logging.getLogger(__name__)

NEW_YORK = ZoneInfo("America/New_York")
MARKET_CLOSE = time(16, 0)
DEFAULT_MAX_OPEN_ORDERS = 100
STATUS_FILTERS = ("open", "all", "filled", "cancelled", "expired", "rejected")
EXPIRED_REASON = "Day order expired at the 16:00 New York close."
_EXPIRE_CHUNK = 500


class OrderRefused(ServiceError):
    """An order that was not placed; nothing changed."""


class OrderNotFound(ServiceError):
    """No order with that id belongs to this user (the API answers 404)."""


class OrderNotOpen(ServiceError):
    """The order is no longer open (the API answers 409)."""


# Parsing what users send


def parse_order_price(raw, name: str) -> Decimal:
    """``money.parse_price`` with its refusal as an ``OrderRefused``."""
    try:
        return parse_price(raw, name)
    except InvalidPrice as exc:
        raise OrderRefused(str(exc)) from None


def _quantity(raw) -> Decimal:
    try:
        return parse_quantity(raw)
    except InvalidQuantity as exc:
        raise OrderRefused(str(exc)) from None


def _choice(raw, choices, default: str, what: str) -> str:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return default
    if isinstance(raw, str) and raw.strip().lower() in choices:
        return raw.strip().lower()
    shown = raw if isinstance(raw, str) else type(raw).__name__
    allowed = ", ".join(repr(choice) for choice in choices)
    raise OrderRefused(f"Unknown {what} {str(shown)[:20]!r}: use one of {allowed}.")


def parse_order_type(raw) -> str:
    """``market`` (the default when absent), ``limit``, ``stop`` or ``stop_limit``."""
    return _choice(raw, Order.Type.values, Order.Type.MARKET, "order type")


def parse_time_in_force(raw) -> str:
    """``day`` (the default when absent) or ``gtc``."""
    return _choice(raw, Order.TimeInForce.values, Order.TimeInForce.DAY, "time in force")


def _given(raw) -> bool:
    # A form sends empty fields as "": that is "not given", like an absent JSON key or null.
    return raw is not None and not (isinstance(raw, str) and not raw.strip())


def _prices(order_type: str, limit_raw, stop_raw) -> tuple[Decimal | None, Decimal | None]:
    uses_limit = order_type in (Order.Type.LIMIT, Order.Type.STOP_LIMIT)
    uses_stop = order_type in (Order.Type.STOP, Order.Type.STOP_LIMIT)
    shown = order_type.replace("_", "-")
    for raw, used, name in ((limit_raw, uses_limit, "limit_price"), (stop_raw, uses_stop, "stop_price")):
        if used and not _given(raw):
            raise OrderRefused(f"A {shown} order needs a {name}.")
        if not used and _given(raw):
            raise OrderRefused(f"A {shown} order takes no {name}.")
    limit = parse_order_price(limit_raw, "Limit price") if uses_limit else None
    stop = parse_order_price(stop_raw, "Stop price") if uses_stop else None
    return limit, stop


def max_open_orders() -> int:
    """``settings.PORTFOLIO_MAX_OPEN_ORDERS``: how many orders one user may have open (default 100)."""
    return int(getattr(settings, "PORTFOLIO_MAX_OPEN_ORDERS", DEFAULT_MAX_OPEN_ORDERS))


def day_expiry(now: datetime) -> datetime:
    """When a day order placed at ``now`` expires: the next 16:00 America/New_York, in UTC."""
    local = now.astimezone(NEW_YORK)
    close = datetime.combine(local.date(), MARKET_CLOSE, tzinfo=NEW_YORK)
    if close <= local:
        close = datetime.combine(local.date() + timedelta(days=1), MARKET_CLOSE, tzinfo=NEW_YORK)
    return close.astimezone(UTC)


def cash_to_reserve(quantity: Decimal, price: Decimal) -> Decimal:
    """What an open buy holds: ``quantity x price`` rounded up to the cent, what a fill at that price
    costs (so a fill at or better than that price always fits in it)."""
    return cost_in_cents(quantity, price)


# Placing, cancelling, expiring


def place_order(
    user,
    ticker,
    side,
    quantity,
    type=None,
    limit_price=None,
    stop_price=None,
    time_in_force=None,
    now: datetime | None = None,
) -> Order:
    """Place an order for ``user``; returns it (``filled`` when it filled at once, else ``open``).

    A market order fills at once like ``execute_trade`` (refused without a live price). A limit, stop or
    stop-limit order whose condition holds at the live price fills at once at that price; otherwise it
    rests, holding its cash (buys: quantity x limit price, or x stop price for a stop order, rounded up
    to the cent) or its shares (sells), until a tick fills it, it is cancelled, or (``day``) it expires
    at the next 16:00 New York. Raises ``OrderRefused`` or ``TradeRefused`` (nothing changes) for any
    bad input, more open orders than ``PORTFOLIO_MAX_OPEN_ORDERS``, or cash or shares not available.
    """
    now = now or timezone.now()
    ticker = _ticker(ticker, OrderRefused)
    try:
        side = parse_side(side)
    except InvalidSide as exc:
        raise OrderRefused(str(exc)) from None
    order_type = parse_order_type(type)
    tif = parse_time_in_force(time_in_force)
    quantity = _quantity(quantity)
    limit, stop = _prices(order_type, limit_price, stop_price)
    if order_type != Order.Type.MARKET and (problem := feed_capacity_problem({ticker})):
        raise OrderRefused(problem)  # an open order keeps its ticker tracked
    expires_at = day_expiry(now) if tif == Order.TimeInForce.DAY else None
    fields = dict(
        ticker=ticker,
        side=side,
        type=order_type,
        quantity=quantity,
        limit_price=limit,
        stop_price=stop,
        time_in_force=tif,
        created_at=now,
        updated_at=now,
        expires_at=expires_at,
    )
    ensure_user_setup(user)
    if order_type == Order.Type.MARKET:
        price = current_price(ticker)
        with transaction.atomic():
            portfolio = Portfolio.objects.select_for_update().get(user=user)
            trade = fill(portfolio, ticker, side, quantity, price)
            order = Order.objects.create(
                portfolio=portfolio,
                status=Order.Status.FILLED,
                fill_price=price,
                filled_at=trade.executed_at,
                trade=trade,
                **fields,
            )
            _changed(order)
        return order

    level = limit if order_type != Order.Type.STOP else stop
    if proceeds_in_cents(quantity, level) <= 0:
        raise OrderRefused(
            f"Order too small: {display.quantity(quantity)} {ticker} is worth less than a cent."
        )
    reserve = cash_to_reserve(quantity, level) if side == Trade.Side.BUY else Decimal("0.00")
    if reserve > MAX_MONEY:
        raise OrderRefused(f"Order too large: at most {display.money(MAX_MONEY)} per order.")
    live_price = _live_price_or_none(ticker)
    with transaction.atomic():
        portfolio = Portfolio.objects.select_for_update().get(user=user)
        _check_open_order_limit(portfolio)
        if side == Trade.Side.BUY:
            _check_cash(portfolio, reserve, quantity, ticker)
        else:
            _check_shares(portfolio, ticker, quantity)
        order = Order.objects.create(portfolio=portfolio, reserved_cash=reserve, **fields)
        if live_price is not None:
            # Marketable at once: filled (or triggered) now, at the current price; a refusal refuses
            # the whole order, as it would a market trade.
            _apply_price(order, portfolio, live_price, frozenset({order.pk}), now=now, refuse=True)
        _changed(order)
    return order


def _live_price_or_none(ticker: str) -> Decimal | None:
    try:
        return current_price(ticker)
    except TradeRefused:
        return None  # stale or no price yet: the order rests and waits for a live tick


def _check_open_order_limit(portfolio: Portfolio) -> None:
    limit = max_open_orders()
    if Order.objects.filter(portfolio=portfolio, status=Order.Status.OPEN).count() >= limit:
        raise OrderRefused(
            f"You have {limit} open orders, the most allowed: cancel one before placing another."
        )


def _check_cash(portfolio: Portfolio, reserve: Decimal, quantity: Decimal, ticker: str) -> None:
    held = _reserved_cash(portfolio)
    available = portfolio.cash - held
    if reserve > available:
        note = f" ({display.money(held)} of your cash is held by open orders)" if held else ""
        raise OrderRefused(
            f"Not enough buying power: this order for {display.quantity(quantity)} {ticker} holds "
            f"{display.money(reserve)}, you have {display.money(max(available, Decimal(0)))} available{note}."
        )


def _check_shares(portfolio: Portfolio, ticker: str, quantity: Decimal) -> None:
    position = Position.objects.filter(portfolio=portfolio, ticker=ticker).first()
    owned = position.quantity if position else Decimal(0)
    held = _reserved_shares(portfolio, ticker)
    if quantity > owned - held:
        note = f", {display.quantity(min(held, owned))} of them held by open sell orders" if held else ""
        raise OrderRefused(
            f"Not enough shares: you hold {display.quantity(owned)} {ticker}{note}; cannot sell "
            f"{display.quantity(quantity)}."
        )


def cancel_order(user, order_id, now: datetime | None = None) -> Order:
    """Cancel ``user``'s open order ``order_id``; its cash or shares are free again at once.

    Raises ``OrderNotFound`` when no such order is the user's, ``OrderNotOpen`` when it already
    filled, was cancelled, expired or was rejected (a fill that won the race included).
    """
    now = now or timezone.now()
    order = find_order(user, order_id)
    with transaction.atomic():
        cancelled = Order.objects.filter(pk=order.pk, status=Order.Status.OPEN).update(
            status=Order.Status.CANCELLED, updated_at=now
        )
        order.refresh_from_db()
        if not cancelled:
            raise OrderNotOpen(f"Order {order.pk} is {order.status}, no longer open: it cannot be cancelled.")
        _changed(order)
    logger.info("order %s cancelled", order.pk)
    return order


def find_order(user, order_id) -> Order:
    """``user``'s order ``order_id``; ``OrderNotFound`` for anything else (another user's included)."""
    try:
        pk = int(order_id)
    except (TypeError, ValueError):
        raise OrderNotFound(f"No order {str(order_id)[:20]!r}.") from None
    order = None
    if 0 < pk < 2**63:
        order = Order.objects.filter(pk=pk, portfolio__user=user).first()
    if order is None:
        raise OrderNotFound(f"You have no order {pk}.")
    return order


def expire_due_orders(now: datetime | None = None) -> list[Order]:
    """Expire every open day order whose 16:00 New York has come; returns them."""
    now = now or timezone.now()
    expired: list[Order] = []
    while True:
        with transaction.atomic():
            due = list(
                Order.objects.select_for_update(of=("self",))
                .select_related("portfolio")
                .filter(status=Order.Status.OPEN, expires_at__lte=now)
                .order_by("pk")[:_EXPIRE_CHUNK]
            )
            if not due:
                return expired
            Order.objects.filter(pk__in=[o.pk for o in due], status=Order.Status.OPEN).update(
                status=Order.Status.EXPIRED, reason=EXPIRED_REASON, updated_at=now
            )
            for order in due:
                order.status, order.reason, order.updated_at = Order.Status.EXPIRED, EXPIRED_REASON, now
                _changed(order)
            expired += due
        logger.info("%d day orders expired", len(due))


# Filling at a tick (the order engine)


def execute_at_price(order_id: int, price: Decimal, released: Iterable[int] = (), now=None) -> Order | None:
    """``execute_crossed`` for one order (whatever its portfolio)."""
    portfolio_id = Order.objects.filter(pk=order_id).values_list("portfolio_id", flat=True).first()
    if portfolio_id is None:
        return None
    return execute_crossed(portfolio_id, [(order_id, price)], released, now)[order_id]


def execute_crossed(
    portfolio_id: int, crossed: list[tuple[int, Decimal]], released: Iterable[int] = (), now=None
) -> dict[int, Order | None]:
    """Apply tick prices to open orders of one portfolio, ``crossed`` as ``(order id, price)``: fill
    each, trigger it, reject it when it can no longer be paid for, or expire it when its day is over.
    Returns ``{order id: the order as it now is}``, None where nothing happened (not open any more, not
    crossed after all, or prices not live: a stale feed fills nothing).

    One transaction, with the portfolio's row and then the orders' rows locked, so each order moves its
    status, the cash and the position together and fills at most once whoever else tries (a cancel,
    another engine); a refused fill is undone alone (a savepoint) and the order rejected. Orders in
    ``released`` (all those filling at the same tick) do not hold cash from each other
    (``services.fill``); they fill oldest first.
    """
    now = now or timezone.now()
    results: dict[int, Order | None] = dict.fromkeys((order_id for order_id, _ in crossed), None)
    if not market_prices.is_live():
        return results
    # Neither these orders nor the others filling at this tick hold cash from each other; while the
    # portfolio is locked no other order can start holding any, so what the rest hold is read once.
    excluding = frozenset({*released, *results})
    with transaction.atomic():
        portfolio = Portfolio.objects.select_for_update().filter(pk=portfolio_id).first()
        if portfolio is None:
            return results
        held = _reserved_cash(portfolio, excluding)
        open_orders = {
            order.pk: order
            for order in Order.objects.select_for_update().filter(
                pk__in=list(results), portfolio_id=portfolio_id, status=Order.Status.OPEN
            )
        }
        filled_any = False
        for order_id, price in sorted(crossed):
            order = open_orders.get(order_id)
            if order is None:
                continue
            order.portfolio = portfolio
            if order.expires_at is not None and order.expires_at <= now:
                order.status, order.reason, order.updated_at = Order.Status.EXPIRED, EXPIRED_REASON, now
                order.save(update_fields=["status", "reason", "updated_at"])
            elif not _apply_price(
                order, portfolio, price, excluding, now=now, refuse=False, held_cash=held, snapshot=False
            ):
                continue
            filled_any = filled_any or order.status == Order.Status.FILLED
            _changed(order, tell_engines=False)
            results[order_id] = order
        if filled_any:
            record_snapshot_after_trade(portfolio)
    return results


def _apply_price(
    order: Order,
    portfolio: Portfolio,
    price: Decimal,
    excluding: frozenset[int],
    now,
    refuse: bool,
    held_cash: Decimal | None = None,
    snapshot: bool = True,
) -> bool:
    """Fill or trigger ``order`` (open, its portfolio locked) at ``price``; False when it does neither.

    ``excluding`` and ``held_cash`` go to ``services.fill``. ``refuse``: a failing fill raises
    (placing) instead of rejecting the order (a later tick).
    """
    result = conditions.outcome(
        order.side, order.type, order.limit_price, order.stop_price, order.triggered_at is not None, price
    )
    if not (result.triggers or result.fills):
        return False
    if result.triggers:
        order.triggered_at = now
    if result.fills:
        try:
            with transaction.atomic():
                trade = fill(
                    portfolio,
                    order.ticker,
                    order.side,
                    order.quantity,
                    price,
                    excluding=excluding,
                    held_cash=held_cash,
                    snapshot=snapshot,
                )
        except TradeRefused as exc:
            if refuse:
                raise
            portfolio.refresh_from_db(fields=["cash"])  # fill may have changed it before refusing
            order.status, order.reason = Order.Status.REJECTED, _reason(str(exc))
            logger.info("order %s rejected at %s: %s", order.pk, format_price(price), exc)
        else:
            order.status, order.fill_price, order.filled_at, order.trade = (
                Order.Status.FILLED,
                price,
                trade.executed_at,
                trade,
            )
    order.updated_at = now
    order.save(
        update_fields=["status", "reason", "fill_price", "filled_at", "trade", "triggered_at", "updated_at"]
    )
    return True


def _reason(message: str) -> str:
    return message if len(message) <= 200 else message[:199] + "…"


def _changed(order: Order, tell_engines: bool = True) -> None:
    """After the commit: the user's sockets, the order engine (unless the engine made the change
    itself), the feed's ticker set hear of it."""
    transaction.on_commit(partial(events.order_changed, order), robust=True)
    if tell_engines:
        transaction.on_commit(partial(sync.orders_changed, [order.pk]), robust=True)
    if order.status != Order.Status.FILLED:
        # A fill's ticker stays referenced by the position, or the position's deletion re-counts it.
        transaction.on_commit(partial(demand.tickers_changed, [order.ticker]), robust=True)
