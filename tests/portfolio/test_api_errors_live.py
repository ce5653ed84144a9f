"""The API's errors through a real daphne: JSON {"error"} for what the application answers.

The one error daphne answers itself, before the application runs, is a multipart body without a
boundary: a bare 400 that cannot be JSON (the last test pins it, so a daphne that changes is noticed).
"""

import http.client
import json
import sqlite3
from urllib.parse import urlencode

import pytest

from tests.support import artifacts_dir, clean_env, migrate_database, start_daphne

TOO_LARGE = 3 * 1024 * 1024
TIMEOUT = 10.0
SESSION_KEY = "a" * 32  # well formed, so the server looks it up


@pytest.fixture(scope="module")
def daphne_port(tmp_path_factory):
    """A daphne (DEBUG on, as by default) whose session table is gone: a request with a session
    cookie fails inside the server, as a broken database would make it."""
    database = tmp_path_factory.mktemp("api-errors") / "db.sqlite3"
    env = clean_env(DATABASE_URL=f"sqlite:///{database}")
    migrate_database(env)
    with sqlite3.connect(database) as connection:
        connection.execute("DROP TABLE django_session")
    process, port = start_daphne(env, artifacts_dir(), name="daphne-api-errors")
    yield port
    process.stop()


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def json_error(status: int, headers: dict, body: bytes) -> tuple[int, str]:
    assert headers["Content-Type"].startswith("application/json"), body[:200]
    (message,) = json.loads(body).values()
    return status, message


def test_a_body_over_the_upload_limit_is_a_413_in_json(daphne_port):
    body = json.dumps({"ticker": "AAPL", "side": "buy", "quantity": 1, "pad": "x" * TOO_LARGE}).encode()
    answer = request(daphne_port, "POST", "/api/portfolio/trade/", body, {"Content-Type": "application/json"})
    status, message = json_error(*answer)
    assert status == 413
    assert "too large" in message


def test_a_form_of_too_many_fields_is_a_400_in_json(daphne_port):
    body = urlencode({f"f{n}": "x" for n in range(1100)}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    status, message = json_error(*request(daphne_port, "POST", "/api/portfolio/trade/", body, headers))
    assert status == 400
    assert "too many fields" in message.lower()


def test_an_unknown_api_path_is_a_json_404(daphne_port):
    status, message = json_error(*request(daphne_port, "GET", "/api/nope/"))
    assert status == 404
    assert "/api/nope/" in message


def test_a_wrong_method_is_a_json_405_with_allow(daphne_port):
    status, headers, body = request(daphne_port, "DELETE", "/api/portfolio/")
    assert json_error(status, headers, body)[0] == 405
    assert headers["Allow"] == "GET"


def test_a_server_error_is_a_json_500_without_a_traceback(daphne_port):
    cookie = {"Cookie": f"sessionid={SESSION_KEY}"}
    status, headers, body = request(daphne_port, "GET", "/api/portfolio/", headers=cookie)
    assert json_error(status, headers, body)[0] == 500
    assert b"Traceback" not in body
    assert b"django_session" not in body


def test_a_multipart_body_without_a_boundary_is_answered_by_daphne_itself_not_json(daphne_port):
    headers = {"Content-Type": "multipart/form-data"}
    status, headers, _ = request(daphne_port, "POST", "/api/portfolio/trade/", b"ticker=AAPL", headers)
    assert status == 400
    assert not headers.get("Content-Type", "").startswith("application/json")
