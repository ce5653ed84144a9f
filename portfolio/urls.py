"""The pages (mounted at the site root): dashboard, portfolio and trade form, watchlists."""

from django.urls import path

from . import exports, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("portfolio/", views.portfolio, name="portfolio"),
    path("portfolio/trade/", views.trade, name="trade"),
    path("portfolio/trades.csv", exports.trades_csv, name="trades-csv"),
    path("watchlist/", views.watchlists, name="watchlists"),
    path("watchlist/add/", views.watchlists, {"action": "add"}, name="watchlist-add"),
    path("watchlist/remove/", views.watchlists, {"action": "remove"}, name="watchlist-remove"),
]
