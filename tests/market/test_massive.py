"""The Massive poller against a real local HTTP server, through the real ``massive.RESTClient``."""

import asyncio
import itertools
import json
import logging
import random
import statistics
import time
import urllib.error
import urllib.request
from email.utils import formatdate

import pytest

from market.cache import PriceCache
from market.factory import create_market_data_source
from market.massive_client import MassiveDataSource, parse_retry_after, ticker_chunks, unix_seconds
from market.seed_prices import DEFAULT_TICKERS
from tests.fake_massive import FakeMassive, fake_massive_fixture  # noqa: F401 (the fake_massive fixture)
from tests.support import clean_env, eventually, migrate_database, start_daphne, wait_for

INTERVAL = 0.05


def answered(fake: FakeMassive, status: int) -> list:
    return [r for r in fake.snapshot_requests() if r.status == status]


def gaps(requests) -> list[float]:
    return [later.time - earlier.time for earlier, later in itertools.pairwise(requests)]


@pytest.fixture
async def start_poller(fake_massive):
    """``await start_poller(tickers, **options)`` -> ``(source, cache)``: a poller of ``fake_massive``."""
    sources = []

    async def start(tickers=("AAPL", "MSFT"), api_key=None, poll_interval=INTERVAL, **options):
        cache = PriceCache()
        options = {"read_timeout": 0.3, "connect_timeout": 0.3, "auth_retry_interval": 0.3, **options}
        source = MassiveDataSource(
            api_key or fake_massive.api_key, cache, poll_interval, base_url=fake_massive.url, **options
        )
        sources.append(source)
        await source.start(list(tickers))
        return source, cache

    yield start
    for source in sources:
        await source.stop()


async def priced(cache: PriceCache, ticker: str = "AAPL"):
    return await eventually(lambda: cache.get(ticker), message=f"a price for {ticker}")


async def fail_and_check_prices_are_kept(fake, source, cache, failed: int = 2):
    """Wait for ``failed`` failed polls after the first; the price and last success must not move."""
    await eventually(lambda: source.consecutive_failures >= 1, message="a failed poll")
    price, last_success = cache.get("AAPL"), cache.last_success
    await eventually(lambda: source.consecutive_failures >= 1 + failed, message=f"{failed} more failed polls")
    assert cache.get("AAPL") == price
    assert cache.last_success == last_success
    assert source.last_error
    return last_success


async def recovers(source, cache, since: float):
    await eventually(lambda: (cache.last_success or 0) > since, message="a successful poll again")
    assert source.last_error is None
    assert source.consecutive_failures == 0


# Prices


async def test_prices_reach_the_cache_with_the_trade_timestamp_in_seconds(fake_massive, start_poller):
    fake_massive.set_trade("AAPL", 191.25, timestamp_ns=1_700_000_000_123_456_789)
    _, cache = await start_poller()

    update = await priced(cache)

    assert update.price == 191.25
    assert update.timestamp == pytest.approx(1_700_000_000.123456789)


async def test_one_request_per_poll_carries_every_ticker_and_the_key(fake_massive, start_poller):
    tickers = [*DEFAULT_TICKERS, "IBM", "BRK.B"]
    await start_poller(tickers)

    requests = await eventually(
        lambda: fake_massive.snapshot_requests()[2:] and fake_massive.snapshot_requests()
    )

    assert all(sorted(r.tickers) == sorted(tickers) for r in requests)
    assert all(r.headers["authorization"] == f"Bearer {fake_massive.api_key}" for r in requests)


async def test_polls_come_every_poll_interval(fake_massive, start_poller):
    await start_poller(poll_interval=0.1)

    requests = await eventually(
        lambda: fake_massive.snapshot_requests()[4:] and fake_massive.snapshot_requests()
    )

    # Arrival times carry the thread hop's jitter: judge the mean, not each gap.
    assert 0.09 <= statistics.mean(gaps(requests)) <= 0.3, gaps(requests)


async def test_prices_move_between_polls(fake_massive, start_poller):
    _, cache = await start_poller()

    await eventually(lambda: len({price for _, price in cache.history("AAPL")}) >= 3, message="3 prices")


async def test_a_long_ticker_list_is_split_into_requests_under_8_kb(fake_massive, start_poller):
    tickers = [f"T{n:05d}.XY" for n in range(1500)]
    _, cache = await start_poller(tickers, poll_interval=5)

    await eventually(lambda: len(cache) == len(tickers), message="every ticker priced")

    first_poll = fake_massive.snapshot_requests()
    assert len(first_poll) > 1
    assert sorted(t for r in first_poll for t in r.tickers) == sorted(tickers)
    assert all(len(r.target) < 8192 for r in first_poll)


def test_ticker_chunks_keep_every_ticker_in_order():
    tickers = [f"X{n:08d}" for n in range(2000)]

    chunks = list(ticker_chunks(tickers))

    assert [t for chunk in chunks for t in chunk] == tickers
    assert all(len(",".join(chunk).replace(",", "%2C")) < 8000 for chunk in chunks)


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        (1_700_000_000_123_456_789, 1_700_000_000.123456789),
        (1_700_000_000_123, 1_700_000_000.123),
        (1_700_000_000, 1_700_000_000),
    ],
)
def test_trade_timestamps_become_unix_seconds(raw, seconds):
    assert unix_seconds(raw) == pytest.approx(seconds)


