"""Every error under /api/ that the application answers is JSON {"error"}; other pages keep Django's own.

Django raises RequestDataTooBig and TooManyFieldsSent lazily, when the body is first read; the API
answers them before any endpoint runs (tests/portfolio/test_api_errors_live.py checks the same
through a real daphne).
"""

import json
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client, override_settings

from portfolio import selectors
from portfolio.models import Trade
from tests.portfolio_support import set_price

pytestmark = pytest.mark.django_db

TRADE = "/api/portfolio/trade/"
TOO_LARGE = 3 * 1024 * 1024
TOO_MANY_FIELDS = 1100


def assert_json_error(response, status: int) -> str:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    if response.has_header("Content-Length"):
        assert int(response["Content-Length"]) == len(response.content)
    body = response.json()
    assert list(body) == ["error"]
    assert body["error"]
    return body["error"]


def many_fields(count: int = TOO_MANY_FIELDS) -> dict[str, str]:
    return {"ticker": "AAPL", "side": "buy", "quantity": "1"} | {f"f{n}": "x" for n in range(count)}


def test_a_body_over_the_upload_limit_is_a_413_in_json(api):
    set_price("AAPL", 100.0)
    body = json.dumps({"ticker": "AAPL", "side": "buy", "quantity": 1, "pad": "x" * TOO_LARGE})
    response = api.post(TRADE, body, content_type="application/json")
    assert "too large" in assert_json_error(response, 413)
    assert not Trade.objects.exists()


def test_a_form_over_the_upload_limit_is_a_413_in_json(api):
    response = api.post(TRADE, {"ticker": "AAPL", "side": "buy", "quantity": "1", "pad": "x" * TOO_LARGE})
    assert_json_error(response, 413)


def test_a_too_large_body_is_a_413_before_the_login_check(client):
    assert_json_error(client.post(TRADE, "x" * TOO_LARGE, content_type="application/json"), 413)


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_a_form_of_too_many_fields_is_a_400_in_json(api, encoding):
    set_price("AAPL", 100.0)
    if encoding == "urlencoded":
        response = api.post(TRADE, urlencode(many_fields()), content_type="application/x-www-form-urlencoded")
    else:
        response = api.post(TRADE, many_fields())
    message = assert_json_error(response, 400)
    assert f"too many fields in the form: at most {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS}" in message.lower()
    assert not Trade.objects.exists()


def test_a_multipart_body_without_a_boundary_is_a_400_in_json(api):
    response = api.post(TRADE, b"ticker=AAPL", content_type="multipart/form-data")
    assert "form body cannot be read" in assert_json_error(response, 400)


@pytest.mark.parametrize("path", ["/api/nope/", "/api/portfolio/nope/", "/api/", "/api/watchlist/AAPL/x/"])
def test_an_unknown_api_path_is_a_json_404(api, path):
    assert path in assert_json_error(api.get(path), 404)


def test_an_unknown_api_path_is_a_json_404_in_debug_too(api, settings):
    settings.DEBUG = True
    assert_json_error(api.get("/api/nope/"), 404)


def test_an_api_path_without_its_trailing_slash_still_redirects_to_it(api):
    response = api.get("/api/portfolio")
    assert response.status_code == 301
    assert response["Location"] == "/api/portfolio/"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("delete", "/api/portfolio/", "GET"),
        ("get", TRADE, "POST"),
        ("put", "/api/watchlist/", "GET, POST"),
        ("patch", "/api/watchlist/", "GET, POST"),
        ("post", "/api/watchlist/AAPL/", "DELETE"),
        ("delete", "/api/tickers/", "GET"),
    ],
)
def test_a_wrong_method_is_a_json_405_naming_the_allowed_ones(api, method, path, allow):
    response = getattr(api, method)(path)
    message = assert_json_error(response, 405)
    assert response["Allow"] == allow
    assert message == f"Method {method.upper()} not allowed here; use {allow.replace(', ', ' or ')}."


def failing_summary(user):
    raise RuntimeError("secret detail of a failing selector")


def test_a_server_error_in_an_endpoint_is_a_json_500_without_a_traceback(api, monkeypatch, caplog):
    monkeypatch.setattr(selectors, "portfolio_summary", failing_summary)
    response = api.get("/api/portfolio/")
    message = assert_json_error(response, 500)
    assert "secret" not in message and "Traceback" not in response.content.decode()
    assert "secret detail of a failing selector" in caplog.text  # the traceback is in the log


def test_a_server_error_in_an_endpoint_is_a_json_500_in_debug_too(api, monkeypatch, settings):
    settings.DEBUG = True
    monkeypatch.setattr(selectors, "portfolio_summary", failing_summary)
    response = api.get("/api/portfolio/")
    assert_json_error(response, 500)
    assert b"secret" not in response.content


@pytest.mark.parametrize("debug", [False, True])
@override_settings(ROOT_URLCONF="tests.portfolio.erroring_urls")
def test_a_server_error_outside_the_endpoints_is_a_json_500_without_a_traceback(settings, debug):
    settings.DEBUG = debug
    response = Client(raise_request_exception=False).get("/api/failing/")
    assert_json_error(response, 500)
    assert b"secret" not in response.content
    assert b"Traceback" not in response.content


def test_a_validation_error_is_a_400_naming_the_field_never_a_422(api):
    response = api.post(TRADE, json.dumps({"ticker": ["AAPL"], "side": 1}), content_type="application/json")
    message = assert_json_error(response, 400)
    assert message == (
        "Field 'ticker' must be a string. Field 'side' must be a string. Missing field 'quantity'."
    )


def test_a_csrf_failure_is_a_json_403(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert "csrf" in assert_json_error(client.delete("/api/watchlist/AAPL/"), 403).lower()


def test_a_disallowed_host_is_a_json_400(api):
    assert_json_error(api.get("/api/portfolio/", HTTP_HOST="evil.example"), 400)


def test_an_unknown_page_outside_the_api_keeps_djangos_html_404(client):
    response = client.get("/nope/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_too_large_form_outside_the_api_keeps_djangos_400(api):
    response = api.post("/watchlist/", {"ticker": "AAPL", "pad": "x" * TOO_LARGE})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
