"""The pages (mounted at the site root): dashboard, portfolio and trade form, watchlists and one URL
per watchlist action, the favicon."""

from django.urls import path

from . import exports, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("portfolio/", views.portfolio, name="portfolio"),
    path("portfolio/trade/", views.trade, name="trade"),
    path("portfolio/trades.csv", exports.trades_csv, name="trades-csv"),
    path("watchlist/", views.watchlists, name="watchlists"),
    path("watchlist/add/", views.watchlist_add, name="watchlist-add"),
    path("watchlist/remove/", views.watchlist_remove, name="watchlist-remove"),
    path("watchlist/create/", views.watchlist_create, name="watchlist-create"),
    path("watchlist/rename/", views.watchlist_rename, name="watchlist-rename"),
    path("watchlist/delete/", views.watchlist_delete, name="watchlist-delete"),
]