# The market outside its hours, and tickers Massive does not know


async def test_closed_market_shows_todays_close(fake_massive, start_poller):
    fake_massive.set_market("closed")
    _, cache = await start_poller()

    assert (await priced(cache)).price == FakeMassive.day_close("AAPL")


async def test_before_the_open_shows_the_previous_close(fake_massive, start_poller):
    fake_massive.set_market("before_open")
    _, cache = await start_poller()

    assert (await priced(cache)).price == FakeMassive.previous_close("AAPL")


async def test_after_the_overnight_reset_zeroed_trades_give_way_to_the_previous_close(
    fake_massive, start_poller
):
    fake_massive.set_market("overnight_reset")
    _, cache = await start_poller()

    assert (await priced(cache)).price == FakeMassive.previous_close("AAPL")


async def test_an_unchanged_close_is_written_once_and_the_source_stays_fresh(fake_massive, start_poller):
    fake_massive.set_market("closed")
    _, cache = await start_poller()
    await priced(cache)
    first_success = cache.last_success

    await eventually(lambda: len(fake_massive.snapshot_requests()) >= 4, message="4 polls")
    await eventually(lambda: cache.last_success > first_success, message="a later success")

    assert len(cache.history("AAPL")) == 1


async def test_an_unknown_ticker_is_reported_and_the_others_still_priced(fake_massive, start_poller):
    fake_massive.unknown = {"ZZZZ"}
    source, cache = await start_poller(["AAPL", "ZZZZ"])

    await eventually(lambda: source.unknown_tickers() == {"ZZZZ"}, message="ZZZZ reported unknown")

    assert cache.get("AAPL") is not None
    assert cache.get("ZZZZ") is None
    assert source.running
    assert source.last_error is None


# Changing the ticker set


async def test_an_added_ticker_is_requested_and_priced(fake_massive, start_poller):
    source, cache = await start_poller()

    await source.add_ticker("ibm ")

    await priced(cache, "IBM")
    assert "IBM" in fake_massive.snapshot_requests()[-1].tickers


async def test_a_removed_ticker_loses_its_price_and_is_no_longer_requested(fake_massive, start_poller):
    source, cache = await start_poller()
    await priced(cache, "MSFT")

    await source.remove_ticker("MSFT")
    fake_massive.clear_requests()
    await eventually(lambda: len(fake_massive.snapshot_requests()) >= 2, message="2 more polls")

    assert cache.get("MSFT") is None
    assert all("MSFT" not in r.tickers for r in fake_massive.snapshot_requests()[1:])


async def test_running_follows_the_poll_task_and_start_revives_it(fake_massive, start_poller):
    source, _ = await start_poller()
    assert source.running

    await source.stop()
    assert not source.running
    fake_massive.clear_requests()
    await source.start(source.get_tickers())

    assert source.running
    await eventually(lambda: fake_massive.snapshot_requests(), message="polling again")


async def test_stop_returns_promptly_whenever_it_comes(fake_massive, start_poller):
    source, _ = await start_poller(poll_interval=0.01)
    for attempt in range(30):
        await asyncio.sleep(random.uniform(0, 0.03))
        async with asyncio.timeout(2):
            await source.stop()
        assert not source.running, f"attempt {attempt}"
        await source.start(source.get_tickers())


# Failures: keep the last price, stay stale, back off, recover by themselves


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_server_error_keeps_the_last_price_and_recovers(fake_massive, start_poller, status):
    source, cache = await start_poller()
    await priced(cache)

    fake_massive.fail_with(status)
    since = await fail_and_check_prices_are_kept(fake_massive, source, cache)
    assert f"HTTP {status}" in source.last_error
    fake_massive.serve_normally()

    await recovers(source, cache, since)


async def test_failures_back_off_exponentially_up_to_the_cap(fake_massive, start_poller):
    fake_massive.fail_with(500)
    await start_poller(max_backoff=0.4)

    failed = await eventually(lambda: answered(fake_massive, 500)[5:] and answered(fake_massive, 500))

    waits = gaps(failed)
    assert waits[0] >= 0.9 * 2 * INTERVAL
    assert waits[1] >= 0.9 * 4 * INTERVAL
    assert all(0.36 <= wait <= 0.4 + 0.5 for wait in waits[2:]), waits


async def test_back_off_resets_after_a_success(fake_massive, start_poller):
    fake_massive.fail_with(503)
    await start_poller()
    await eventually(lambda: len(answered(fake_massive, 503)) >= 4, message="4 failed polls")

    fake_massive.serve_normally()
    ok = await eventually(lambda: answered(fake_massive, 200)[3:] and answered(fake_massive, 200))

    assert statistics.median(gaps(ok)) < 0.4  # the back-off had reached its 0.8 s cap


