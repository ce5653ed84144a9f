"""Reads of the portfolio app (placeholder until the portfolio issue lands)."""


def ticker_demand(tickers=None) -> dict[str, int]:
    return {}


def stream_tickers_for_user(user) -> list[str]:
    from market.seed_prices import DEFAULT_TICKERS

    return list(DEFAULT_TICKERS)
