from django.contrib import admin
from django.urls import include, path

from portfolio.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("portfolio.account_urls")),
    path("api/", api.urls),
    path("", include("market.urls")),
    path("", include("portfolio.urls")),
]
