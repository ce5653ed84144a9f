"""The project's URLs plus a plain Django view under /api/ that fails, for the API's error tests."""

from django.urls import path

from finally_site.urls import urlpatterns as project_urlpatterns


def failing_view(request):
    raise RuntimeError("secret detail of a failure outside the ninja API")


urlpatterns = [path("api/failing/", failing_view), *project_urlpatterns]
