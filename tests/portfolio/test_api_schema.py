"""/api/schema/ and /api/docs/: the OpenAPI 3 description of every /api/ endpoint, from the code."""

import re

import pytest
from django.contrib.staticfiles import finders
from django.test import Client, override_settings
from django.urls import resolve
from openapi_spec_validator import validate

from portfolio.api import api

SCHEMA = "/api/schema/"
DOCS = "/api/docs/"

# The /api/ rows of CONTRACT.md ("Pages and endpoints"), with the methods each takes, as
# (path in the schema, an example URL, methods). The ticker suggestions serve the ticker boxes.
CONTRACT_ENDPOINTS = [
    ("/api/portfolio/", "/api/portfolio/", {"get"}),
    ("/api/portfolio/trade/", "/api/portfolio/trade/", {"post"}),
    ("/api/watchlist/", "/api/watchlist/", {"get", "post"}),
    ("/api/watchlist/{ticker}/", "/api/watchlist/AAPL/", {"delete"}),
    ("/api/tickers/", "/api/tickers/", {"get"}),
    ("/api/history/{ticker}/", "/api/history/AAPL/", {"get"}),
    ("/api/orders/", "/api/orders/", {"get", "post"}),
    ("/api/orders/{id}/", "/api/orders/1/", {"get", "delete"}),
]


@pytest.fixture(scope="module")
def schema():
    return Client().get(SCHEMA).json()


def test_the_schema_is_served_as_json_without_login(client):
    response = client.get(SCHEMA)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["openapi"].startswith("3.")


def test_the_schema_validates_as_openapi_3(schema):
    validate(schema)


@pytest.mark.parametrize(("path", "url", "methods"), CONTRACT_ENDPOINTS)
def test_every_endpoint_of_the_contract_is_in_the_schema(schema, path, url, methods):
    resolve(url)  # the URL of the contract is served
    assert methods <= set(schema["paths"][path])


def test_every_route_of_the_api_is_in_the_schema(schema):
    patterns, _, _ = api.urls
    routes = {
        "/api/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))
        for pattern in patterns
        if pattern.name not in ("openapi-json", "openapi-view", "api-root")
    }
    assert routes == set(schema["paths"])


def test_every_operation_documents_its_errors_as_the_error_object(schema):
    assert schema["components"]["schemas"]["ErrorOut"]["required"] == ["error"]
    error_ref = {"$ref": "#/components/schemas/ErrorOut"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            documented = {int(status) for status in responses}
            assert {401, 405} <= documented, (method, path)
            if "requestBody" in operation or "{" in path or operation["parameters"]:
                assert 400 in documented, (method, path)
            for status, response in responses.items():
                if int(status) >= 400:
                    assert response["content"]["application/json"]["schema"] == error_ref, (method, path)


def test_a_body_is_documented_as_json_and_as_the_same_fields_form_encoded(schema):
    content = schema["paths"]["/api/portfolio/trade/"]["post"]["requestBody"]["content"]
    assert content["application/json"] == content["application/x-www-form-urlencoded"]
    trade_in = schema["components"]["schemas"]["TradeIn"]
    assert trade_in["required"] == ["ticker", "side", "quantity"]


def test_the_operations_say_they_need_the_session_login(schema):
    (scheme,) = schema["components"]["securitySchemes"].values()
    assert scheme == {"type": "apiKey", "in": "cookie", "name": "sessionid"}
    assert all(operation.get("security") for ops in schema["paths"].values() for operation in ops.values())


def test_the_docs_page_uses_swagger_ui_from_this_server_not_a_cdn(client):
    response = client.get(DOCS)
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert SCHEMA in html
    assert not re.search(r"(src|href)=\"https?:", html)
    for asset in ("ninja/swagger-ui-bundle.js", "ninja/swagger-ui-init.js", "ninja/swagger-ui.css"):
        assert finders.find(asset), asset


def test_the_docs_page_has_no_inline_script_or_style(client):
    html = client.get(DOCS).content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert all("src=" in attributes or 'type="application/json"' in attributes for attributes, _ in scripts)
    assert "<style" not in html
    assert " style=" not in html


@override_settings(
    CONTENT_SECURITY_POLICY={"DIRECTIVES": {"default-src": ["'self'"], "style-src": ["'self'"]}}
)
def test_only_the_docs_page_allows_data_images_beyond_the_site_policy(settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "csp.middleware.CSPMiddleware"]
    client = Client()
    docs_policy = client.get(DOCS)["Content-Security-Policy"]
    assert "img-src 'self' data:" in docs_policy
    assert "style-src 'self'" in docs_policy
    assert "unsafe" not in docs_policy
    assert "data:" not in client.get("/")["Content-Security-Policy"]
