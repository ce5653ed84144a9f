"""Steps the browser tests share: signing up, logging in, screenshots for CI's log folder."""

from pathlib import Path

from tests.support import artifacts_dir

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SUPERUSER = {"username": "admin", "password": "admin-Pass-4-tests", "email": "admin@example.com"}
PASSWORD = "Tr4ding-is-fun!"


def sign_up(page, username: str) -> None:
    page.goto("/accounts/signup/")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password1"]', PASSWORD)
    page.fill('input[name="password2"]', PASSWORD)
    page.locator('main form [type="submit"]').click()
    page.wait_for_url(lambda url: "/accounts/" not in url)


def log_in(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    page.locator('main form [type="submit"]').click()
    page.wait_for_url(lambda url: "/accounts/" not in url)


def screenshot(page, name: str) -> Path:
    path = artifacts_dir() / name
    page.screenshot(path=str(path), full_page=True)
    return path
