"""/accounts/: sign-up gives a set-up account and logs in; log in; log out asks first on GET."""

from decimal import Decimal

import pytest
from django.contrib.auth import SESSION_KEY, get_user_model

from market.seed_prices import DEFAULT_TICKERS
from portfolio import selectors
from tests.portfolio_support import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-and-unusual-passphrase"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def sign_up(client, username="newbie", password=PASSWORD, confirm=None, query=""):
    return client.post(
        f"/accounts/signup/{query}",
        {"username": username, "password1": password, "password2": confirm or password},
    )


def test_the_signup_page_shows_the_form(client):
    response = client.get("/accounts/signup/")
    assert response.status_code == 200
    assert b'name="password2"' in response.content


def test_signing_up_logs_the_new_user_in_and_goes_home(client):
    response = sign_up(client)
    assert response.status_code == 302
    assert response["Location"] == "/"
    user = get_user_model().objects.get(username="newbie")
    assert client.session[SESSION_KEY] == str(user.pk)


def test_a_new_account_has_ten_thousand_cash_and_the_default_watchlist(client):
    sign_up(client)
    user = get_user_model().objects.get(username="newbie")
    assert selectors.portfolio_summary(user)["cash"] == Decimal("10000.00")
    assert selectors.stream_tickers_for_user(user) == list(DEFAULT_TICKERS)


def test_signup_goes_to_a_safe_next_page(client):
    assert sign_up(client, query="?next=/portfolio/")["Location"] == "/portfolio/"


def test_signup_ignores_a_next_page_on_another_site(client):
    assert sign_up(client, query="?next=https://evil.example/")["Location"] == "/"


def test_mismatched_passwords_are_refused_with_a_message(client):
    response = sign_up(client, confirm="something-else-entirely")
    assert response.status_code == 200
    assert b"didn\xe2\x80\x99t match" in response.content or b"didn't match" in response.content
    assert not get_user_model().objects.filter(username="newbie").exists()


def test_a_taken_username_is_refused(client):
    make_user("newbie")
    response = sign_up(client)
    assert response.status_code == 200
    assert b"already exists" in response.content


def test_logging_in_with_the_right_password_starts_a_session(client):
    user = make_user("trader", password=PASSWORD)
    response = client.post("/accounts/login/", {"username": "trader", "password": PASSWORD})
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(user.pk)


def test_logging_in_with_a_wrong_password_shows_an_error(client):
    make_user("trader", password=PASSWORD)
    response = client.post("/accounts/login/", {"username": "trader", "password": "nope"})
    assert response.status_code == 200
    assert b"correct username and password" in response.content
    assert SESSION_KEY not in client.session


def test_logout_by_get_asks_for_confirmation_and_keeps_the_session(client):
    client.force_login(make_user())
    response = client.get("/accounts/logout/")
    assert response.status_code == 200
    assert b'method="post"' in response.content
    assert SESSION_KEY in client.session


def test_logout_by_post_ends_the_session(client):
    client.force_login(make_user())
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert SESSION_KEY not in client.session
