"""Errors of the JSON API: always ``{"error": "<why>"}``, whatever went wrong and whoever answered.

``install(api)`` makes the NinjaAPI answer its own errors so: a refused change or bad input 400
(pydantic's validation errors too, as one sentence naming the field, never ninja's 422 ``detail``
list), 401 ``{"error": "login required"}``, 403 for CSRF, 404, 413 for a body over Django's limit,
500 without a traceback (logged with it). ``portfolio.api.middleware`` does the same for what Django
answers itself under /api/ (an unknown path, a wrong method, errors outside a view).
"""

import logging
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import Http404, HttpRequest, JsonResponse, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django.utils.log import log_response
from django.views.csrf import csrf_failure as django_csrf_failure
from ninja import Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from pydantic_core import PydanticCustomError

from portfolio import services

API_PREFIX = "/api/"
LOGIN_REQUIRED = "login required"
# The error type of the refusals our own validators raise: their message is a phrase that follows
# the field's name ("Field 'quantity' must be a number or a string holding one.").
REFUSAL = "finally_refusal"
SERVER_ERROR = "Server error; the details are in the server's log."


class ErrorOut(Schema):
    """Every error the API answers."""

    error: str


class ApiError(Exception):
    """An error answer: ``status`` and a message for the caller."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class BadRequest(ApiError):
    """A request the API cannot read; the message says what is wrong."""


class CsrfRefused(Exception):
    """The CSRF check failed; ``response`` is ``settings.CSRF_FAILURE_VIEW``'s answer (``csrf_failure``)."""

    def __init__(self, response):
        super().__init__("CSRF verification failed")
        self.response = response


def refusal(phrase: str) -> PydanticCustomError:
    """For a validator to raise: ``phrase`` follows the field's name ("must not be empty")."""
    return PydanticCustomError(REFUSAL, phrase)


