"""The JSON API, mounted at /api/ (see ``portfolio.api``)."""

from django.urls import path

from . import api

app_name = "api"

urlpatterns = [
    path("portfolio/", api.portfolio, name="portfolio"),
    path("portfolio/trade/", api.trade, name="trade"),
    path("watchlist/", api.watchlist, name="watchlist"),
    path("watchlist/<str:ticker>/", api.watchlist_ticker, name="watchlist-ticker"),
]
