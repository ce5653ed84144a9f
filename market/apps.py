from django.apps import AppConfig
from django.core import checks


class MarketConfig(AppConfig):
    name = "market"
    verbose_name = "Market data"

    def ready(self):
        from .checks import check_redis_reachable

        checks.register(check_redis_reachable, checks.Tags.compatibility)
