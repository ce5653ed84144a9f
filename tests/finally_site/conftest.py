import pytest

from tests.finally_site.production_support import production_env
from tests.support import manage, migrate_database


@pytest.fixture(scope="session")
def production(tmp_path_factory):
    """A migrated database and a STATIC_ROOT after collectstatic, with their production environment."""
    folder = tmp_path_factory.mktemp("production")
    env = production_env(folder / "db.sqlite3", folder / "static")
    migrate_database(env)
    manage(env, "collectstatic", "--noinput", timeout=180)
    return env, folder / "static"
