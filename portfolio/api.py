"""The JSON API under /api/ (CONTRACT.md): session auth, Django's CSRF protection, decimals as strings.

Errors are always JSON ``{"error": "<why>"}``: 400 for a bad request or a refused change, 401 when
not logged in (never a redirect to the login page), 404 for a ticker not on the watchlist, 405 for
a method the endpoint does not take (with ``Allow``), 403 for a missing or wrong CSRF token.
"""

import json
from decimal import Decimal
from functools import wraps

from django.http import HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.views.csrf import csrf_failure as django_csrf_failure

from market.tickers import InvalidTicker, normalize_ticker

from . import selectors, services
from .events import trade_payload
from .money import format_money, format_percent, format_price, format_quantity

FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
JSON_CONTENT_TYPES = ("application/json", "text/plain", "")


class BadRequest(Exception):
    """A request the API cannot read; the message says what is wrong."""


def error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def endpoint(*methods: str):
    """Allow only ``methods`` (405 otherwise), require a logged-in user (401), and turn
    ``BadRequest`` and ``ServiceError`` into 400 JSON errors."""

    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                response = error(
                    f"Method {request.method} not allowed here; use {' or '.join(methods)}.", 405
                )
                response["Allow"] = ", ".join(methods)
                return response
            if not request.user.is_authenticated:
                return error("login required", 401)
            if request.method == "GET":
                get_token(request)  # sets the csrftoken cookie that later POSTs and DELETEs echo back
            try:
                return view(request, *args, **kwargs)
            except (BadRequest, services.ServiceError) as exc:
                return error(str(exc), 400)

        return wrapper

    return decorate


def read_json_object(request) -> dict:
    """The request body as a JSON object; numbers with a fraction are read as exact Decimals.

    The same fields sent as a form (what an HTML form, curl -d, or Django's test client send by
    default) are accepted too, as text.
    """
    content_type = request.content_type or ""
    if content_type in FORM_CONTENT_TYPES:
        return request.POST.dict()
    if content_type not in JSON_CONTENT_TYPES and not content_type.endswith("+json"):
        raise BadRequest(
            f"Send a JSON body with Content-Type: application/json (got {content_type or 'none'})."
        )
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("Malformed JSON: the body is not UTF-8 text.") from None
    if not text.strip():
        raise BadRequest("Malformed JSON: the body is empty; send a JSON object.")
    try:
        data = json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        raise BadRequest(f"Malformed JSON: {exc}.") from None
    except RecursionError:
        raise BadRequest("Malformed JSON: nested too deeply.") from None
    if not isinstance(data, dict):
        raise BadRequest(f"The JSON body must be an object, got {type(data).__name__}.")
    return data


def text_field(data: dict, name: str) -> str:
    if name not in data:
        raise BadRequest(f"Missing field {name!r}.")
    if not isinstance(data[name], str):
        raise BadRequest(f"Field {name!r} must be a string.")
    return data[name]


@endpoint("GET")
def portfolio(request):
    summary = selectors.portfolio_summary(request.user)
    return JsonResponse(
        {
            "cash": format_money(summary["cash"]),
            "total_value": format_money(summary["total_value"]),
            "positions": [
                {
                    "ticker": row["ticker"],
                    "quantity": format_quantity(row["quantity"]),
                    "avg_cost": format_price(row["avg_cost"]),
                    "price": format_price(row["price"]),
                    "market_value": format_money(row["market_value"]),
                    "unrealized_pnl": format_money(row["unrealized_pnl"]),
                    "unrealized_pnl_percent": format_percent(row["unrealized_pnl_percent"]),
                }
                for row in summary["positions"]
            ],
        }
    )


@endpoint("POST")
def trade(request):
    data = read_json_object(request)
    ticker, side = text_field(data, "ticker"), text_field(data, "side")
    if "quantity" not in data:
        raise BadRequest("Missing field 'quantity'.")
    quantity = data["quantity"]
    if not isinstance(quantity, str | int | Decimal) or isinstance(quantity, bool):
        raise BadRequest("Field 'quantity' must be a number or a string holding one.")
    executed = services.execute_trade(request.user, ticker, side, quantity)
    return JsonResponse({"trade": trade_payload(executed), "cash": format_money(executed.cash_after)})


def _watchlist_body(watchlist) -> dict:
    """Each row has ``state`` (``priced``, ``pending`` or ``unknown``), so a ticker Massive does not know
    is reported where it was added."""
    return {"name": watchlist.name, "tickers": selectors.watchlist_rows(watchlist)}


@endpoint("GET", "POST")
def watchlist(request):
    default = selectors.default_watchlist(request.user)
    if request.method == "GET":
        return JsonResponse(_watchlist_body(default))
    ticker = text_field(read_json_object(request), "ticker")
    entry, created = services.add_to_watchlist(default, ticker)
    body = {"ticker": entry.ticker, "created": created, **_watchlist_body(default)}
    return JsonResponse(body, status=201 if created else 200)


@endpoint("DELETE")
def watchlist_ticker(request, ticker: str):
    try:
        ticker = normalize_ticker(ticker)
    except InvalidTicker as exc:
        raise BadRequest(str(exc)) from None
    if not services.remove_from_watchlist(selectors.default_watchlist(request.user), ticker):
        return error(f"{ticker} is not on your watchlist.", 404)
    return HttpResponse(status=204)


def csrf_failure(request, reason: str = "", template_name: str = "403_csrf.html"):
    """``settings.CSRF_FAILURE_VIEW``: a JSON 403 for the API, Django's own page everywhere else."""
    if request.path.startswith("/api/"):
        return error(
            f"CSRF verification failed ({reason}); send the csrftoken cookie's value in X-CSRFToken.", 403
        )
    return django_csrf_failure(request, reason=reason, template_name=template_name)
