"""The ticker rule that holds everywhere: 1 to 10 characters of A-Z, 0-9, '.' or '-', upper-cased."""

import re

TICKER_PATTERN = re.compile(r"[A-Z0-9.\-]{1,10}")
MAX_TICKERS_PER_MESSAGE = 500


class InvalidTicker(ValueError):
    """A ticker that breaks the pattern; the message says why, for the user."""


def normalize_ticker(raw) -> str:
    """Strip and upper-case ``raw``; raise ``InvalidTicker`` with a clear message if it is not a ticker."""
    if not isinstance(raw, str):
        raise InvalidTicker(f"A ticker must be text, got {type(raw).__name__}.")
    ticker = raw.strip().upper()
    if not ticker:
        raise InvalidTicker("A ticker is required.")
    if len(ticker) > 10:
        raise InvalidTicker(f"Ticker {ticker[:20]!r} is too long: at most 10 characters.")
    if not TICKER_PATTERN.fullmatch(ticker):
        raise InvalidTicker(f"Ticker {ticker!r} is not valid: use 1 to 10 letters, digits, '.' or '-'.")
    return ticker


def is_valid_ticker(raw) -> bool:
    try:
        normalize_ticker(raw)
    except InvalidTicker:
        return False
    return True
