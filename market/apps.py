from django.apps import AppConfig
from django.core import checks
from django.core.signals import setting_changed


class MarketConfig(AppConfig):
    name = "market"
    verbose_name = "Market data"

    def ready(self):
        from . import hooks
        from .checks import check_hooks, check_redis_reachable

        checks.register(check_redis_reachable, checks.Tags.compatibility)
        checks.register(check_hooks, checks.Tags.compatibility)
        # Tests and code that override the hook settings get the new hooks on the next read.
        setting_changed.connect(hooks.setting_changed, dispatch_uid="market_hooks_setting_changed")
