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
