"""create_market_data_source picks the source and its settings from the environment at call time."""

import pytest

from market.cache import PriceCache
from market.config import ConfigError
from market.factory import create_market_data_source
from market.massive_client import MassiveDataSource
from market.simulator import SimulatorDataSource, dt_for_interval

SOURCE_VARIABLES = (
    "MASSIVE_API_KEY",
    "MASSIVE_BASE_URL",
    "MASSIVE_POLL_INTERVAL",
    "SIMULATOR_INTERVAL",
    "SIMULATOR_SEED",
)


@pytest.fixture(autouse=True)
def no_source_settings(monkeypatch):
    for name in SOURCE_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_without_an_api_key_the_source_is_the_simulator():
    source = create_market_data_source(PriceCache())
    assert isinstance(source, SimulatorDataSource)
    assert source.name == "simulator"


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_a_blank_api_key_means_the_simulator(monkeypatch, blank):
    monkeypatch.setenv("MASSIVE_API_KEY", blank)
    assert isinstance(create_market_data_source(PriceCache()), SimulatorDataSource)


def test_an_api_key_means_massive(monkeypatch):
    monkeypatch.setenv("MASSIVE_API_KEY", "  test-key  ")
    source = create_market_data_source(PriceCache())
    assert isinstance(source, MassiveDataSource)
    assert source.name == "massive"


def test_the_simulator_ticks_every_half_second_by_default():
    source = create_market_data_source(PriceCache())
    assert source.interval == 0.5
    assert source.simulator.dt == dt_for_interval(0.5)


def test_massive_polls_every_15_seconds_by_default(monkeypatch):
    monkeypatch.setenv("MASSIVE_API_KEY", "test-key")
    assert create_market_data_source(PriceCache()).interval == 15.0


def test_simulator_interval_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("SIMULATOR_INTERVAL", "0.2")
    source = create_market_data_source(PriceCache())
    assert source.interval == 0.2
    assert source.simulator.dt == dt_for_interval(0.2)


def test_massive_poll_interval_and_base_url_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("MASSIVE_API_KEY", "test-key")
    monkeypatch.setenv("MASSIVE_POLL_INTERVAL", "2.5")
    monkeypatch.setenv("MASSIVE_BASE_URL", "http://127.0.0.1:9/")
    source = create_market_data_source(PriceCache())
    assert source.interval == 2.5
    assert source.base_url == "http://127.0.0.1:9"


def test_simulator_seed_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("SIMULATOR_SEED", "42")
    one = create_market_data_source(PriceCache())
    two = create_market_data_source(PriceCache())
    assert one.seed == two.seed == 42
    assert one.simulator.spec("ZZZA") == two.simulator.spec("ZZZA")


def test_without_a_seed_the_simulator_is_random():
    assert create_market_data_source(PriceCache()).seed is None


async def test_the_source_writes_into_the_cache_it_was_given():
    cache = PriceCache()
    source = create_market_data_source(cache)
    await source.start(["AAPL"])
    try:
        assert cache.get("AAPL").price == 190.0
    finally:
        await source.stop()


@pytest.mark.parametrize(
    ("variable", "value"),
    [("SIMULATOR_INTERVAL", "fast"), ("SIMULATOR_SEED", "abc"), ("MASSIVE_POLL_INTERVAL", "0")],
)
def test_bad_settings_are_refused_with_a_message_naming_the_variable(monkeypatch, variable, value):
    # A context, so the bad value is gone before conftest's teardown builds a fresh Feed.
    with monkeypatch.context() as patch:
        patch.setenv(variable, value)
        if variable.startswith("MASSIVE"):
            patch.setenv("MASSIVE_API_KEY", "test-key")
        with pytest.raises(ConfigError, match=variable):
            create_market_data_source(PriceCache())