async def test_rate_limit_waits_the_retry_after_seconds(fake_massive, start_poller):
    fake_massive.fail_with(429, retry_after=1)
    source, cache = await start_poller()

    limited = await eventually(lambda: answered(fake_massive, 429)[1:] and answered(fake_massive, 429))
    fake_massive.serve_normally()

    assert gaps(limited)[0] >= 0.95
    assert "HTTP 429" in source.last_error
    await priced(cache)


async def test_rate_limit_waits_until_a_retry_after_date(fake_massive, start_poller):
    fake_massive.fail_with(429, retry_after=formatdate(time.time() + 2, usegmt=True))
    await start_poller()

    limited = await eventually(lambda: answered(fake_massive, 429)[1:] and answered(fake_massive, 429))

    assert gaps(limited)[0] >= 0.8  # the date has whole seconds: 1 to 2 s after the answer, not 0.1 s


@pytest.mark.parametrize(
    ("header", "seconds"), [("7", 7), ("0.5", 0.5), ("-3", 0), ("soon", None), ("", None), ("999999", 3600)]
)
def test_retry_after_header_values(header, seconds):
    assert parse_retry_after(header) == seconds


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refused_key_is_logged_once_and_polled_slowly(fake_massive, start_poller, caplog, status):
    caplog.set_level(logging.INFO, logger="market.massive")
    fake_massive.fail_with(status)
    _, cache = await start_poller(auth_retry_interval=0.15)

    refused = await eventually(lambda: answered(fake_massive, status)[4:] and answered(fake_massive, status))

    errors = [r for r in caplog.records if r.name == "market.massive" and r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "MASSIVE_API_KEY" in errors[0].getMessage()
    assert min(gaps(refused)) >= 0.14
    assert cache.last_success is None


async def test_a_wrong_key_recovers_once_massive_accepts_it(fake_massive, start_poller):
    source, cache = await start_poller(api_key="not-yet-valid")
    await eventually(lambda: answered(fake_massive, 401), message="a refused poll")
    assert cache.get("AAPL") is None

    fake_massive.api_key = "not-yet-valid"

    await priced(cache)
    assert source.last_error is None


async def test_invalid_json_is_a_failure_not_a_success(fake_massive, start_poller):
    source, cache = await start_poller()
    await priced(cache)

    fake_massive.send_invalid_json()
    since = await fail_and_check_prices_are_kept(fake_massive, source, cache)
    assert "not JSON" in source.last_error
    fake_massive.serve_normally()

    await recovers(source, cache, since)


async def test_a_time_out_keeps_the_last_price_and_recovers(fake_massive, start_poller):
    source, cache = await start_poller(read_timeout=0.2)
    await priced(cache)

    fake_massive.respond_slowly(1.0)
    since = await fail_and_check_prices_are_kept(fake_massive, source, cache, failed=1)
    assert "timed out" in source.last_error
    fake_massive.serve_normally()

    await recovers(source, cache, since)


async def test_a_refused_connection_recovers_when_the_server_comes_back(fake_massive, start_poller):
    source, cache = await start_poller()
    await priced(cache)
    url = fake_massive.url

    fake_massive.stop()
    since = await fail_and_check_prices_are_kept(fake_massive, source, cache)
    assert "cannot connect" in source.last_error
    fake_massive.restart()

    assert fake_massive.url == url
    await recovers(source, cache, since)


# Configuration


async def test_factory_honours_massive_base_url_and_poll_interval(fake_massive, monkeypatch):
    monkeypatch.setenv("MASSIVE_API_KEY", fake_massive.api_key)
    monkeypatch.setenv("MASSIVE_BASE_URL", fake_massive.url)
    monkeypatch.setenv("MASSIVE_POLL_INTERVAL", "0.1")
    cache = PriceCache()

    source = create_market_data_source(cache)
    assert isinstance(source, MassiveDataSource)
    assert source.interval == 0.1
    await source.start(["AAPL"])
    try:
        requests = await eventually(
            lambda: fake_massive.snapshot_requests()[2:] and fake_massive.snapshot_requests()
        )
        await priced(cache)
    finally:
        await source.stop()

    assert statistics.mean(gaps(requests)) >= 0.09


# End to end: a real server process polling the fake Massive


def _health(port: int) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:  # 503 while stale
        return json.load(error)


def test_a_server_on_massive_turns_stale_while_massive_fails_and_fresh_again(fake_massive, tmp_path):
    env = clean_env(
        MASSIVE_API_KEY=fake_massive.api_key,
        MASSIVE_BASE_URL=fake_massive.url,
        MASSIVE_POLL_INTERVAL="0.3",
        DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
    )
    migrate_database(env)
    server, port = start_daphne(env, tmp_path)
    try:
        health = wait_for(lambda: _health(port)["status"] == "ok" and _health(port), 20, message="ok")
        assert health["source"] == "massive"
        assert sorted(fake_massive.snapshot_requests()[0].tickers) == sorted(DEFAULT_TICKERS)

        fake_massive.fail_with(503)
        wait_for(lambda: _health(port)["status"] == "stale", 20, interval=0.1, message="stale")
        fake_massive.serve_normally()

        wait_for(lambda: _health(port)["status"] == "ok", 20, interval=0.1, message="ok again")
    finally:
        server.stop()
