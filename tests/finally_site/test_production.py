"""Production start-up (DJANGO_DEBUG=0): no start with a missing or public secret key; HTTPS, HSTS and
secure cookies by default, each switchable, with exactly the matching `check --deploy` warning silenced;
`check --deploy` clean with the README's settings; a Content-Security-Policy on every response."""

import subprocess
import urllib.error
import urllib.request

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from finally_site.csp import ContentSecurityPolicyMiddleware, relaxed
from finally_site.settings import DEVELOPMENT_SECRET_KEY
from tests.finally_site.production_support import production_env
from tests.support import PROJECT_DIR, artifacts_dir, free_port, python_command, start_daphne

STRONG_SECRET = "k" * 10 + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        python_command(*args), env=env, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60
    )


def readme_production(tmp_path, **overrides: str) -> dict[str, str]:
    """The README's production settings: secure defaults, a real host name, its HTTPS origin."""
    settings = {
        "DJANGO_SECRET_KEY": STRONG_SECRET,
        "DJANGO_ALLOWED_HOSTS": "trade.example.com",
        "DJANGO_CSRF_TRUSTED_ORIGINS": "https://trade.example.com",
        "DJANGO_SECURE_SSL_REDIRECT": "",  # the default: on
        **overrides,
    }
    return production_env(tmp_path / "db.sqlite3", tmp_path / "static", **settings)


# The secret key


@pytest.mark.parametrize("key", ["", DEVELOPMENT_SECRET_KEY], ids=["missing", "development key"])
def test_daphne_refuses_to_start_without_a_secret_key_of_its_own(tmp_path, key):
    env = readme_production(tmp_path, DJANGO_SECRET_KEY=key)
    result = run(env, "-m", "daphne", "-p", str(free_port()), "finally_site.asgi:application")
    assert result.returncode == 2
    [line] = [line for line in result.stderr.splitlines() if "DJANGO_SECRET_KEY" in line]
    assert line.startswith("finally: configuration error: DJANGO_SECRET_KEY must be set")
    assert "Traceback" not in result.stderr


def test_manage_py_names_a_missing_secret_key_as_a_system_check_error(tmp_path):
    result = run(readme_production(tmp_path, DJANGO_SECRET_KEY=""), "manage.py", "check")
    assert result.returncode != 0
    [line] = [line for line in result.stderr.splitlines() if "DJANGO_SECRET_KEY" in line]
    assert "(finally.E" in line
    assert "Traceback" not in result.stderr


def test_debug_mode_keeps_the_development_key(tmp_path):
    result = run(readme_production(tmp_path, DJANGO_DEBUG="1", DJANGO_SECRET_KEY=""), "manage.py", "check")
    assert result.returncode == 0, result.stderr


# check --deploy


def test_check_deploy_reports_nothing_with_the_readme_production_settings(tmp_path):
    result = run(readme_production(tmp_path), "manage.py", "check", "--deploy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


@pytest.mark.parametrize(
    ("variable", "silenced"),
    [
        ("DJANGO_SECURE_SSL_REDIRECT", 1),  # security.W008
        ("DJANGO_HSTS_SECONDS", 1),  # security.W004
        ("DJANGO_HSTS_INCLUDE_SUBDOMAINS", 1),  # security.W005
        ("DJANGO_HSTS_PRELOAD", 1),  # security.W021
        ("DJANGO_SECURE_COOKIES", 2),  # security.W012 (session) and W016 (CSRF)
    ],
)
def test_a_secure_default_switched_off_silences_exactly_its_deploy_warning(tmp_path, variable, silenced):
    result = run(readme_production(tmp_path, **{variable: "0"}), "manage.py", "check", "--deploy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"System check identified no issues ({silenced} silenced)." in result.stdout


def test_other_deploy_warnings_still_show_when_one_default_is_switched_off(tmp_path):
    env = readme_production(tmp_path, DJANGO_SECURE_SSL_REDIRECT="0", DJANGO_SECRET_KEY="short-but-own")
    output = run(env, "manage.py", "check", "--deploy").stderr
    assert "security.W009" in output  # a weak key is not something the operator switched off
    assert "security.W008" not in output
    assert "System check identified 1 issue (1 silenced)." in output


@pytest.mark.parametrize(
    "variable", ["DJANGO_HSTS_SECONDS", "DJANGO_LOGIN_FAILURE_LIMIT", "DJANGO_LOGIN_LOCKOUT_MINUTES"]
)
def test_a_bad_number_is_one_line_naming_its_variable(tmp_path, variable):
    result = run(readme_production(tmp_path, **{variable: "lots"}), "manage.py", "check")
    assert result.returncode != 0
    assert len([line for line in result.stderr.splitlines() if variable in line]) == 1
    assert "Traceback" not in result.stderr


# A production server


@pytest.fixture(scope="module")
def secure_server(production):
    """daphne with the secure defaults, behind a TLS proxy that says so in X-Forwarded-Proto."""
    env, _ = production
    env = {**env, "DJANGO_SECURE_SSL_REDIRECT": "1", "DJANGO_SECURE_PROXY_SSL_HEADER": "1"}
    process, port = start_daphne(env, artifacts_dir(), name="daphne-production")
    yield f"http://127.0.0.1:{port}"
    process.stop()


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def get(url: str, **headers: str):
    opener = urllib.request.build_opener(NoRedirects)
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=10) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.headers


def test_plain_http_is_redirected_to_https_but_the_health_probe(secure_server):
    status, headers = get(f"{secure_server}/portfolio/")
    assert status == 301
    assert headers["Location"].startswith("https://127.0.0.1")
    assert get(f"{secure_server}/healthz")[0] in (200, 503)  # answered, not redirected


def test_https_responses_carry_hsts_the_policy_and_secure_cookies(secure_server):
    status, headers = get(f"{secure_server}/accounts/login/", **{"X-Forwarded-Proto": "https"})
    assert status == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert f"wss://{secure_server.removeprefix('http://')}" in policy  # the page's own stream
    cookie = headers["Set-Cookie"]
    assert "csrftoken=" in cookie and "Secure" in cookie


def test_static_files_carry_the_policy_too(secure_server):
    status, headers = get(f"{secure_server}/static/finally/favicon.svg", **{"X-Forwarded-Proto": "https"})
    assert status == 200
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"


# The per-view relaxation hook


def policy_of(view, path: str) -> str:
    return ContentSecurityPolicyMiddleware(view)(RequestFactory().get(path))["Content-Security-Policy"]


def test_a_view_can_relax_the_policy_by_name(settings):
    settings.ALLOWED_HOSTS = ["testserver"]

    @relaxed("api-docs")
    def docs(request):
        return HttpResponse("docs")

    def page(request):
        return HttpResponse("page")

    relaxed_policy, strict_policy = policy_of(docs, "/api/docs/"), policy_of(page, "/")
    assert "style-src 'self' 'unsafe-inline'" in relaxed_policy and "img-src 'self' data:" in relaxed_policy
    assert "'unsafe-inline'" not in strict_policy and "data:" not in strict_policy
    assert "connect-src 'self' ws://testserver" in strict_policy
