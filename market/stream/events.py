"""What the price stream needs from outside the market layer: default subscriptions and user events.

(``MARKET_STREAM_TICKERS``: see ``market.hooks``.)

``notify_user(user_id, payload)`` is the rare path: a frame for every open stream socket of one user,
in every server process. It crosses the channel layer once per process, like ticks: one message to
the group ``EVENTS_GROUP``, which each server process follows with one task (``follow_user_events``,
started by the first logged-in socket), handing the event to its hub, which sends it to that user's
sockets there. A socket itself holds no channel-layer channel, so neither a dead ``runfeed`` nor a
Redis that went away can end it. With the in-memory layer (one process) the event goes straight to
this process's hub.
"""

import asyncio
import logging

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from .. import hooks
from ..background import run_soon
from ..external.control import describe, is_shared
from ..seed_prices import DEFAULT_TICKERS
from ..tickers import InvalidTicker, normalize_ticker
from .hub import get_hub

logger = logging.getLogger(__name__)

EVENTS_GROUP = "stream.user-events"
USER_EVENT = "stream.user_event"  # the channel-layer message type
MEMBERSHIP_REFRESH = 5.0  # the follower re-joins the group this often (a restarted Redis forgot it)
RETRY_MIN, RETRY_MAX = 0.5, 5.0


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
    if not is_shared(layer):
        get_hub().deliver_event_soon(int(user_id), payload)  # one process: its hub has every socket
        return
    run_soon(_group_send, layer, {"type": USER_EVENT, "user": int(user_id), "payload": payload})


async def _group_send(layer, message: dict) -> None:
    try:
        await layer.group_send(EVENTS_GROUP, message)
    except Exception as exc:
        logger.warning("could not send a stream event to user %s (%s)", message["user"], describe(exc))


_followers: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}


def follow_user_events() -> None:
    """Make this process follow every server's user events, once per event loop (call in the loop).

    Nothing to do with the in-memory layer, where ``notify_user`` delivers in-process.
    """
    if not is_shared(get_channel_layer()):
        return
    loop = asyncio.get_running_loop()
    for other in [other for other in _followers if other.is_closed()]:
        del _followers[other]
    task = _followers.get(loop)
    if task is None or task.done():
        _followers[loop] = loop.create_task(_follow_forever(), name="stream-user-events")


async def _follow_forever() -> None:
    """Hand each user event to this process's hub; reconnect with back-off whenever the layer fails."""
    delay, failures = RETRY_MIN, 0
    while True:
        layer = get_channel_layer()
        try:
            channel = await layer.new_channel()
            await layer.group_add(EVENTS_GROUP, channel)
            if failures:
                logger.info("following user events again")
            failures, delay = 0, RETRY_MIN
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(_keep_membership(layer, channel))
                tasks.create_task(_receive_forever(layer, channel))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures += 1
            if failures == 1:
                logger.warning("lost the user events (%s); reconnecting with back-off", describe(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)


async def _keep_membership(layer, channel: str) -> None:
    while True:
        await asyncio.sleep(MEMBERSHIP_REFRESH)
        await layer.group_add(EVENTS_GROUP, channel)


async def _receive_forever(layer, channel: str) -> None:
    while True:
        message = await layer.receive(channel)
        user, payload = message.get("user"), message.get("payload")
        if message.get("type") != USER_EVENT or not isinstance(user, int) or not isinstance(payload, dict):
            logger.warning("ignored a malformed user event: %r", str(message)[:200])
            continue
        try:
            get_hub().deliver_event(user, payload)
        except Exception:
            logger.exception("could not hand a user event to this process's sockets")


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
