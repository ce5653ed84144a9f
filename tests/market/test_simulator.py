"""The GBM simulator (shared/SIMULATOR.md) and the source that ticks it into the price cache."""

import asyncio
import itertools
import logging
import math
import time

import numpy as np
import pytest

from market.cache import PriceCache
from market.interface import MarketDataSource
from market.seed_prices import DEFAULT_TICKERS, FINANCE_GROUP, SEED_PRICES, TECH_GROUP, TICKER_PARAMS
from market.simulator import (
    DEFAULT_DT,
    TRADING_YEAR_SECONDS,
    GBMSimulator,
    SimulatorDataSource,
    dt_for_interval,
)
from tests.support import eventually

LONG_RUN = 20_000
UNKNOWN = ("ZZZA", "ZZZB", "ZZZC")


def expected_correlation(a: str, b: str) -> float:
    if a in TECH_GROUP and b in TECH_GROUP:
        return 0.6
    if a in FINANCE_GROUP and b in FINANCE_GROUP:
        return 0.5
    return 0.3


def run(sim: GBMSimulator, steps: int) -> np.ndarray:
    """Full-precision prices before and after each step: shape (steps + 1, tickers)."""
    path = np.empty((steps + 1, len(sim)))
    path[0] = sim.exact_prices()
    for i in range(steps):
        sim.step_array()
        path[i + 1] = sim.exact_prices()
    return path


@pytest.fixture(scope="module")
def long_run_without_events():
    sim = GBMSimulator([*DEFAULT_TICKERS, *UNKNOWN], seed=7, event_probability=0.0)
    return sim, np.diff(np.log(run(sim, LONG_RUN)), axis=0)


# Start prices and parameters


def test_default_tickers_start_at_their_table_prices():
    sim = GBMSimulator(DEFAULT_TICKERS, seed=1)
    assert sim.prices() == SEED_PRICES


def test_default_tickers_have_their_table_parameters():
    sim = GBMSimulator(DEFAULT_TICKERS, seed=1)
    for ticker, (sigma, mu) in TICKER_PARAMS.items():
        spec = sim.spec(ticker)
        assert (spec.sigma, spec.mu) == (sigma, mu)


def test_unknown_tickers_get_sigma_025_mu_005_and_a_start_price_between_50_and_300():
    sim = GBMSimulator([f"X{i}" for i in range(200)], seed=3)
    starts = sim.prices()
    assert all(50 <= price <= 300 for price in starts.values())
    assert len(set(starts.values())) > 150, "start prices should spread over the range"
    assert all((sim.spec(t).sigma, sim.spec(t).mu) == (0.25, 0.05) for t in starts)


def test_unknown_ticker_start_price_is_whole_cents():
    sim = GBMSimulator(["ZZZA"], seed=3)
    assert sim.exact_prices()[0] == round(sim.exact_prices()[0], 2)


def test_a_fixed_seed_always_gives_a_ticker_the_same_start_price():
    first = GBMSimulator(["ZZZA", "ZZZB"], seed=11).prices()
    again = GBMSimulator(["ZZZB", "ZZZA"], seed=11).prices()
    assert first == again


def test_another_seed_gives_unknown_tickers_other_start_prices():
    one = GBMSimulator(UNKNOWN, seed=1).prices()
    other = GBMSimulator(UNKNOWN, seed=2).prices()
    assert one != other


def test_any_integer_is_a_seed():
    for seed in (0, 2**64, 10**100):
        assert 50 <= GBMSimulator(["ZZZA"], seed=seed).price("ZZZA") <= 300


def test_without_a_seed_unknown_start_prices_differ_between_runs():
    tickers = [f"X{i}" for i in range(20)]
    assert GBMSimulator(tickers).prices() != GBMSimulator(tickers).prices()


