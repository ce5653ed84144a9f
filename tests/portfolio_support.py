"""Helpers for the portfolio tests: users and live prices in this process's feed cache."""

import itertools

from django.contrib.auth import get_user_model

from market.feed import get_feed

_numbers = itertools.count(1)


def make_user(username: str | None = None, password: str | None = None, **fields):
    """A user made through the ORM (the post_save signal gives them a portfolio and a watchlist).

    Without ``password`` the password is unusable, which skips the deliberately slow hashing:
    log such a user in with ``client.force_login``.
    """
    username = username or f"trader{next(_numbers)}"
    return get_user_model().objects.create_user(username=username, password=password, **fields)


def set_price(ticker: str, price: float) -> None:
    """Give ``ticker`` a fresh price in the feed's cache, as the source would."""
    get_feed().cache.update(ticker, price)


def set_prices(prices: dict[str, float]) -> None:
    for ticker, price in prices.items():
        set_price(ticker, price)


def ticker_demand_closing_connection(tickers=None) -> dict[str, int]:
    """The feed's demand hook for tests: the real selector, then this worker thread closes its connection
    (the feed calls the hook in pool threads; an open connection there would block dropping the test
    database on PostgreSQL)."""
    from django.db import connection

    from portfolio.selectors import ticker_demand

    try:
        return ticker_demand(tickers)
    finally:
        connection.close()
