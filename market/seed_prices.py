"""Start prices and GBM parameters of the default tickers (SIMULATOR.md)."""

SEED_PRICES: dict[str, float] = {
    "AAPL": 190.0,
    "GOOGL": 175.0,
    "MSFT": 420.0,
    "AMZN": 185.0,
    "TSLA": 250.0,
    "NVDA": 800.0,
    "META": 500.0,
    "JPM": 195.0,
    "V": 280.0,
    "NFLX": 600.0,
}

# Company names for ticker suggestions: the default ten and other widely held US stocks.
COMPANY_NAMES: dict[str, str] = {
    "AAPL": "Apple Inc.",
    "GOOGL": "Alphabet Inc. (Class A)",
    "MSFT": "Microsoft Corporation",
    "AMZN": "Amazon.com, Inc.",
    "TSLA": "Tesla, Inc.",
    "NVDA": "NVIDIA Corporation",
    "META": "Meta Platforms, Inc.",
    "JPM": "JPMorgan Chase & Co.",
    "V": "Visa Inc.",
    "NFLX": "Netflix, Inc.",
    "GOOG": "Alphabet Inc. (Class C)",
    "BRK.B": "Berkshire Hathaway Inc. (Class B)",
    "AMD": "Advanced Micro Devices, Inc.",
    "INTC": "Intel Corporation",
    "ORCL": "Oracle Corporation",
    "IBM": "International Business Machines Corporation",
    "CRM": "Salesforce, Inc.",
    "ADBE": "Adobe Inc.",
    "AVGO": "Broadcom Inc.",
    "PLTR": "Palantir Technologies Inc.",
    "UBER": "Uber Technologies, Inc.",
    "DIS": "The Walt Disney Company",
    "KO": "The Coca-Cola Company",
    "PEP": "PepsiCo, Inc.",
    "WMT": "Walmart Inc.",
    "COST": "Costco Wholesale Corporation",
    "NKE": "NIKE, Inc.",
    "SBUX": "Starbucks Corporation",
    "MCD": "McDonald's Corporation",
    "BAC": "Bank of America Corporation",
    "GS": "The Goldman Sachs Group, Inc.",
    "MA": "Mastercard Incorporated",
    "XOM": "Exxon Mobil Corporation",
    "JNJ": "Johnson & Johnson",
    "PG": "The Procter & Gamble Company",
}

# ticker -> (sigma: annual volatility, mu: annual drift)
TICKER_PARAMS: dict[str, tuple[float, float]] = {
    "AAPL": (0.22, 0.05),
    "GOOGL": (0.25, 0.05),
    "MSFT": (0.20, 0.05),
    "AMZN": (0.28, 0.05),
    "TSLA": (0.50, 0.03),
    "NVDA": (0.40, 0.08),
    "META": (0.30, 0.05),
    "JPM": (0.18, 0.04),
    "V": (0.17, 0.04),
    "NFLX": (0.35, 0.05),
}

DEFAULT_PARAMS: tuple[float, float] = (0.25, 0.05)
UNKNOWN_PRICE_RANGE: tuple[float, float] = (50.0, 300.0)

# The default watchlist, in display order; the feed always tracks these (the public dashboard).
DEFAULT_TICKERS: tuple[str, ...] = tuple(SEED_PRICES)

TECH_GROUP = frozenset({"AAPL", "GOOGL", "MSFT", "AMZN", "META", "NVDA", "NFLX"})
FINANCE_GROUP = frozenset({"JPM", "V"})
INTRA_TECH_CORRELATION = 0.6
INTRA_FINANCE_CORRELATION = 0.5
BASE_CORRELATION = 0.3  # TSLA with anything, cross-group and unknown pairs
