from django.apps import AppConfig
from django.core import checks
from django.core.signals import setting_changed


class MarketConfig(AppConfig):
    name = "market"
    verbose_name = "Market data"

    def ready(self):
        from . import hooks
        from .checks import check_hooks, check_redis_reachable

        # Only ``check --deploy``: migrate, createsuperuser, shell and plain check never use the channel
        # layer, so a Redis that is down must not stop them. Servers (finally_site/asgi.py) and runfeed
        # refuse to start on their own with the same one line.
        checks.register(check_redis_reachable, checks.Tags.compatibility, deploy=True)
        checks.register(check_hooks, checks.Tags.compatibility)
        # Tests and code that override the hook settings get the new hooks on the next read.
        setting_changed.connect(hooks.setting_changed, dispatch_uid="market_hooks_setting_changed")
