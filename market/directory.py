"""The ticker directory: the tickers the market knows, with their company names, for suggestions.

With Massive, the process that owns the source (an embedded server, or ``runfeed``) loads Massive's
reference data (``list_tickers``: active US stocks, a thousand a page) into ``TickerName`` when a
ticker box first asks for suggestions (``request_directory`` on the source; a mirror passes the
request on to ``runfeed``), and again once the load is a day old. Every request waits for the plan's
spare budget (``market.massive_budget``), and only while no history backfill is waiting, so neither
the snapshot poll nor a chart someone is looking at waits for it. Any process then answers
suggestions from the database (``search``), never asking Massive per keystroke. Without Massive the
directory stays empty and suggestions come from the names the project knows.
"""

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from django.db import models
from django.db.models import Q

from .tickers import InvalidTicker, normalize_ticker

logger = logging.getLogger("market.directory")

PAGE_SIZE = 1000  # Massive's most per page
REFRESH_AFTER = 86400.0  # a load older than this is done again when asked
MAX_NAME = 200


class TickerName(models.Model):
    """A ticker Massive knows and the name of its company."""

    ticker = models.CharField(max_length=10, primary_key=True)
    name = models.CharField(max_length=MAX_NAME)
    updated_at = models.DateTimeField()

    class Meta:
        app_label = "market"
        indexes = [models.Index(fields=["updated_at"], name="tickername_updated")]

    def __str__(self) -> str:
        return f"{self.ticker}: {self.name}"


def search(query: str, limit: int = 10) -> list[tuple[str, str]]:
    """``(ticker, name)`` pairs whose ticker starts with ``query`` or whose name holds it, ignoring case."""
    query = query.strip()
    if not query:
        return []
    rows = TickerName.objects.filter(Q(ticker__startswith=query.upper()) | Q(name__icontains=query))
    return list(rows.order_by("ticker").values_list("ticker", "name")[:limit])


def loaded_at() -> float | None:
    """When the directory was last loaded (Unix seconds), or None when it is empty."""
    newest = TickerName.objects.aggregate(newest=models.Max("updated_at"))["newest"]
    return None if newest is None else newest.timestamp()


def parse_page(body: bytes) -> tuple[list[tuple[str, str]], str | None]:
    """``(ticker, name)`` pairs of a reference answer and the cursor of the next page (None at the end).

    Tickers that break the ticker rule (other markets' symbols) and nameless ones are left out. Raises
    ``MassiveInvalidResponse`` for a body that is not such an answer.
    """
    from .massive_client import MassiveInvalidResponse

    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MassiveInvalidResponse(f"Massive answered with a body that is not JSON ({exc})") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("results", []), list):
        raise MassiveInvalidResponse("Massive answered with JSON that is not a reference answer")
    names = []
    for item in payload.get("results") or []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            continue
        try:
            ticker = normalize_ticker(item.get("ticker"))
        except InvalidTicker:
            continue
        names.append((ticker, " ".join(item["name"].split())[:MAX_NAME]))
    next_url = payload.get("next_url")
    cursor = None
    if isinstance(next_url, str) and next_url:
        cursor = (parse_qs(urlsplit(next_url).query).get("cursor") or [None])[0]
    return names, cursor


class DirectoryLoader:
    """Loads the directory from Massive in a thread of its own, within the budget's spare requests.

    ``busy()`` says whether another user of the spare budget should go first (a history backfill
    waiting). ``request()`` asks for a load; one already done within ``REFRESH_AFTER`` is not redone.
    """

    def __init__(self, client, budget, busy: Callable[[], bool] = lambda: False, clock=time.time):
        self.client = client
        self.budget = budget
        self.busy = busy
        self.clock = clock
        self.loaded = 0
        self.pages = 0
        self._stop = threading.Event()
        self._wanted = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def pending(self) -> bool:
        """Whether an ask for a load waits to be looked at."""
        return self._wanted.is_set()

    def request(self) -> bool:
        self._wanted.set()
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="massive-directory", daemon=True)
            self._thread.start()
        return True

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wanted.set()
        self.budget.wake()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        from django.db import connection

        try:
            while not self._stop.is_set():
                self._wanted.wait()
                if self._stop.is_set():
                    return
                self._wanted.clear()
                try:
                    newest = loaded_at()
                    if newest is None or self.clock() - newest > REFRESH_AFTER:
                        self.load()
                except Exception as exc:
                    from .massive_client import describe_error

                    logger.warning(
                        "could not load the ticker directory (%s); it is asked for again later",
                        describe_error(exc, self.client.BASE),
                    )
                finally:
                    connection.close()
        finally:
            connection.close()

    def load(self) -> int:
        """Every page of active US stocks, stored as it comes. Returns the names stored."""
        from .massive_client import MassiveHTTPError

        started = datetime.fromtimestamp(self.clock(), UTC)
        cursor, stored = None, 0
        while not self._stop.is_set():
            while self.busy() and not self._stop.wait(1.0):
                pass  # a backfill someone waits for goes first
            if not self.budget.acquire_spare(self._stop):
                break
            try:
                response = self.client.list_tickers(
                    market="stocks",
                    active=True,
                    limit=PAGE_SIZE,
                    sort="ticker",
                    params={"cursor": cursor} if cursor else None,
                    raw=True,
                )
            except MassiveHTTPError as exc:
                if exc.status != 429:
                    raise
                self.budget.block_for(exc.retry_after)
                continue
            names, cursor = parse_page(response.data)
            _store(names, started)
            stored += len(names)
            self.pages += 1
            if cursor is None:
                break
        self.loaded += stored
        logger.info("ticker directory: %d names from Massive in %d pages", stored, self.pages)
        return stored


def _store(names: list[tuple[str, str]], when: datetime) -> None:
    TickerName.objects.bulk_create(
        [TickerName(ticker=ticker, name=name, updated_at=when) for ticker, name in names],
        update_conflicts=True,
        unique_fields=["ticker"],
        update_fields=["name", "updated_at"],
        batch_size=500,
    )
