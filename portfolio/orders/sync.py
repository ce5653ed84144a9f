"""How a committed order change reaches the order engine, wherever it runs.

The engine runs in the process that owns the source: an embedded server (the change is then in this
very process: ``note_changed`` on the local engine) or ``runfeed`` (the change was made in a server
process: a message on the market's channel layer, ``ORDERS_CHANNEL``, which the engine reads). Either
way the engine re-reads those orders from the database, so a duplicate or late message changes nothing,
and its periodic re-read of recently changed orders repairs a lost one.
"""

import logging
import threading
from collections.abc import Iterable

from market.background import run_soon
from market.external.control import describe, feed_layer, is_shared

logger = logging.getLogger(__name__)

ORDERS_CHANNEL = "portfolio.orders"
ORDERS_CHANGED = "portfolio.orders.changed"
_MAX_IDS = 10_000

_engines: list = []
_engines_lock = threading.Lock()


def register(engine) -> None:
    """``engine`` runs in this process: changes go to it directly."""
    with _engines_lock:
        if engine not in _engines:
            _engines.append(engine)


def unregister(engine) -> None:
    with _engines_lock:
        if engine in _engines:
            _engines.remove(engine)


def local_engines() -> list:
    """The engines running in this process. One whose event loop has closed without stopping it (a
    test's loop, a server that died) is dropped here, its worker stopped."""
    with _engines_lock:
        dead = [engine for engine in _engines if not engine.alive]
        for engine in dead:
            _engines.remove(engine)
        engines = list(_engines)
    for engine in dead:
        engine.close()
    return engines


def orders_changed(order_ids: Iterable[int]) -> None:
    """These orders changed (after a commit). Never raises."""
    ids = sorted({int(pk) for pk in order_ids})
    if not ids:
        return
    engines = local_engines()
    if engines:
        for engine in engines:
            engine.note_changed(ids)
        return
    layer = feed_layer()
    if not is_shared(layer):
        return  # no engine anywhere that a message could reach (the periodic re-read covers others)
    run_soon(_send, layer, {"type": ORDERS_CHANGED, "ids": ids})


async def _send(layer, message: dict) -> None:
    try:
        await layer.send(ORDERS_CHANNEL, message)
    except Exception as exc:
        logger.warning(
            "could not tell the order engine of %s (%s); its re-read will", message["ids"], describe(exc)
        )


async def receive_changed(layer) -> list[int]:
    """Wait for the next message on ``ORDERS_CHANNEL`` (the engine in ``runfeed``); the order ids it names."""
    while True:
        message = await layer.receive(ORDERS_CHANNEL)
        raw = message.get("ids") if message.get("type") == ORDERS_CHANGED else None
        if isinstance(raw, list):
            ids = [pk for pk in raw[:_MAX_IDS] if isinstance(pk, int) and not isinstance(pk, bool) and pk > 0]
            if ids:
                return ids
            continue
        logger.warning("ignored a malformed order message: %r", str(message)[:200])
