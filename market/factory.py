"""Pick the market data source from the environment: Massive with an API key, else the simulator."""

from . import config
from .interface import MarketDataSource, PriceCache


def create_market_data_source(price_cache: PriceCache) -> MarketDataSource:
    """Create the appropriate market data source based on the environment (read at call time)."""
    api_key = config.massive_api_key()
    if api_key:
        from .massive_client import MassiveDataSource

        return MassiveDataSource(
            api_key=api_key,
            price_cache=price_cache,
            poll_interval=config.massive_poll_interval(),
            base_url=config.massive_base_url(),
        )
    from .simulator import SimulatorDataSource

    return SimulatorDataSource(
        price_cache=price_cache,
        update_interval=config.simulator_interval(),
        seed=config.simulator_seed(),
    )
