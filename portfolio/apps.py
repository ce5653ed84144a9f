from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_delete, post_save


class PortfolioConfig(AppConfig):
    name = "portfolio"
    verbose_name = "Portfolios and watchlists"

    def ready(self):
        from . import signals
        from .models import Position, Watchlist, WatchlistEntry

        post_save.connect(
            signals.set_up_new_user, sender=settings.AUTH_USER_MODEL, dispatch_uid="portfolio_set_up_new_user"
        )
        post_save.connect(
            signals.watchlist_entry_saved,
            sender=WatchlistEntry,
            dispatch_uid="portfolio_watchlist_entry_saved",
        )
        post_delete.connect(
            signals.watchlist_entry_deleted,
            sender=WatchlistEntry,
            dispatch_uid="portfolio_watchlist_entry_deleted",
        )
        post_save.connect(signals.watchlist_saved, sender=Watchlist, dispatch_uid="portfolio_watchlist_saved")
        post_save.connect(signals.position_saved, sender=Position, dispatch_uid="portfolio_position_saved")
        post_delete.connect(
            signals.position_deleted, sender=Position, dispatch_uid="portfolio_position_deleted"
        )