def test_adding_or_removing_a_ticker_keeps_every_other_start_price_and_parameters():
    sim = GBMSimulator([*DEFAULT_TICKERS, *UNKNOWN], seed=5)
    before = {t: sim.spec(t) for t in sim.tickers}
    sim.add_ticker("NEWT")
    sim.remove_ticker("AAPL")
    sim.remove_ticker("ZZZB")
    alone = GBMSimulator(["ZZZA"], seed=5)
    assert {t: sim.spec(t) for t in before} == before
    assert alone.spec("ZZZA") == before["ZZZA"]


# Paths


def test_the_same_seed_gives_the_same_path():
    one = GBMSimulator([*DEFAULT_TICKERS, *UNKNOWN], seed=9)
    two = GBMSimulator([*DEFAULT_TICKERS, *UNKNOWN], seed=9)
    assert [one.step() for _ in range(500)] == [two.step() for _ in range(500)]


def test_another_seed_gives_another_path():
    one = GBMSimulator(DEFAULT_TICKERS, seed=9)
    two = GBMSimulator(DEFAULT_TICKERS, seed=10)
    assert [one.step() for _ in range(50)] != [two.step() for _ in range(50)]


def test_a_tickers_path_does_not_depend_on_the_other_tickers_or_their_order():
    few = GBMSimulator(["AAPL", "ZZZA"], seed=4)
    many = GBMSimulator(["ZZZC", "MSFT", "ZZZA", "JPM", "AAPL"], seed=4)
    for _ in range(200):
        a, b = few.step(), many.step()
        assert (a["AAPL"], a["ZZZA"]) == (b["AAPL"], b["ZZZA"])


def test_removing_a_ticker_mid_run_leaves_the_others_paths_unchanged():
    sim = GBMSimulator(["AAPL", "TSLA", "JPM", "ZZZA"], seed=8)
    reference = GBMSimulator(["JPM", "ZZZA", "TSLA"], seed=8)
    for _ in range(100):
        sim.step(), reference.step()
    sim.remove_ticker("AAPL")  # the last ticker moves into its place
    for _ in range(100):
        assert sim.step() == {t: p for t, p in reference.step().items() if t in sim}
    assert sorted(sim.tickers) == ["JPM", "TSLA", "ZZZA"]


def test_step_returns_a_price_for_every_tracked_ticker_in_the_order_of_tickers():
    sim = GBMSimulator(["NVDA", "ZZZA", "V"], seed=2)
    prices = sim.step()
    assert list(prices) == sim.tickers == ["NVDA", "ZZZA", "V"]
    assert sim.prices_array().tolist() == list(prices.values())


def test_an_empty_simulator_steps_to_nothing():
    sim = GBMSimulator([], seed=1)
    assert sim.step() == {}
    assert len(sim.step_array()) == 0


def test_adding_a_ticker_twice_keeps_one():
    sim = GBMSimulator(["AAPL"], seed=1)
    sim.add_ticker("AAPL")
    assert sim.tickers == ["AAPL"]


def test_tracking_thousands_of_tickers_grows_and_shrinks_consistently():
    sim = GBMSimulator([f"T{i}" for i in range(3000)], seed=1)
    for i in range(0, 3000, 2):
        sim.remove_ticker(f"T{i}")
    assert len(sim) == 1500 == len(sim.step())
    assert sorted(sim.tickers) == sorted(f"T{i}" for i in range(1, 3000, 2))
    assert sim.price("T1") == GBMSimulator(["T1"], seed=1).step()["T1"]


# Statistics over a long run (SIMULATOR.md, "Checks a test can make")


def test_shock_correlation_matches_the_table_for_every_pair_kind(long_run_without_events):
    sim, returns = long_run_without_events
    observed = np.corrcoef(returns.T)
    tickers = sim.tickers
    wrong = []
    for (i, a), (j, b) in itertools.combinations(enumerate(tickers), 2):
        want = expected_correlation(a, b)
        if abs(observed[i, j] - want) > 0.05:
            wrong.append(f"{a}-{b}: {observed[i, j]:.3f}, want {want}")
    assert not wrong, wrong


