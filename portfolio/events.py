"""What the portfolio app tells a user's open price-stream sockets after a change commits.

Frames (sent through ``market.stream.events.notify_user``; best effort, never raising):

- ``{"type": "watchlist", "name": ..., "tickers": [...]}`` after the default watchlist changes
  (entries added or removed, renamed, another list made the default): the dashboard redraws its rows;
- ``{"type": "trade", "trade": {...}, "cash": "..."}`` after a trade (an order's fill included): the
  portfolio page refreshes, and the socket's default subscription picks up a newly opened position;
- ``{"type": "order", "order": ORDER}`` after an order is placed, filled, cancelled, expired or
  rejected (ORDER as in ``/api/orders/``, ``order_payload``).
"""

import logging
import threading
from datetime import UTC

from .models import Watchlist
from .money import format_money, format_price, format_quantity


def _iso(moment) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


logger = logging.getLogger(__name__)


_thread = threading.local()


def send_from_this_thread_through(loop) -> None:
    """Frames raised in this thread are sent from ``loop`` (the order engine's worker thread hands them
    to the feed's event loop: there a send is a cheap task, here each would start an event loop)."""
    _thread.loop = loop


def notify_user(user_id: int, payload: dict) -> None:
    """Hand ``payload`` to the stream, tolerating a stream module that is missing or failing."""
    try:
        from market.stream.events import notify_user as stream_notify_user
    except ImportError:
        return
    loop = getattr(_thread, "loop", None)
    if loop is not None and not loop.is_closed():
        try:
            loop.call_soon_threadsafe(_notify, stream_notify_user, user_id, payload)
            return
        except RuntimeError:  # the loop closed meanwhile
            pass
    _notify(stream_notify_user, user_id, payload)


def _notify(stream_notify_user, user_id: int, payload: dict) -> None:
    try:
        stream_notify_user(user_id, payload)
    except Exception:
        logger.exception("could not notify user %s of %s", user_id, payload.get("type"))


def watchlist_payload(watchlist) -> dict:
    return {"type": "watchlist", "name": watchlist.name, "tickers": watchlist.tickers()}


def default_watchlist_changed(watchlist_id: int) -> None:
    """Send the current state of watchlist ``watchlist_id`` to its owner if it is their default."""
    watchlist = Watchlist.objects.filter(pk=watchlist_id, is_default=True).first()
    if watchlist is not None:
        notify_user(watchlist.user_id, watchlist_payload(watchlist))


def trade_payload(trade) -> dict:
    """A trade as JSON: decimals as strings, money to the cent."""
    return {
        "id": trade.pk,
        "ticker": trade.ticker,
        "side": trade.side,
        "quantity": format_quantity(trade.quantity),
        "price": format_price(trade.price),
        "notional": format_money(trade.notional),
        "realized_pnl": format_money(trade.realized_pnl),
        "cash_after": format_money(trade.cash_after),
        "executed_at": trade.executed_at.isoformat(),
    }


def trade_executed(user_id: int, trade) -> None:
    notify_user(
        user_id, {"type": "trade", "trade": trade_payload(trade), "cash": format_money(trade.cash_after)}
    )


def order_payload(order) -> dict:
    """An order as CONTRACT.md's ORDER: decimals as strings, null where not set, times ISO 8601 UTC."""
    return {
        "id": order.pk,
        "ticker": order.ticker,
        "side": order.side,
        "type": order.type,
        "quantity": format_quantity(order.quantity),
        "limit_price": format_price(order.limit_price),
        "stop_price": format_price(order.stop_price),
        "time_in_force": order.time_in_force,
        "status": order.status,
        "created_at": _iso(order.created_at),
        "filled_at": _iso(order.filled_at),
        "fill_price": format_price(order.fill_price),
        "reason": order.reason or None,
    }


def order_changed(order) -> None:
    """Tell the order's owner: ``{"type": "order", "order": ORDER}``."""
    notify_user(order.portfolio.user_id, {"type": "order", "order": order_payload(order)})
