"""The Content-Security-Policy in a real Chromium: every page carries it, none breaks it (no violation,
no console error), and the price stream connects under it (the header's indicator reaches live)."""

import pytest
from playwright.sync_api import expect

from tests.browser.support import SUPERUSER, log_in

pytestmark = pytest.mark.browser

# Every violation the page reports, as "directive blocked-uri" (the console says it too, as an error).
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI || "inline"} ${event.sourceFile}`);
});
"""
SITE_PAGES = ["/", "/portfolio/", "/watchlist/", "/accounts/login/", "/accounts/signup/"]
ADMIN_PAGES = [
    "/admin/",
    "/admin/portfolio/watchlist/",
    "/admin/portfolio/watchlist/add/",
    "/admin/auth/user/add/",
]


@pytest.fixture
def watched(browser, server):
    """A page under the policy (conftest's context bypasses it) recording CSP violations, console errors
    and failed loads (but the admin's /favicon.ico, which its pages do not link and browsers ask for)."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1360, "height": 860})
    context.set_default_timeout(10_000)
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    errors = []

    def on_console(message):
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    def on_response(response):
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            errors.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page, errors
    context.close()


def visit(page, path: str) -> str:
    response = page.goto(path)
    assert response.status == 200, path
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy and "style-src 'self'" in policy, policy
    return policy


def test_the_stream_connects_under_the_policy(watched, server):
    page, errors = watched
    policy = visit(page, "/")
    assert f"ws://127.0.0.1:{server.port}" in policy
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=10_000)
    assert page.evaluate("window.__violations") == []
    assert errors == []


@pytest.mark.parametrize("path", SITE_PAGES)
def test_no_site_page_breaks_the_policy(watched, path):
    page, errors = watched
    if path != "/accounts/login/":
        log_in(page, SUPERUSER["username"], SUPERUSER["password"])
    visit(page, path)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=10_000)
    assert page.evaluate("window.__violations") == [], path
    assert errors == [], path


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_no_admin_page_breaks_the_policy(watched, path):
    page, errors = watched
    log_in(page, SUPERUSER["username"], SUPERUSER["password"])
    visit(page, path)
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.__violations") == [], path
    assert errors == [], path
