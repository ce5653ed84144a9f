"""ASGI entry point: Django for HTTP, the price stream for WebSockets, the embedded feed started lazily.

``daphne finally_site.asgi:application`` and ``runserver`` (with daphne installed) both serve this.
"""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finally_site.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from django.conf import settings  # noqa: E402

if settings.CONFIG_PROBLEMS:
    # daphne runs no system checks: refuse to start with one clear line per problem instead.
    for problem in settings.CONFIG_PROBLEMS:
        print(f"finally: configuration error: {problem}", file=sys.stderr)
    raise SystemExit(2)

from market import hooks  # noqa: E402
from market.checks import redis_problem  # noqa: E402

# Same for a hook setting that cannot be imported, and a Redis that REDIS_URL names but that does not
# answer (the system checks' messages).
if problems := [*hooks.problems(), *filter(None, [redis_problem()])]:
    for problem in problems:
        print(f"finally: configuration error: {problem}", file=sys.stderr)
    raise SystemExit(2)

from finally_site.static import static_files, static_problem  # noqa: E402

if problem := static_problem():
    # Production without `collectstatic`: every page would be a 500 (no manifest entry for its files).
    print(f"finally: configuration error: {problem}", file=sys.stderr)
    raise SystemExit(2)

from market.stream.routing import build_application  # noqa: E402

# Static files are served here, under daphne, uvicorn and runserver alike (finally_site.static).
application = build_application(static_files(django_asgi_app))
