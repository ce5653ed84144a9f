"""What crosses the channel layer between ``runfeed`` and the server processes, and how.

- Ticks: ``runfeed``'s ``TickPublisher`` sends one ``TICK`` message per tick to the group
  ``TICKS_GROUP``; each server's ``MirrorSource`` is in that group (``market.external.mirror``).
- Re-checks: servers ask ``runfeed`` to re-read the references of some tickers with a ``RECHECK``
  message on the named channel ``CONTROL_CHANNEL`` (``request_recheck``). ``runfeed`` re-reads their
  counts from the database, so a duplicate or reordered message changes nothing and its periodic
  reconcile repairs a lost one.
- History: a server whose history endpoint lacks bars asks ``runfeed`` (which owns the Massive
  source and its rate budget) to fetch them, with a ``HISTORY`` message on the same channel
  (``request_history``); a duplicate only queues what is already queued, and a lost one is asked for
  again by the next request of the endpoint.
- Directory: a server asked for ticker suggestions asks ``runfeed`` to load the ticker directory
  (``market.directory``) with a ``DIRECTORY`` message (``request_directory``); a load already done
  within a day is not redone.

Both use the channel layer ``LAYER_ALIAS`` ("market" in ``CHANNEL_LAYERS``, channels-redis on the same
Redis as the default layer): a layer of its own, whose ``group_expiry`` is short, so a killed server
that stopped re-joining the tick group (followers re-join every few seconds) drops out of it within
``group_expiry`` seconds instead of getting every tick for a day.
"""

import contextlib
import logging
from collections.abc import Iterable

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer, get_channel_layer

from ..background import run_soon
from ..tickers import InvalidTicker, normalize_ticker

logger = logging.getLogger("market.external")

LAYER_ALIAS = "market"
GROUP_EXPIRY = 30  # seconds; a follower re-joins every MEMBERSHIP_REFRESH seconds (mirror.py)
TICKS_GROUP = "market.ticks"
CONTROL_CHANNEL = "market.control"
TICK = "market.tick"
RECHECK = "market.recheck"
HISTORY = "market.history"
DIRECTORY = "market.directory"
HISTORY_KINDS = ("minute", "day")


def feed_layer():
    """The channel layer that carries ticks and re-checks."""
    return get_channel_layer(LAYER_ALIAS)


def is_shared(layer) -> bool:
    """False for the in-memory layer (or none), which no other process can see."""
    return layer is not None and not isinstance(layer, InMemoryChannelLayer)


def describe(exc: BaseException) -> str:
    """One line naming an error (the first of an exception group)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def valid_tickers(raw: Iterable) -> list[str]:
    tickers = set()
    for item in raw:
        with contextlib.suppress(InvalidTicker):
            tickers.add(normalize_ticker(item))
    return sorted(tickers)


async def request_recheck(tickers: Iterable[str], layer=None) -> bool:
    """Ask ``runfeed`` to re-check these tickers' references. Never raises; False when not sent."""
    tickers = valid_tickers(tickers)
    layer = layer if layer is not None else feed_layer()
    if not tickers or layer is None:
        return False
    try:
        await layer.send(CONTROL_CHANNEL, {"type": RECHECK, "tickers": tickers})
    except ChannelFull:
        logger.warning("runfeed is not reading its control channel; its reconcile will pick up %s", tickers)
        return False
    except Exception as exc:
        logger.warning(
            "could not ask runfeed to re-check %s (%s); its reconcile will", tickers, describe(exc)
        )
        return False
    return True


def request_recheck_soon(tickers: Iterable[str], layer=None) -> None:
    """``request_recheck`` from sync code in any thread (e.g. a commit in ``manage.py shell``)."""
    run_soon(request_recheck, list(tickers), layer)


def request_history(ticker: str, kind: str, since: int, layer=None) -> bool:
    """Ask ``runfeed`` to fetch ``kind`` bars of ``ticker`` from ``since`` on, from sync code in any
    thread (the history endpoint). Never raises; False when it could not be sent."""
    try:
        message = {"type": HISTORY, "ticker": normalize_ticker(ticker), "kind": kind, "since": int(since)}
    except (InvalidTicker, TypeError, ValueError):
        return False
    if kind not in HISTORY_KINDS:
        return False
    layer = layer if layer is not None else feed_layer()

    async def send() -> bool:
        try:
            await layer.send(CONTROL_CHANNEL, message)
        except Exception as exc:
            logger.warning("could not ask runfeed for the history of %s (%s)", ticker, describe(exc))
            return False
        return True

    return run_soon(send) is not False  # once scheduled in a running loop, taken as sent


def request_directory(layer=None) -> bool:
    """Ask ``runfeed`` to load the ticker directory (``market.directory``), from sync code in any thread.
    Never raises; False when it could not be sent."""
    layer = layer if layer is not None else feed_layer()

    async def send() -> bool:
        try:
            await layer.send(CONTROL_CHANNEL, {"type": DIRECTORY})
        except Exception as exc:
            logger.warning("could not ask runfeed for the ticker directory (%s)", describe(exc))
            return False
        return True

    return run_soon(send) is not False  # once scheduled in a running loop, taken as sent


async def receive_control(layer) -> tuple[str, object]:
    """Wait for the next valid control message (``runfeed``): ``("recheck", [tickers])``,
    ``("history", (ticker, kind, since))`` or ``("directory", None)``; malformed ones are logged and
    skipped."""
    while True:
        message = await layer.receive(CONTROL_CHANNEL)
        kind = message.get("type")
        if kind == RECHECK and isinstance(message.get("tickers"), list):
            return "recheck", valid_tickers(message["tickers"][:100_000])
        if kind == DIRECTORY:
            return "directory", None
        if kind == HISTORY:
            try:
                ticker = normalize_ticker(message["ticker"])
                since = int(message["since"])
                bars = message["kind"]
            except (InvalidTicker, KeyError, TypeError, ValueError):
                bars = None
            if bars in HISTORY_KINDS:
                return "history", (ticker, bars, since)
        logger.warning("ignored a malformed control message: %r", str(message)[:200])


async def receive_recheck(layer) -> list[str]:
    """Wait for the next re-check message and return the valid tickers it names (others are skipped)."""
    while True:
        kind, payload = await receive_control(layer)
        if kind == "recheck":
            return payload
