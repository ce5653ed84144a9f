"""History the database lacks, from Massive's aggregates: asked for by the history endpoint, fetched by
the owner of the source within the plan's rate budget, stored, and recorded as covered.

``ensure()`` runs in whichever process serves ``GET /api/history/``. With a source that has no
history to give (the simulator) it does nothing. Otherwise, when the range reaches back before what
the database holds and Massive was not yet asked for that span (``HistoryCoverage``), it asks the
source (``request_history``: Massive's source queues the fetch; a mirror passes the request on to
``runfeed`` over the control channel) and answers True: the endpoint then says ``"backfilling":
true`` and serves what the database has meanwhile. Requests are not repeated within
``ASK_AGAIN_AFTER`` seconds.
"""

import threading
import time

from ..feed import get_feed
from .models import HistoryCoverage

ASK_AGAIN_AFTER = 30.0
_asked: dict[tuple[str, str], float] = {}
_asked_lock = threading.Lock()


def ensure(ticker: str, kind: str, since: int, bars: list, now: float | None = None) -> bool:
    """Whether ``kind`` bars of ``ticker`` from ``since`` on are being fetched (asking for them if needed).

    ``bars`` are what the database gave for the range (``[t, ...]`` rows, oldest first).
    """
    feed = get_feed()
    if feed.source_name != "massive":
        return False
    now = time.time() if now is None else now
    slack = 86400 if kind == "day" else 3600  # a holiday or the first hour of a range is no gap
    if bars and bars[0][0] <= since + slack:
        return False
    coverage = (
        HistoryCoverage.objects.filter(ticker=ticker, kind=kind).values_list("since", flat=True).first()
    )
    if coverage is not None and coverage <= since + slack:
        return False
    key = (ticker, kind)
    with _asked_lock:
        asked = _asked.get(key)
        if asked is not None and now - asked < ASK_AGAIN_AFTER:
            return True
        _asked[key] = now
    if not feed.source.request_history(ticker, kind, int(since)):
        with _asked_lock:
            _asked.pop(key, None)
        return False
    return True


def forget_requests() -> None:
    """Forget which fetches were asked for (tests)."""
    with _asked_lock:
        _asked.clear()