def test_one_step_log_returns_have_standard_deviation_sigma_sqrt_dt(long_run_without_events):
    sim, returns = long_run_without_events
    for column, ticker in enumerate(sim.tickers):
        want = sim.spec(ticker).sigma * math.sqrt(DEFAULT_DT)
        assert returns[:, column].std(ddof=1) == pytest.approx(want, rel=0.05), ticker


def test_events_happen_once_per_thousand_steps_per_ticker_as_jumps_of_2_to_5_percent_either_way():
    tickers = [f"E{i}" for i in range(50)]
    sim = GBMSimulator(tickers, seed=12)
    jumps = []
    for _ in range(LONG_RUN):
        sim.step_array()
        jumps.extend(sim.last_events.values())
    trials = LONG_RUN * len(tickers)
    expected = 0.001 * trials
    # four standard deviations of a binomial count: a fixed seed, so this is about the generator's quality
    assert abs(len(jumps) - expected) < 4 * math.sqrt(expected * 0.999)
    sizes = np.abs(jumps)
    assert sizes.min() >= 0.02 and sizes.max() <= 0.05
    assert 0.4 < np.mean(np.array(jumps) > 0) < 0.6
    assert 0.03 < sizes.mean() < 0.04  # uniform on [2%, 5%]


def test_an_event_moves_the_price_by_its_jump_on_top_of_the_gbm_step():
    sim = GBMSimulator([f"E{i}" for i in range(200)], seed=12)
    for _ in range(1000):
        before = dict(zip(sim.tickers, sim.exact_prices(), strict=True))
        sim.step_array()
        if sim.last_events:
            after = dict(zip(sim.tickers, sim.exact_prices(), strict=True))
            ticker, jump = next(iter(sim.last_events.items()))
            move = math.log(after[ticker] / before[ticker]) - math.log1p(jump)
            assert abs(move) < 10 * 0.25 * math.sqrt(sim.dt)  # what is left is an ordinary GBM step
            return
    pytest.fail("no event in 200,000 ticker-steps")


def test_events_switch_off_with_zero_probability():
    sim = GBMSimulator([f"E{i}" for i in range(100)], seed=12, event_probability=0.0)
    for _ in range(2000):
        sim.step_array()
        assert not sim.last_events


# Prices


def test_published_prices_are_rounded_to_cents():
    sim = GBMSimulator([*DEFAULT_TICKERS, *UNKNOWN], seed=6)
    for _ in range(50):
        for price in sim.step().values():
            assert price == round(price, 2)


def test_the_internal_state_keeps_full_precision_so_a_cheap_ticker_still_moves():
    sim = GBMSimulator(["PENNY"], seed=6, event_probability=0.0)
    sim.set_price("PENNY", 0.05)
    published = {float(sim.step_array()[0]) for _ in range(200)}
    assert published <= {0.04, 0.05, 0.06}
    # Rounding the state each step would pin it at 0.05: a 0.05 * exp(tiny) step rounds back.
    assert sim.exact_prices()[0] != 0.05


def test_prices_never_reach_zero():
    # A year of trading days in 0.5 s steps is too slow for a test; huge steps make the walk wild.
    sim = GBMSimulator([f"W{i}" for i in range(20)], seed=3, dt=1.0, event_probability=0.5)
    sim.set_price("W0", 0.01)
    for _ in range(2000):
        prices = sim.step_array()
        assert prices.min() >= 0.01
    assert (sim.exact_prices() > 0).all()


def test_initial_prices_override_start_prices():
    sim = GBMSimulator(["AAPL", "ZZZA"], seed=1, initial_prices={"AAPL": 201.37})
    assert sim.prices()["AAPL"] == 201.37
    assert sim.prices()["ZZZA"] == GBMSimulator(["ZZZA"], seed=1).prices()["ZZZA"]


def test_invalid_initial_prices_are_ignored():
    sim = GBMSimulator(["AAPL", "MSFT", "NVDA"], initial_prices={"AAPL": 0, "MSFT": "x", "NVDA": math.nan})
    assert sim.prices() == {"AAPL": 190.0, "MSFT": 420.0, "NVDA": 800.0}


