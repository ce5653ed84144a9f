"""Static files served by the ASGI application itself, with ServeStatic (the ASGI-native WhiteNoise).

- ``DEBUG`` (the default): files come straight from the app and project ``static/`` folders, found on
  each request, so a fresh clone needs no ``collectstatic``; nothing is cached by browsers.
- Production (``DJANGO_DEBUG=0``): files come from ``STATIC_ROOT`` after ``collectstatic``; a file with
  a hash in its name is cached for ten years (``immutable``), others for 60 s; gzip or Brotli copies are
  sent to browsers that accept them. A server refuses to start when the manifest is missing
  (``static_problem``), instead of answering every page with a 500.

Static responses carry the site's Content-Security-Policy and ``nosniff`` too (Django's middleware never
sees them): an SVG opened as a document runs no script.

A path that leaves the static folders (``/static/../finally_site/settings.py``, ``%2e%2e``, ``..%2f``)
is no static file: it falls through to Django, which answers 404.
"""

from csp.utils import build_policy
from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import ManifestStaticFilesStorage, staticfiles_storage
from servestatic.asgi import ServeStaticASGI

# Seconds a browser may reuse a file whose name has no hash (a hashed one: ten years).
UNHASHED_MAX_AGE = 60


def static_files(application):
    """``application`` (Django's ASGI app) behind ServeStatic, for ``settings.STATIC_URL``."""
    if settings.DEBUG:
        served = ServeStaticASGI(application, autorefresh=True, max_age=0, add_headers_function=_add_headers)
        # Later directories are searched first: add the finders' folders last-first, so the first
        # finder wins, as with Django's own static view.
        for location, prefix in reversed(_finder_locations()):
            served.add_files(location, prefix=settings.STATIC_URL + prefix)
    else:
        served = ServeStaticASGI(
            application,
            root=settings.STATIC_ROOT,
            prefix=settings.STATIC_URL,
            max_age=UNHASHED_MAX_AGE,
            add_headers_function=_add_headers,
        )
    return StaticPrefix(served, application, settings.STATIC_URL)


class StaticPrefix:
    """Only requests under ``prefix`` go through ServeStatic, which in DEBUG looks each one up on disk
    in a worker thread; every other request goes straight to the application."""

    def __init__(self, served, application, prefix: str):
        self.served = served
        self.application = application
        self.prefix = prefix

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            return await self.served(scope, receive, send)
        return await self.application(scope, receive, send)


def _add_headers(headers, path: str, url: str) -> None:
    if policy := build_policy():
        headers["Content-Security-Policy"] = policy
    headers["X-Content-Type-Options"] = "nosniff"


def _finder_locations() -> list[tuple[str, str]]:
    """``(folder, URL prefix under STATIC_URL)`` of every folder the static finders search, in order."""
    locations = []
    for finder in finders.get_finders():
        for storage in getattr(finder, "storages", {}).values():
            prefix = getattr(storage, "prefix", None) or ""
            location = (storage.location, f"{prefix.strip('/')}/" if prefix else "")
            if location not in locations:
                locations.append(location)
    return locations


def static_problem() -> str | None:
    """One line naming the fix when production static files have not been collected, else None."""
    if settings.DEBUG or not isinstance(staticfiles_storage, ManifestStaticFilesStorage):
        return None
    if staticfiles_storage.read_manifest() is None:
        return (
            f"static files are not collected (no {staticfiles_storage.manifest_name} in STATIC_ROOT "
            f"{settings.STATIC_ROOT}): run `python manage.py collectstatic --noinput` with the same "
            "environment (DJANGO_STATIC_ROOT sets STATIC_ROOT)"
        )
    return None
