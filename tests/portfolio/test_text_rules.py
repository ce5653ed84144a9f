"""Names and text fields refuse control characters (null bytes included) with a clear message, and a name
that is blank once invisible characters are removed is refused too; nothing changes, nothing crashes.

The page tests run on SQLite and, under scripts/test's second pass, on PostgreSQL, which refuses a null
byte in a text column outright (a 500 before this rule).
"""

import pytest
from django.contrib.auth import get_user_model

from portfolio import names, selectors, services
from portfolio.models import Watchlist
from portfolio.services import ServiceError
from tests.portfolio_support import make_user

pytestmark = pytest.mark.django_db

CONTROL = {
    "null byte": "Tech\x00",
    "start of heading": "Te\x01ch",
    "escape": "\x1b[31mTech",
    "delete": "Tech\x7f",
    "C1 next line": "Tech\x85",
    "newline": "Te\nch",
    "right-to-left override": "\u202eTech",
    "left-to-right isolate": "Tech\u2066",
    "lone surrogate": "Tech\ud800",
}
INVISIBLE = {
    "zero-width space": "\u200b",
    "zero-width joiner and spaces": " \u200d \u200c ",
    "Hangul filler": "\u3164",
    "braille blank": "\u2800\u2800",
    "word joiner and no-break space": "\u2060\u00a0",
    "variation selector": "\ufe0f",
}


def names_of(user) -> list[str]:
    return sorted(Watchlist.objects.filter(user=user).values_list("name", flat=True))


@pytest.mark.parametrize("name", CONTROL.values(), ids=CONTROL.keys())
def test_creating_a_watchlist_named_with_a_control_character_is_refused_naming_it(name):
    user = make_user()
    with pytest.raises(ServiceError, match=r"cannot contain control characters \(found U\+[0-9A-F]{4}\)"):
        services.create_watchlist(user, name)
    assert names_of(user) == ["Default"]


@pytest.mark.parametrize("name", CONTROL.values(), ids=CONTROL.keys())
def test_renaming_a_watchlist_with_a_control_character_is_refused(name):
    user = make_user()
    watchlist = services.create_watchlist(user, "Tech")
    with pytest.raises(ServiceError, match="control characters"):
        services.rename_watchlist(watchlist, name)
    assert names_of(user) == ["Default", "Tech"]


@pytest.mark.parametrize("name", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_a_watchlist_name_of_invisible_characters_only_is_blank(name):
    user = make_user()
    with pytest.raises(ServiceError, match="needs a name"):
        services.create_watchlist(user, name)
    with pytest.raises(ServiceError, match="needs a name"):
        services.rename_watchlist(selectors.default_watchlist(user), name)
    assert names_of(user) == ["Default"]


def test_a_name_with_an_invisible_character_among_visible_ones_is_kept():
    user = make_user()
    assert services.create_watchlist(user, "Tech\u200d").name == "Tech\u200d"


def test_marks_that_only_nudge_text_direction_are_allowed():
    assert names.control_character("\u05e9\u05dc\u05d5\u05dd\u200f 1") is None  # Hebrew, RLM


@pytest.mark.postgres
@pytest.mark.parametrize("action", ["create", "rename"])
def test_a_null_byte_in_a_watchlist_name_from_the_page_is_a_message_not_a_500(client, action):
    user = make_user()
    client.force_login(user)
    target = services.create_watchlist(user, "Tech")
    response = client.post(
        "/watchlist/", {"action": action, "watchlist": str(target.pk), "name": "Bad\x00name"}, follow=True
    )
    assert response.status_code == 200  # the refusal, shown on the page it redirected back to
    assert "control characters" in response.content.decode()
    assert names_of(user) == ["Default", "Tech"]


@pytest.mark.postgres
def test_a_null_byte_in_a_username_at_sign_up_is_refused(client):
    response = client.post(
        "/accounts/signup/",
        {"username": "bad\x00user", "password1": "a-long-passphrase-1", "password2": "a-long-passphrase-1"},
    )
    assert response.status_code == 200
    assert "Null characters are not allowed" in response.content.decode()
    assert not get_user_model().objects.filter(username__startswith="bad").exists()


@pytest.fixture
def admin_post(admin_client, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return admin_client.post


def watchlist_form(user, name: str) -> dict:
    return {
        "user": str(user.pk),
        "name": name,
        "entries-TOTAL_FORMS": "0",
        "entries-INITIAL_FORMS": "0",
        "entries-MIN_NUM_FORMS": "0",
        "entries-MAX_NUM_FORMS": "1000",
    }


@pytest.mark.postgres
@pytest.mark.parametrize("name", ["Bad\x00name", "Bad\x01name", "\u202eBad"], ids=["null", "SOH", "RLO"])
def test_the_admin_refuses_a_watchlist_name_with_a_control_character(admin_post, name):
    user = make_user()
    response = admin_post("/admin/portfolio/watchlist/add/", watchlist_form(user, name))
    assert response.status_code == 200
    content = response.content.decode()
    assert "control characters" in content or "Null characters are not allowed" in content
    assert names_of(user) == ["Default"]


def test_the_admin_refuses_a_watchlist_name_of_invisible_characters(admin_post):
    user = make_user()
    response = admin_post("/admin/portfolio/watchlist/add/", watchlist_form(user, "\u200b\u3164"))
    assert response.status_code == 200
    assert "A watchlist needs a name." in response.content.decode()
    assert names_of(user) == ["Default"]


@pytest.mark.postgres
def test_the_admin_user_form_refuses_a_control_character_in_a_name_field(admin_post):
    user = make_user("plain")
    response = admin_post(
        f"/admin/auth/user/{user.pk}/change/",
        {"username": "plain", "first_name": "Ada\x01", "last_name": "", "email": "", "is_active": "on",
         "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "control characters (found U+0001)" in response.content.decode()
    user.refresh_from_db()
    assert user.first_name == ""
