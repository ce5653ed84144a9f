"""The login throttle: 5 failed logins in 15 minutes for one username, or from one address (each on its
own), refuse every login for it, the right password included, with a clear message on the login page;
on /accounts/login/ and /admin/login/, through the test client and through a real daphne."""

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib import admin
from django.contrib.auth import SESSION_KEY
from django.utils import timezone

from tests.portfolio_support import make_user
from tests.support import (
    artifacts_dir,
    clean_env,
    manage,
    migrate_database,
    start_daphne,
)

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-and-unusual-passphrase"
LOCKED = "Too many failed logins for this username or from this address; try again in 15 minutes."


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def log_in(client, username: str, password: str, path: str = "/accounts/login/", address: str = "10.0.0.1"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def fail(client, times: int, username: str = "trader", **kwargs) -> list[int]:
    return [log_in(client, username, "wrong password", **kwargs).status_code for _ in range(times)]


def test_four_failures_still_let_the_right_password_in(client):
    user = make_user("trader", password=PASSWORD)
    assert fail(client, 4) == [200] * 4
    assert log_in(client, "trader", PASSWORD).status_code == 302
    assert client.session[SESSION_KEY] == str(user.pk)


def test_the_fifth_failure_locks_the_username_with_a_clear_message(client):
    make_user("trader", password=PASSWORD)
    assert fail(client, 5) == [200, 200, 200, 200, 429]
    response = log_in(client, "trader", PASSWORD)
    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert b'name="password"' in response.content  # the login page, with its form
    assert SESSION_KEY not in client.session


def test_a_locked_username_is_refused_from_another_address_too(client):
    make_user("trader", password=PASSWORD)
    fail(client, 5, address="10.0.0.1")
    response = log_in(client, "trader", PASSWORD, address="10.0.0.99")
    assert response.status_code == 429
    assert SESSION_KEY not in client.session


def test_a_locked_address_is_refused_for_another_username_too(client):
    make_user("other", password=PASSWORD)
    for number in range(5):
        log_in(client, f"guess{number}", "wrong password", address="10.0.0.7")
    assert log_in(client, "other", PASSWORD, address="10.0.0.7").status_code == 429
    assert log_in(client, "other", PASSWORD, address="10.0.0.8").status_code == 302


def test_the_lock_ends_after_the_cool_off(client):
    make_user("trader", password=PASSWORD)
    fail(client, 5)
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert log_in(client, "trader", PASSWORD).status_code == 302


def test_the_limit_and_the_cool_off_are_settings(client, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = timedelta(minutes=30)
    make_user("trader", password=PASSWORD)
    assert fail(client, 2) == [200, 429]
    assert "try again in 30 minutes" in log_in(client, "trader", PASSWORD).content.decode()


def test_the_admin_login_is_throttled_with_the_same_message(client):
    make_user("boss", password=PASSWORD, is_staff=True, is_superuser=True)
    assert fail(client, 5, username="boss", path="/admin/login/") == [200, 200, 200, 200, 429]
    response = log_in(client, "boss", PASSWORD, path="/admin/login/")
    assert response.status_code == 429
    content = response.content.decode()
    assert LOCKED in content
    assert admin.site.site_header in content  # the admin's own login page, not the site's
    assert SESSION_KEY not in client.session


def test_failures_on_the_admin_and_the_site_add_up(client):
    make_user("boss", password=PASSWORD, is_staff=True)
    fail(client, 3, username="boss", path="/admin/login/")
    fail(client, 2, username="boss")
    assert log_in(client, "boss", PASSWORD).status_code == 429


def test_sign_up_still_logs_the_new_user_in(client):
    response = client.post(
        "/accounts/signup/", {"username": "newbie", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302
    assert SESSION_KEY in client.session
    assert client.get("/portfolio/").status_code == 200


@pytest.mark.postgres
def test_a_null_byte_in_the_login_username_is_a_form_error_not_a_500(client):
    response = log_in(client, "trader\x00", "wrong password")
    assert response.status_code == 200
    assert "Null characters are not allowed" in response.content.decode()


@pytest.mark.postgres
def test_a_null_byte_in_the_headers_the_throttle_stores_is_no_500(client):
    user = make_user("trader", password=PASSWORD)
    headers = {"HTTP_USER_AGENT": "evil\x00agent", "HTTP_ACCEPT": "text/html\x00"}
    wrong, right = {"username": "trader", "password": "nope"}, {"username": "trader", "password": PASSWORD}
    assert client.post("/accounts/login/", wrong, **headers).status_code == 200
    assert AccessAttempt.objects.get().user_agent == "evil0x00agent"
    assert client.post("/accounts/login/", right, **headers).status_code == 302
    assert client.session[SESSION_KEY] == str(user.pk)


# Under a real daphne: the ASGI path through the middleware, with real sockets.


class Browser:
    """Just enough of a browser for a login form: cookies, and the CSRF token of the page."""

    def __init__(self, base: str):
        self.base = base
        cookies = urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        self.opener = urllib.request.build_opener(cookies)

    def post_login(self, path: str, username: str, password: str) -> tuple[int, str]:
        page = self.opener.open(f"{self.base}{path}", timeout=10).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = {"csrfmiddlewaretoken": token, "username": username, "password": password, "next": "/"}
        request = urllib.request.Request(
            f"{self.base}{path}", data=urllib.parse.urlencode(form).encode(), headers={"Referer": self.base}
        )
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()


@pytest.fixture(scope="module")
def daphne_base(tmp_path_factory):
    database = tmp_path_factory.mktemp("throttle") / "db.sqlite3"
    env = clean_env(DATABASE_URL=f"sqlite:///{database}")
    migrate_database(env)
    code = (
        "from django.contrib.auth import get_user_model; U = get_user_model(); "
        f"U.objects.create_user('trader', password='{PASSWORD}'); "
        f"U.objects.create_superuser('boss', password='{PASSWORD}')"
    )
    manage(env, "shell", "-c", code)
    process, port = start_daphne(env, artifacts_dir(), name="daphne-throttle")
    yield env, f"http://127.0.0.1:{port}"
    process.stop()


@pytest.mark.parametrize(("path", "username"), [("/accounts/login/", "trader"), ("/admin/login/", "boss")])
def test_daphne_refuses_the_right_password_after_five_failures(daphne_base, path, username):
    env, base = daphne_base
    manage(env, "axes_reset")  # every test comes from 127.0.0.1: start each with no failures on record
    browser = Browser(base)
    statuses = [browser.post_login(path, username, "wrong password")[0] for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    status, page = browser.post_login(path, username, PASSWORD)
    assert status == 429
    assert LOCKED in page
    assert 'name="password"' in page
