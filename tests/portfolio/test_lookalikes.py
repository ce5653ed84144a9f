"""Look-alike names: a username confusable with an existing one is refused (sign-up and the admin), a
watchlist name confusable with another of the user's is refused, and a name mixing scripts is marked.

Cyrillic letters are written as escapes: "D\\u0435fault" is "Default" with a Cyrillic e.
"""

import pytest
from django.contrib.auth import get_user_model
from django.template import engines

from portfolio import names, services
from portfolio.models import Watchlist
from portfolio.services import ServiceError
from tests.portfolio_support import make_user

CYRILLIC_DEFAULT = "D\u0435fault"
CYRILLIC_ADMIN = "adm\u0456n"  # Cyrillic i (U+0456)
PASSWORD = "a-long-and-unusual-passphrase"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (CYRILLIC_DEFAULT, "Default"),
        (CYRILLIC_ADMIN, "admin"),
        (CYRILLIC_ADMIN, "ADMIN"),
        ("\uff41dmin", "admin"),  # full-width a (NFKC)
        ("Ian", "lan"),  # capital I and small L
        ("trader1", "traderl"),
        ("ad\u200bmin", "admin"),  # a zero-width space
        ("rnoney", "money"),
    ],
)
def test_names_that_can_be_mistaken_for_each_other_look_alike(a, b):
    assert names.looks_alike(a, b)


@pytest.mark.parametrize(("a", "b"), [("Default", "Tech"), ("Bank", "Banks"), ("alice", "alicia")])
def test_different_names_do_not_look_alike(a, b):
    assert not names.looks_alike(a, b)


@pytest.mark.parametrize(
    ("name", "mixed"),
    [
        (CYRILLIC_DEFAULT, True),
        ("Default 2", False),
        ("\u041c\u043e\u0439 \u0441\u043f\u0438\u0441\u043e\u043a", False),  # all Cyrillic
        ("caf\u00e9", False),
        ("cafe\u0301", False),  # a combining accent belongs to no script
        ("\u65e5\u672c\u306e\u30ab\u30bf\u30ab\u30ca", False),  # Han, Hiragana and Katakana together
    ],
)
def test_a_name_mixes_scripts_only_when_its_letters_come_from_several(name, mixed):
    assert names.mixes_scripts(name) is mixed


# Usernames


@pytest.fixture
def fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def sign_up(client, username: str):
    form = {"username": username, "password1": PASSWORD, "password2": PASSWORD}
    return client.post("/accounts/signup/", form)


@pytest.mark.django_db
# Cyrillic i, Greek alpha, Cyrillic a (a full-width a is NFKC-normalised by Django: an exact clash)
@pytest.mark.parametrize("username", [CYRILLIC_ADMIN, "\u03b1dmin", "\u0430dmin"])
def test_sign_up_refuses_a_username_that_looks_like_an_existing_one(client, fast_hashing, username):
    make_user("admin")
    response = sign_up(client, username)
    assert response.status_code == 200
    assert "looks too much like an existing one" in response.content.decode()
    assert list(get_user_model().objects.values_list("username", flat=True)) == ["admin"]


@pytest.mark.django_db
def test_sign_up_accepts_a_username_unlike_the_others(client, fast_hashing):
    make_user("admin")
    assert sign_up(client, "adminton").status_code == 302


@pytest.mark.django_db
def test_the_admin_refuses_to_add_a_user_that_looks_like_an_existing_one(admin_client, fast_hashing):
    make_user("trader")
    response = admin_client.post(
        "/admin/auth/user/add/",
        {"username": "tr\u0430der", "usable_password": "true", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 200
    assert "looks too much like an existing one" in response.content.decode()
    assert not get_user_model().objects.filter(username="tr\u0430der").exists()


@pytest.mark.django_db
def test_the_admin_refuses_to_rename_a_user_to_look_like_another(admin_client, fast_hashing):
    make_user("trader")
    other = make_user("someone")
    response = admin_client.post(
        f"/admin/auth/user/{other.pk}/change/",
        {"username": "TRADER", "is_active": "on", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"},
    )
    assert response.status_code == 200
    assert "looks too much like an existing one" in response.content.decode()
    other.refresh_from_db()
    assert other.username == "someone"


# Watchlist names


@pytest.mark.django_db
def test_a_watchlist_name_that_looks_like_another_of_the_users_is_refused():
    user = make_user()
    with pytest.raises(ServiceError, match="looks too much like your watchlist 'Default'"):
        services.create_watchlist(user, CYRILLIC_DEFAULT)
    tech = services.create_watchlist(user, "Tech")
    with pytest.raises(ServiceError, match="looks too much like your watchlist 'Default'"):
        services.rename_watchlist(tech, CYRILLIC_DEFAULT)
    assert sorted(Watchlist.objects.filter(user=user).values_list("name", flat=True)) == ["Default", "Tech"]


@pytest.mark.django_db
def test_another_users_watchlist_name_does_not_count():
    services.create_watchlist(make_user(), "Tech")
    assert services.create_watchlist(make_user(), "T\u0435ch").name == "T\u0435ch"


@pytest.mark.django_db
def test_renaming_a_watchlist_to_a_look_alike_of_itself_is_allowed():
    tech = services.create_watchlist(make_user(), "Tech")
    assert services.rename_watchlist(tech, "TECH").name == "TECH"


@pytest.mark.django_db
def test_the_admin_refuses_a_watchlist_name_that_looks_like_another_of_the_users(admin_client):
    user = make_user()
    response = admin_client.post(
        "/admin/portfolio/watchlist/add/",
        {"user": str(user.pk), "name": CYRILLIC_DEFAULT, "entries-TOTAL_FORMS": "0",
         "entries-INITIAL_FORMS": "0", "entries-MIN_NUM_FORMS": "0", "entries-MAX_NUM_FORMS": "1000"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "looks too much like" in response.content.decode()
    assert Watchlist.objects.filter(user=user).count() == 1


# Showing names


def render(source: str, **context) -> str:
    return engines["django"].from_string(source).render(context)


def test_a_mixed_script_name_is_shown_with_its_scripts():
    html = render("{{ name|script_marked }}", name=CYRILLIC_DEFAULT)
    assert html == (
        f'{CYRILLIC_DEFAULT}<span class="mixed-script" title="This name mixes letters of several scripts: '
        'it may imitate another name."> [Latin + Cyrillic]</span>'
    )


def test_a_single_script_name_is_shown_as_is_and_escaped():
    assert render("{{ name|script_marked }}", name="<Tech & Co>") == "&lt;Tech &amp; Co&gt;"


@pytest.mark.django_db
def test_the_watchlists_page_marks_a_look_alike_watchlist_name(client):
    user = make_user()
    Watchlist.objects.create(user=user, name="T\u0435ch")  # as an old row, made before the rule
    client.force_login(user)
    html = client.get("/watchlist/").content.decode()
    assert 'T\u0435ch<span class="mixed-script"' in html
    assert "[Latin + Cyrillic]" in html
