from django.apps import AppConfig
from django.core import checks


class MarketConfig(AppConfig):
    name = "market"
    verbose_name = "Market data"

    def ready(self):
        from .checks import check_redis_reachable

        # Only ``check --deploy``: migrate, createsuperuser, shell and plain check never use the channel
        # layer, so a Redis that is down must not stop them. Servers (finally_site/asgi.py) and runfeed
        # refuse to start on their own with the same one line.
        checks.register(check_redis_reachable, checks.Tags.compatibility, deploy=True)
