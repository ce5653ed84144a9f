"""selectors.ticker_suggestions: what a ticker box suggests as one types."""

from market.seed_prices import COMPANY_NAMES, DEFAULT_TICKERS
from portfolio.selectors import ticker_suggestions

NAMES = {"AAPL": "Apple Inc.", "AMD": "Advanced Micro Devices, Inc.", "KO": "The Coca-Cola Company"}
PRICES = {"AAPL": 190.12, "AMZN": 185.0, "NEWCO": None}


def suggest(query, tracked=("AAPL", "AMZN", "NEWCO"), **options):
    return ticker_suggestions(query, tracked, PRICES.get, **{"names": NAMES, **options})


def tickers(suggestions):
    return [row["ticker"] for row in suggestions]


def test_a_ticker_prefix_suggests_the_tickers_starting_so_with_name_and_last_price():
    assert suggest("a") == [
        {"ticker": "AAPL", "name": "Apple Inc.", "price": 190.12},
        {"ticker": "AMZN", "name": None, "price": 185.0},
        {"ticker": "AMD", "name": "Advanced Micro Devices, Inc.", "price": None},
    ]


def test_the_query_ignores_case_and_surrounding_spaces():
    assert tickers(suggest("  aMd ")) == ["AMD"]


def test_words_of_the_company_name_match_from_their_start():
    assert tickers(suggest("micro")) == ["AMD"]
    assert tickers(suggest("coca")) == ["KO"]
    assert tickers(suggest("COLA")) == ["KO"]
    assert tickers(suggest("icro")) == []


def test_every_word_of_the_query_must_start_a_word_of_the_name():
    assert tickers(suggest("advanced devices")) == ["AMD"]
    assert tickers(suggest("advanced apple")) == []


def test_the_ticker_itself_comes_first_then_tickers_starting_so_then_name_matches():
    names = {"KO": "The Coca-Cola Company", "KOF": "Coca-Cola FEMSA", "MKO": "Kola Mining"}
    found = ticker_suggestions("ko", [], lambda ticker: None, names=names)
    assert tickers(found) == ["KO", "KOF", "MKO"]


def test_tracked_tickers_come_before_untracked_ones_of_the_same_kind():
    names = {"AB": "Ab", "AC": "Ac"}
    assert tickers(ticker_suggestions("a", ["AC"], {"AC": 1.0}.get, names=names)) == ["AC", "AB"]


def test_at_most_limit_suggestions_are_made():
    tracked = [f"A{n:02}" for n in range(30)]
    assert len(ticker_suggestions("a", tracked, lambda ticker: 1.0)) == 10
    assert len(ticker_suggestions("a", tracked, lambda ticker: 1.0, limit=3)) == 3


def test_a_blank_query_suggests_nothing():
    assert suggest("") == []
    assert suggest("   ") == []


def test_a_tracked_ticker_without_a_price_yet_has_a_null_price():
    assert suggest("newco") == [{"ticker": "NEWCO", "name": None, "price": None}]


def test_another_source_joins_with_its_own_names():
    found = suggest("pal", more=[("PLTR", "Palantir Technologies Inc."), ("AAPL", "Another name")])
    assert found == [{"ticker": "PLTR", "name": "Palantir Technologies Inc.", "price": None}]
    assert suggest("aapl", more=[("AAPL", "Another name")])[0]["name"] == "Apple Inc."


def test_text_that_is_no_ticker_and_no_word_suggests_nothing():
    assert suggest("$$") == []
    assert suggest("%") == []


def test_the_default_ten_have_company_names():
    assert set(DEFAULT_TICKERS) <= set(COMPANY_NAMES)
    assert all(COMPANY_NAMES[ticker].strip() for ticker in DEFAULT_TICKERS)
