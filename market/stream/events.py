"""What the price stream needs from outside the market layer: default subscriptions and user events.

(``MARKET_STREAM_TICKERS``: see ``market.hooks``.)

``notify_user(user_id, payload)`` is the rare path: a frame for every open stream socket of one user,
in every server process, through a channel-layer group per user. Ticks never go this way.
"""

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from .. import hooks
from ..seed_prices import DEFAULT_TICKERS
from ..tickers import InvalidTicker, normalize_ticker

logger = logging.getLogger(__name__)

USER_EVENT = "stream.event"  # channel-layer message type; the consumer's ``stream_event`` handles it

_background: set[asyncio.Task] = set()


def user_group(user_id: int) -> str:
    """The channel-layer group holding every open stream socket of one user."""
    return f"stream.user.{int(user_id)}"


def notify_user(user_id: int, payload: dict) -> None:
    """Send ``payload`` as a frame to every open stream socket of this user, in every server process.

    ``payload`` is a JSON-able dict with a ``"type"`` (e.g. ``{"type": "watchlist", "name": ...,
    "tickers": [...]}``). Callable from sync code (e.g. a ``transaction.on_commit`` callback) and from
    the event loop (then it is scheduled and returns at once). Delivery problems are logged, never
    raised: a user event must not break the change that caused it.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        raise ValueError('a stream event must be a dict with a "type"')
    layer = get_channel_layer()
    if layer is None:
        return
    group, message = user_group(user_id), {"type": USER_EVENT, "payload": payload}
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is None:
        try:
            async_to_sync(layer.group_send)(group, message)
        except Exception:
            logger.exception("could not send a stream event to user %s", user_id)
        return
    task = loop.create_task(_group_send(layer, group, message, user_id))
    _background.add(task)
    task.add_done_callback(_background.discard)


async def _group_send(layer, group: str, message: dict, user_id: int) -> None:
    try:
        await layer.group_send(group, message)
    except Exception:
        logger.exception("could not send a stream event to user %s", user_id)


def stream_tickers_for(user) -> list[str]:
    """The default subscription of ``user`` (anonymous or None: the default ten), normalised.

    Asks the hook ``settings.MARKET_STREAM_TICKERS`` (the user's watchlist and position tickers); if the
    hook fails, the default ten, so a database hiccup never refuses a connection.
    """
    hook = hooks.stream_tickers()
    if hook is None:
        return list(DEFAULT_TICKERS)
    if user is None:
        from django.contrib.auth.models import AnonymousUser

        user = AnonymousUser()
    try:
        raw = hook(user)
    except Exception:
        logger.exception("MARKET_STREAM_TICKERS hook failed; streaming the default tickers")
        return list(DEFAULT_TICKERS)
    tickers: dict[str, None] = {}
    for item in raw:
        try:
            tickers[normalize_ticker(item)] = None
        except InvalidTicker:
            logger.warning("MARKET_STREAM_TICKERS returned an invalid ticker %r; skipped", item)
    return list(tickers)


async def astream_tickers_for(user) -> list[str]:
    """``stream_tickers_for`` from async code (the hook reads the database in a thread)."""
    return await database_sync_to_async(stream_tickers_for)(user)
