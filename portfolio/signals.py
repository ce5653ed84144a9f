"""Signal receivers: new users get set up; committed ticker changes reach the feed and the user's sockets.

Connected in ``PortfolioConfig.ready()``. Everything that leaves the process waits for the commit
(``transaction.on_commit``), so a rolled-back change never reaches the feed. Bulk operations that skip
signals (``bulk_create``, ``QuerySet.update``) are repaired by the feed's periodic reconcile.
"""

from functools import partial

from django.db import transaction

from market import demand

from . import events, services


def set_up_new_user(sender, instance, created, raw=False, **kwargs):
    """post_save on the user model: every user, however created, gets a portfolio and a default watchlist."""
    if created and not raw:
        services.ensure_user_setup(instance)


def _ticker_reference_changed(ticker: str) -> None:
    transaction.on_commit(partial(demand.tickers_changed, [ticker]), robust=True)


def watchlist_entry_saved(sender, instance, created, raw=False, **kwargs):
    """A new entry, or one whose ticker was edited (the admin allows it): both tickers are re-counted."""
    if raw:
        return
    previous = instance.loaded_ticker
    instance.loaded_ticker = instance.ticker
    if not created and previous == instance.ticker:
        return
    for ticker in {instance.ticker, previous} - {None}:
        _ticker_reference_changed(ticker)
    transaction.on_commit(partial(events.default_watchlist_changed, instance.watchlist_id), robust=True)


def watchlist_entry_deleted(sender, instance, **kwargs):
    _ticker_reference_changed(instance.ticker)
    transaction.on_commit(partial(events.default_watchlist_changed, instance.watchlist_id), robust=True)


def watchlist_saved(sender, instance, raw=False, **kwargs):
    """A renamed default, or a list just made the default: the dashboard shows it."""
    if not raw and instance.is_default:
        transaction.on_commit(partial(events.default_watchlist_changed, instance.pk), robust=True)


def position_saved(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        _ticker_reference_changed(instance.ticker)


def position_deleted(sender, instance, **kwargs):
    _ticker_reference_changed(instance.ticker)