def test_set_price_moves_a_tracked_ticker_and_it_walks_on_from_there():
    sim = GBMSimulator(["AAPL"], seed=1, event_probability=0.0)
    sim.set_price("AAPL", 10.0)
    assert sim.price("AAPL") == 10.0
    assert abs(sim.step()["AAPL"] - 10.0) < 0.05


@pytest.mark.parametrize("bad", [0, -1.0, math.inf, math.nan])
def test_set_price_refuses_a_price_that_is_not_positive(bad):
    sim = GBMSimulator(["AAPL"], seed=1)
    with pytest.raises(ValueError):
        sim.set_price("AAPL", bad)


# Time step


def test_a_trading_year_is_252_days_of_6_5_hours():
    assert TRADING_YEAR_SECONDS == 5_896_800


def test_the_default_time_step_is_half_a_second_of_a_trading_year():
    assert GBMSimulator(["AAPL"]).dt == DEFAULT_DT == 0.5 / 5_896_800


def test_the_time_step_follows_the_tick_interval():
    source = SimulatorDataSource(PriceCache(), update_interval=0.2)
    assert source.simulator.dt == dt_for_interval(0.2) == 0.2 / 5_896_800


def test_volatility_per_wall_clock_second_does_not_depend_on_the_interval():
    fast = GBMSimulator(["AAPL"], dt=dt_for_interval(0.25), seed=1, event_probability=0.0)
    slow = GBMSimulator(["AAPL"], dt=dt_for_interval(0.5), seed=2, event_probability=0.0)
    fast_returns = np.diff(np.log(run(fast, LONG_RUN)[::2, 0]))  # 0.5 s apart, two ticks each
    slow_returns = np.diff(np.log(run(slow, LONG_RUN // 2)[:, 0]))
    assert fast_returns.std() == pytest.approx(slow_returns.std(), rel=0.05)


@pytest.mark.parametrize("bad", [0, -0.5, math.inf, math.nan])
def test_a_source_refuses_an_interval_that_is_not_positive(bad):
    with pytest.raises(ValueError):
        SimulatorDataSource(PriceCache(), update_interval=bad)


# The source


def test_the_source_is_a_market_data_source_named_simulator_with_its_interval():
    source = SimulatorDataSource(PriceCache(), update_interval=0.25, seed=3)
    assert isinstance(source, MarketDataSource)
    assert (source.name, source.interval, source.seed) == ("simulator", 0.25, 3)
    assert not source.running


async def test_start_writes_prices_at_once():
    cache = PriceCache()
    source = SimulatorDataSource(cache, update_interval=60, seed=1)
    await source.start(["AAPL", "ZZZA"])
    try:
        assert cache.get("AAPL").price == 190.0
        assert cache.get("ZZZA") is not None
        assert source.running
        assert source.get_tickers() == ["AAPL", "ZZZA"]
    finally:
        await source.stop()


async def test_the_source_writes_the_cache_every_interval():
    cache = PriceCache()
    writes = []
    cache.add_listener(lambda batch: writes.append(time.monotonic()))
    source = SimulatorDataSource(cache, update_interval=0.05, seed=1)
    await source.start(list(DEFAULT_TICKERS))
    try:
        await eventually(lambda: len(writes) >= 11, message="ten ticks after the first write")
    finally:
        await source.stop()
    spacing = np.diff(writes[1:11])
    assert 0.04 <= spacing.mean() <= 0.075, spacing
    assert len(cache.history("AAPL")) >= 11


async def test_each_tick_moves_prices_from_the_simulator():
    cache = PriceCache()
    source = SimulatorDataSource(cache, update_interval=0.02, seed=1)
    await source.start(["TSLA"])
    try:
        await eventually(lambda: cache.get("TSLA").price != 250.0, message="TSLA to move")
    finally:
        await source.stop()
    assert cache.get("TSLA").previous_price != 0


async def test_stop_ends_the_loop():
    cache = PriceCache()
    source = SimulatorDataSource(cache, update_interval=0.02, seed=1)
    await source.start(["AAPL"])
    await source.stop()
    assert not source.running
    length = len(cache.history("AAPL"))
    await asyncio.sleep(0.1)  # several intervals in which a live loop would have written
    assert len(cache.history("AAPL")) == length


async def test_a_failing_step_is_logged_and_the_loop_goes_on(monkeypatch, caplog):
    cache = PriceCache()
    source = SimulatorDataSource(cache, update_interval=0.02, seed=1)
    real_step = source.simulator.step_array
    failures = iter(range(3))

    def flaky_step():
        if next(failures, None) is not None:
            raise RuntimeError("simulated failure")
        return real_step()

    monkeypatch.setattr(source.simulator, "step_array", flaky_step)
    with caplog.at_level(logging.ERROR, logger="market.simulator"):
        await source.start(["AAPL"])
        try:
            await eventually(lambda: len(cache.history("AAPL")) >= 3, message="ticks after the failures")
            assert source.running
        finally:
            await source.stop()
    failed = [r for r in caplog.records if r.name == "market.simulator" and r.levelno == logging.ERROR]
    assert failed and "simulated failure" in (failed[0].exc_text or "")


async def test_add_ticker_prices_it_at_once():
    cache = PriceCache()
    source = SimulatorDataSource(cache, update_interval=60, seed=1)
    await source.start(["AAPL"])
    try:
        await source.add_ticker("NVDA")
        assert cache.get("NVDA").price == 800.0
        assert "NVDA" in source.get_tickers()
    finally:
        await source.stop()


async def test_an_added_ticker_is_written_by_every_following_tick():
    cache = PriceCache()
    source = SimulatorDataSource(cache, update_interval=0.02, seed=1)
    await source.start(["AAPL"])
    try:
        await source.add_ticker("ZZZA")
        await eventually(lambda: len(cache.history("ZZZA")) >= 3, message="ticks for the added ticker")
    finally:
        await source.stop()


async def test_remove_ticker_removes_it_from_the_source_and_the_cache():
    cache = PriceCache()
    source = SimulatorDataSource(cache, update_interval=0.02, seed=1)
    await source.start(["AAPL", "MSFT", "TSLA"])
    try:
        await source.remove_ticker("AAPL")
        assert cache.get("AAPL") is None
        assert source.get_tickers() == ["TSLA", "MSFT"]
        length = len(cache.history("MSFT"))
        await eventually(lambda: len(cache.history("MSFT")) > length + 2, message="ticks after the removal")
        assert cache.get("AAPL") is None
    finally:
        await source.stop()


async def test_start_after_the_loop_died_restarts_it_from_the_current_prices():
    cache = PriceCache()
    source = SimulatorDataSource(cache, update_interval=0.02, seed=1)
    await source.start(["TSLA"])
    await eventually(lambda: cache.get("TSLA").price != 250.0, message="TSLA to move")
    source._task.cancel()  # what the feed's watchdog sees: the loop has ended
    await eventually(lambda: not source.running, message="the loop to end")
    price = source.simulator.price("TSLA")
    await source.start(source.get_tickers())
    try:
        assert source.running
        assert cache.get("TSLA").price == price
    finally:
        await source.stop()


async def test_initial_prices_set_on_the_source_resume_the_simulation():
    cache = PriceCache()
    source = SimulatorDataSource(cache, update_interval=60, seed=1)
    source.initial_prices = {"AAPL": 211.11, "ZZZA": 77.7}
    await source.start(["AAPL", "ZZZA", "MSFT"])
    try:
        assert {t: cache.get(t).price for t in ("AAPL", "ZZZA", "MSFT")} == {
            "AAPL": 211.11,
            "ZZZA": 77.7,
            "MSFT": 420.0,
        }
    finally:
        await source.stop()


def test_initial_prices_can_be_given_to_the_source_constructor():
    source = SimulatorDataSource(PriceCache(), initial_prices={"AAPL": 1.5})
    source.simulator.add_ticker("AAPL")
    assert source.simulator.price("AAPL") == 1.5
