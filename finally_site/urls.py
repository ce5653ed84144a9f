from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("portfolio.account_urls")),
    path("api/", include("portfolio.api_urls")),
    path("", include("market.urls")),
    path("", include("portfolio.urls")),
]