def is_api_request(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


def error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def documented(*statuses: int) -> dict[int, type[ErrorOut]]:
    """``response=`` entries that document the ``{"error"}`` answers of an operation."""
    return dict.fromkeys(statuses, ErrorOut)


def answer_for(exc: Exception) -> tuple[int, str] | None:
    """Status and message for the exceptions Django raises about a request itself (None for others).

    Django raises ``RequestDataTooBig`` and ``TooManyFieldsSent`` lazily, when the body is first read.
    """
    if isinstance(exc, RequestDataTooBig):
        return 413, _too_large()
    if isinstance(exc, TooManyFieldsSent):
        return 400, f"Too many fields in the form: at most {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS}."
    if isinstance(exc, TooManyFilesSent):
        return 400, f"Too many files in the form: at most {settings.DATA_UPLOAD_MAX_NUMBER_FILES}."
    if isinstance(exc, MultiPartParserError):
        return 400, f"The form body cannot be read: {exc}."
    if isinstance(exc, UnreadablePostError):
        return 400, "The request body could not be read to its end."
    if isinstance(exc, SuspiciousOperation):
        return 400, "Bad request."
    if isinstance(exc, PermissionDenied):
        return 403, "Forbidden."
    if isinstance(exc, Http404):
        return 404, "Not found."
    return None


def _too_large() -> str:
    return f"The request body is too large: at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."


def exception_response(request: HttpRequest, exc: Exception) -> JsonResponse:
    """The JSON answer to ``exc`` raised while serving ``request``, logged as Django logs it."""
    known = answer_for(exc)
    if known is None:
        response = error(SERVER_ERROR, 500)
        log_response(
            "Internal Server Error: %s", request.path, response=response, request=request, exception=exc
        )
        return response
    response = error(known[1], known[0])
    if isinstance(exc, SuspiciousOperation):
        # Where Django logs these: operators watch django.security for them.
        security = logging.getLogger(f"django.security.{type(exc).__name__}")
        log_response(str(exc), response=response, request=request, logger=security, exception=exc)
    return response


def validation_message(errors: list[dict]) -> str:
    """One sentence per pydantic error, naming the field: ``Missing field 'ticker'.``,
    ``Field 'ticker' must be a string.``, ``Query parameter 'q' is too long: at most 50 characters.``"""
    return " ".join(_one_validation_message(each) for each in errors)


_KINDS = {"body": "field", "form": "field", "query": "query parameter", "path": "path parameter"}


def _one_validation_message(error: dict) -> str:
    source, *where = error["loc"]
    if source == "body" and len(where) > 1:
        where = where[1:]  # the view's argument name (``payload``) is not what the caller sent
    kind = _KINDS.get(source, "field")
    name = repr(".".join(str(part) for part in where)) if where else "body"
    subject = f"{kind.capitalize()} {name}"
    ctx = error.get("ctx") or {}
    kind_of = error["type"]
    if kind_of == "missing":
        return f"Missing {kind} {name}."
    if kind_of == REFUSAL:
        return f"{subject} {error['msg']}."
    if kind_of == "string_type":
        return f"{subject} must be a string."
    if kind_of == "string_too_long":
        return f"{subject} is too long: at most {ctx.get('max_length')} characters."
    message = error["msg"]
    return f"{subject} is not valid: {message[:1].lower()}{message[1:]}."


def install(api) -> None:
    """Answer every error of ``api`` (a NinjaAPI) as ``{"error"}``."""

    @api.exception_handler(ValidationError)
    def _invalid(request, exc):
        return error(validation_message(exc.errors), 400)

    @api.exception_handler(AuthenticationError)
    def _anonymous(request, exc):
        return error(LOGIN_REQUIRED, 401)

    @api.exception_handler(CsrfRefused)
    def _csrf(request, exc):
        return exc.response

    @api.exception_handler(ApiError)
    def _api_error(request, exc):
        return error(str(exc), exc.status)

    @api.exception_handler(services.ServiceError)
    def _refused(request, exc):
        return error(str(exc), 400)

    @api.exception_handler(HttpError)
    def _http_error(request, exc):
        return error(str(exc), exc.status_code)

    @api.exception_handler(Http404)
    def _not_found(request, exc):
        return error("Not found.", 404)

    @api.exception_handler(Exception)
    def _anything_else(request, exc):
        return exception_response(request, exc)


def as_json(request: HttpRequest, response):
    """``response`` as ``{"error"}`` if it is an error in another format (Django's HTML pages, ninja's
    plain-text 405), keeping its status and headers (``Allow``, cookies); others unchanged."""
    if response.status_code < 400 or response.get("Content-Type", "").startswith("application/json"):
        return response
    message = _message_for_status(request, response)
    if getattr(response, "streaming", False):
        replacement = error(message, response.status_code)
        for header, value in response.items():
            if header.lower() not in ("content-type", "content-length"):
                replacement[header] = value
        replacement.cookies = response.cookies
        return replacement
    response.content = JsonResponse({"error": message}).content
    response["Content-Type"] = "application/json"
    if response.has_header("Content-Length"):  # set by CommonMiddleware for the body it replaces
        response["Content-Length"] = str(len(response.content))
    return response


_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _message_for_status(request: HttpRequest, response) -> str:
    status = response.status_code
    if status == 404:
        return f"Not found: {request.path} is not an endpoint of this API (see {API_PREFIX}docs/)."
    if status == 405:
        allowed = sorted(
            (method.strip() for method in response.get("Allow", "").split(",") if method.strip()),
            key=lambda method: _METHOD_ORDER.index(method) if method in _METHOD_ORDER else len(_METHOD_ORDER),
        )
        response["Allow"] = ", ".join(allowed)
        return f"Method {request.method} not allowed here; use {' or '.join(allowed)}."
    if status == 413:
        return _too_large()
    if status >= 500:
        return SERVER_ERROR
    try:
        return f"{HTTPStatus(status).phrase}."
    except ValueError:
        return "Request refused."


def csrf_failure(request, reason: str = "", template_name: str = "403_csrf.html"):
    """``settings.CSRF_FAILURE_VIEW``: a JSON 403 for the API, Django's own page everywhere else."""
    if is_api_request(request):
        return error(
            f"CSRF verification failed ({reason}); send the csrftoken cookie's value in X-CSRFToken.", 403
        )
    return django_csrf_failure(request, reason=reason, template_name=template_name)
