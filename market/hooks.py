"""The settings through which the market app learns what other apps need, without importing them.

- ``MARKET_TICKER_DEMAND``: a callable ``(tickers: list[str] | None) -> {ticker: references}``
  (``None`` asks for every referenced ticker); the feed tracks the default ten plus what it reports.
- ``MARKET_STREAM_TICKERS``: a callable ``(user) -> [ticker, ...]``, a stream socket's default set.
- ``MARKET_PERIODIC_JOBS``: ``[(callable, seconds), ...]`` run by the process that owns the source.
- ``MARKET_TICK_LISTENERS``: ``[factory, ...]``, each returning a ``market.listeners.TickListener``.

Each entry is a dotted path (or the object itself). They are imported once and cached until the
setting changes; ``problems()`` imports them all so that a typo is a named error at start-up
(``market.checks``, and ``finally_site.asgi`` for daphne), never a silent fallback later.
"""

import functools
from collections.abc import Callable

from django.conf import settings
from django.utils.module_loading import import_string

HOOK_SETTINGS = (
    "MARKET_TICKER_DEMAND",
    "MARKET_STREAM_TICKERS",
    "MARKET_PERIODIC_JOBS",
    "MARKET_TICK_LISTENERS",
)


class HookError(ValueError):
    """A hook setting that cannot be used; the message names the setting and why."""


def _resolve(setting: str, value) -> Callable:
    if callable(value):
        return value
    if not isinstance(value, str):
        raise HookError(f"{setting}: expected a dotted path or a callable, got {value!r}")
    try:
        target = import_string(value)
    except ImportError as exc:
        raise HookError(f"{setting}: cannot import {value!r} ({exc})") from None
    if not callable(target):
        raise HookError(f"{setting}: {value!r} is not callable")
    return target


@functools.cache
def ticker_demand() -> Callable | None:
    path = getattr(settings, "MARKET_TICKER_DEMAND", None)
    return _resolve("MARKET_TICKER_DEMAND", path) if path else None


@functools.cache
def stream_tickers() -> Callable | None:
    path = getattr(settings, "MARKET_STREAM_TICKERS", None)
    return _resolve("MARKET_STREAM_TICKERS", path) if path else None


@functools.cache
def periodic_jobs() -> tuple[tuple[str, Callable, float], ...]:
    """``(name, callable, seconds)`` for each ``MARKET_PERIODIC_JOBS`` entry."""
    jobs = []
    for entry in getattr(settings, "MARKET_PERIODIC_JOBS", None) or ():
        try:
            path, seconds = entry
            seconds = float(seconds)
        except (TypeError, ValueError):
            raise HookError(f"MARKET_PERIODIC_JOBS: expected (dotted path, seconds), got {entry!r}") from None
        if not seconds > 0:
            raise HookError(f"MARKET_PERIODIC_JOBS: {path!r} needs a positive number of seconds")
        job = _resolve("MARKET_PERIODIC_JOBS", path)
        jobs.append(
            (path if isinstance(path, str) else getattr(job, "__qualname__", repr(job)), job, seconds)
        )
    return tuple(jobs)


@functools.cache
def tick_listeners() -> tuple[Callable, ...]:
    """The factories of ``MARKET_TICK_LISTENERS``."""
    return tuple(
        _resolve("MARKET_TICK_LISTENERS", path)
        for path in getattr(settings, "MARKET_TICK_LISTENERS", None) or ()
    )


def problems() -> list[str]:
    """One line per hook setting that cannot be used (imports every hook)."""
    found = []
    for reader in (ticker_demand, stream_tickers, periodic_jobs, tick_listeners):
        try:
            reader()
        except HookError as exc:
            found.append(str(exc))
    return found


def clear() -> None:
    for reader in (ticker_demand, stream_tickers, periodic_jobs, tick_listeners):
        reader.cache_clear()


def setting_changed(setting, **kwargs) -> None:
    """Receiver of Django's ``setting_changed`` (connected in ``MarketConfig.ready``)."""
    if setting in HOOK_SETTINGS:
        clear()
