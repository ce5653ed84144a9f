"""The production environment of the tests that start servers with DJANGO_DEBUG=0."""

from tests.support import clean_env

PRODUCTION_SECRET = "a-production-secret-key-for-the-tests-only-0123456789-abcdefghij"


def production_env(database, static_root, **overrides: str) -> dict[str, str]:
    """DJANGO_DEBUG=0 as the README documents it, over plain HTTP here (so no SSL redirect)."""
    settings = {
        "DATABASE_URL": f"sqlite:///{database}",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": PRODUCTION_SECRET,
        "DJANGO_STATIC_ROOT": str(static_root),
        "DJANGO_SECURE_SSL_REDIRECT": "0",
    }
    return clean_env(**{**settings, **overrides})
