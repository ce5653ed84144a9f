"""The price stream's origin rule (market.stream.origins): the page's own origin, or a trusted one."""

import pytest

from market.stream.origins import origin_allowed


def handshake(origin: str | None, host: str | None = "trade.example.com", scheme: str = "wss") -> dict:
    headers = [(b"origin", origin.encode())] if origin is not None else []
    if host is not None:
        headers.append((b"host", host.encode()))
    return {"type": "websocket", "scheme": scheme, "headers": headers}


@pytest.fixture(autouse=True)
def _hosts(settings):
    settings.ALLOWED_HOSTS = ["trade.example.com", "localhost", "127.0.0.1"]
    settings.CSRF_TRUSTED_ORIGINS = []


@pytest.mark.parametrize(
    ("origin", "host", "scheme"),
    [
        ("https://trade.example.com", "trade.example.com", "wss"),
        ("https://trade.example.com:443", "trade.example.com", "wss"),
        ("http://127.0.0.1:8000", "127.0.0.1:8000", "ws"),
        ("HTTP://LOCALHOST:8000", "localhost:8000", "ws"),
    ],
)
def test_the_pages_own_origin_is_allowed(origin, host, scheme):
    assert origin_allowed(handshake(origin, host, scheme))


@pytest.mark.parametrize(
    ("origin", "host", "scheme"),
    [
        ("http://127.0.0.1:9999", "127.0.0.1:8000", "ws"),  # another port
        ("https://127.0.0.1:8000", "127.0.0.1:8000", "ws"),  # another scheme
        ("http://trade.example.com", "trade.example.com", "wss"),  # an http page on a wss socket
        ("https://evil.example", "trade.example.com", "wss"),
        ("https://trade.example.com.evil.example", "trade.example.com", "wss"),
        ("ftp://trade.example.com", "trade.example.com", "wss"),
        ("null", "trade.example.com", "wss"),
        ("https://trade.example.com/page", "trade.example.com", "wss"),
        (None, "trade.example.com", "wss"),
    ],
)
def test_any_other_origin_is_refused(origin, host, scheme):
    assert not origin_allowed(handshake(origin, host, scheme))


def test_a_host_that_is_not_allowed_is_refused_whatever_the_origin():
    assert not origin_allowed(handshake("https://other.example", "other.example", "wss"))


def test_a_trusted_origin_is_allowed(settings):
    # Behind a TLS-terminating proxy daphne sees ws:// while the page is https://.
    settings.CSRF_TRUSTED_ORIGINS = ["https://trade.example.com"]
    assert origin_allowed(handshake("https://trade.example.com", "trade.example.com", "ws"))
    assert not origin_allowed(handshake("https://trade.example.com:8443", "trade.example.com", "ws"))


def test_a_trusted_wildcard_covers_the_subdomains_only(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.example.com"]
    assert origin_allowed(handshake("https://app.example.com", "trade.example.com", "ws"))
    assert not origin_allowed(handshake("https://example.com.evil.example", "trade.example.com", "ws"))
    assert not origin_allowed(handshake("http://app.example.com", "trade.example.com", "ws"))


def test_without_a_host_the_origins_host_must_be_allowed():
    # No browser omits Host; test harnesses (Channels' communicator) do.
    assert origin_allowed(handshake("http://localhost", host=None, scheme="ws"))
    assert not origin_allowed(handshake("http://evil.example", host=None, scheme="ws"))
