"""When an order triggers and fills at a price: the rule of CONTRACT.md "Orders", in one place.

- buy limit: price <= limit; sell limit: price >= limit;
- buy stop: price >= stop; sell stop: price <= stop (then it fills like a market order, at that price);
- stop-limit: its stop triggers as a stop order's would, and it then is a limit order at its limit price
  (filling at once when that price is marketable, else resting).

Prices are compared as given (Decimals in the services, floats in the in-memory book); a fill is at the
tick's price, which these rules keep at or better than the limit.
"""

from dataclasses import dataclass

BUY, SELL = "buy", "sell"
MARKET, LIMIT, STOP, STOP_LIMIT = "market", "limit", "stop", "stop_limit"
# A trigger fires when the price is at or below its level ("down"), or at or above it ("up").
DOWN, UP = "down", "up"


@dataclass(frozen=True, slots=True)
class Outcome:
    triggers: bool  # a stop-limit's stop fires now (it then rests as a limit unless it also fills)
    fills: bool


NOTHING = Outcome(False, False)


def trigger(side: str, type: str, limit, stop, triggered: bool) -> tuple[str, object]:
    """The one level an open order waits for now, as ``(DOWN or UP, level)``."""
    if type == LIMIT or (type == STOP_LIMIT and triggered):
        return (DOWN, limit) if side == BUY else (UP, limit)
    if type in (STOP, STOP_LIMIT):
        return (UP, stop) if side == BUY else (DOWN, stop)
    raise ValueError(f"a {type} order does not wait for a price")


def _reached(direction: str, level, price) -> bool:
    return price <= level if direction == DOWN else price >= level


def outcome(side: str, type: str, limit, stop, triggered: bool, price) -> Outcome:
    """What ``price`` does to an open order: trigger its stop, fill it, both, or nothing."""
    if type == MARKET:
        return Outcome(False, True)
    if type == STOP_LIMIT and not triggered:
        if not _reached(*trigger(side, type, limit, stop, False), price):
            return NOTHING
        return Outcome(True, _reached(*trigger(side, type, limit, stop, True), price))
    return Outcome(False, _reached(*trigger(side, type, limit, stop, triggered), price))
