"""Pick the market data source from the environment (read at call time).

``create_market_data_source`` is the seed's factory: what this process's feed runs. Under
``MARKET_FEED=external`` that is a ``MirrorSource`` following ``runfeed``; otherwise the source that
produces prices here, ``create_producing_source``: Massive with an API key, else the simulator
(which is also what ``runfeed`` itself runs). A new source needs a branch here and nothing else.
"""

from . import config
from .interface import MarketDataSource, PriceCache


def create_market_data_source(price_cache: PriceCache) -> MarketDataSource:
    """Create the appropriate market data source based on the environment."""
    if config.market_feed_or_default() == "external":
        from .external.mirror import MirrorSource

        return MirrorSource(price_cache)
    return create_producing_source(price_cache)


def create_producing_source(price_cache: PriceCache) -> MarketDataSource:
    """The source that produces prices in this process: Massive with an API key, else the simulator."""
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
