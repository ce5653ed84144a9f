"""The JSON API under /api/ (CONTRACT.md), built with django-ninja: the OpenAPI schema at
/api/schema/ and its interactive docs at /api/docs/ are generated from this code.

Layout: one module per area, each a ``ninja.Router`` mounted below with ``api.add_router``:
``portfolio`` (/api/portfolio/...), ``watchlist`` (/api/watchlist/...), ``tickers`` (/api/tickers/),
``orders`` (/api/orders/...). A new area (``history``) is a new module with its router and schemas,
mounted here in one line. Shared by all: ``errors`` (the ``{"error"}`` answers and their schema:
raise ``ApiError`` or a ``services.ServiceError``, document with ``errors.documented(400, ...)``),
``bodies`` (JSON bodies with exact decimals, or the same fields form-encoded: take
``payload: Fields[Schema]``), ``security`` (session login with Django's CSRF check),
``middleware`` (JSON errors for what Django answers under /api/ before or around a view).
Views stay thin: business rules live in ``portfolio.services``, reads in ``portfolio.selectors``.

Rules that hold for every endpoint: session auth (401 ``{"error": "login required"}`` when not
logged in, never a redirect); the CSRF token in ``X-CSRFToken`` on POST and DELETE (403 JSON), the
csrftoken cookie set by every GET of a logged-in user; decimals as strings where money is involved;
errors always ``{"error": "<why>"}``: 400 bad input or a refused change (validation errors name the
field), 404, 405 with ``Allow``, 413 for a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``, 500 without a
traceback.
"""

from csp.decorators import csp_update
from ninja import NinjaAPI, Swagger

from . import errors, history, orders, portfolio, tickers, watchlist
from .bodies import BodyParser
from .errors import csrf_failure
from .security import session_login

__all__ = ["api", "csrf_failure"]


class FinallyAPI(NinjaAPI):
    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        """ninja's schema, plus what the shared code does for every operation: a JSON body is also
        taken form-encoded, and a wrong method is a 405 ``{"error"}``."""
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        error_ref = {"schema": {"$ref": "#/components/schemas/ErrorOut"}}
        for operations in schema["paths"].values():
            for operation in operations.values():
                content = operation.get("requestBody", {}).get("content", {})
                if "application/json" in content:
                    content["application/x-www-form-urlencoded"] = content["application/json"]
                operation["responses"].setdefault(
                    405, {"description": "Method Not Allowed", "content": {"application/json": error_ref}}
                )
        return schema


DESCRIPTION = """The FinAlly paper-trading API.

Log in with the site's login page (session cookie); send the `csrftoken` cookie's value in an
`X-CSRFToken` header on POST and DELETE (every GET of a logged-in user sets the cookie). Bodies are
JSON objects (numbers are read exactly) or the same fields form-encoded. Money and quantities in
`/api/portfolio/` are decimal strings; prices are numbers.

Every error is `{"error": "<why>"}`: 400 for bad input or a refused change (nothing changed), 401
when not logged in, 403 for a missing or wrong CSRF token, 404, 405 (with `Allow`) for a method an
endpoint does not take, 413 for a body too large, 500 for a server error.
"""

api = FinallyAPI(
    title="FinAlly API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api",
    openapi_url="/schema/",
    docs_url="/docs/",
    # No call to an online validator (a third party, and blocked by the Content-Security-Policy).
    docs=Swagger(settings={"validatorUrl": None}),
    # Swagger UI, served from ninja's own static files, needs no inline script or style; its stylesheet
    # draws its icons as data: SVG images, allowed on that page only. 'self' is repeated for a policy
    # whose img-src falls back to default-src.
    docs_decorator=csp_update({"img-src": ["'self'", "data:"]}),
    auth=session_login,
    parser=BodyParser(),
)
errors.install(api)
api.add_router("/portfolio/", portfolio.router)
api.add_router("/watchlist/", watchlist.router)
api.add_router("/tickers/", tickers.router)
api.add_router("/orders/", orders.router)
api.add_router("/history/", history.router)
