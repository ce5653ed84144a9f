"""The market app's models: ``PriceUpdate`` (the seed's dataclass, in ``market.updates``) and the ORM
models of stored market data (``market.history.models``), re-exported here so that Django finds them
in the app's ``models`` module and the seed's ``market.models.PriceUpdate`` keeps working.

Market data only: bars, the latest prices, what was fetched from Massive, and the ticker directory
(``market.directory``). Nothing about users or
money lives here (that is the portfolio app's).
"""

from .directory import TickerName
from .history.models import DailyBar, HistoryCoverage, LatestPrice, MinuteBar
from .updates import PriceUpdate, day_change_of, direction_of, make_update

__all__ = [
    "DailyBar",
    "HistoryCoverage",
    "LatestPrice",
    "MinuteBar",
    "PriceUpdate",
    "TickerName",
    "day_change_of",
    "direction_of",
    "make_update",
]
