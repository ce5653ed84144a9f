"""What the portfolio app tells a user's open price-stream sockets after a change commits.

Frames (sent through ``market.stream.events.notify_user``; best effort, never raising):

- ``{"type": "watchlist", "name": ..., "tickers": [...]}`` after the default watchlist changes
  (entries added or removed, renamed, another list made the default): the dashboard redraws its rows;
- ``{"type": "trade", "trade": {...}, "cash": "..."}`` after a trade: the portfolio page refreshes,
  and the socket's default subscription picks up a newly opened position.
"""

import logging

from .models import Watchlist
from .money import format_money, format_price, format_quantity

logger = logging.getLogger(__name__)


def notify_user(user_id: int, payload: dict) -> None:
    """Hand ``payload`` to the stream, tolerating a stream module that is missing or failing."""
    try:
        from market.stream.events import notify_user as stream_notify_user
    except ImportError:
        return
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
