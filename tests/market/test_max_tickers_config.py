"""MARKET_MAX_TICKERS: read and validated like the other market variables (market.config)."""

import pytest

from market import config


def test_the_feed_tracks_at_most_two_thousand_tickers_by_default(monkeypatch):
    monkeypatch.delenv("MARKET_MAX_TICKERS", raising=False)
    assert config.max_tickers() == 2000


def test_market_max_tickers_is_read_at_call_time(monkeypatch):
    monkeypatch.setenv("MARKET_MAX_TICKERS", " 500 ")
    assert config.max_tickers() == 500


@pytest.mark.parametrize("raw", ["many", "1.5", "-1", "9", "1e3"])
def test_a_bad_market_max_tickers_is_one_line_naming_it(monkeypatch, raw):
    monkeypatch.setenv("MARKET_MAX_TICKERS", raw)
    with pytest.raises(config.ConfigError, match="MARKET_MAX_TICKERS"):
        config.max_tickers()
    assert [problem.split()[0] for problem in config.validate()] == ["MARKET_MAX_TICKERS"]
