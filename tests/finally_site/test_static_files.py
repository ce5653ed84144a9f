"""Static files under a real daphne (ServeStatic): found without collectstatic in DEBUG; in production
(DJANGO_DEBUG=0, after collectstatic into a temp STATIC_ROOT) hashed names, compressed copies and
far-future caching; path traversal answers 404 with no traceback; a missing manifest stops start-up."""

import gzip
import socket
import subprocess
import urllib.error
import urllib.request

import pytest
from django.core.management import call_command

from tests.finally_site.production_support import production_env
from tests.support import (
    PROJECT_DIR,
    Process,
    artifacts_dir,
    clean_env,
    free_port,
    migrate_database,
    port_open,
    python_command,
    start_daphne,
    wait_for,
)

TRAVERSALS = [
    "/static/../finally_site/settings.py",
    "/static/%2e%2e/finally_site/settings.py",
    "/static/..%2ffinally_site/settings.py",
    "/static/finally/..%2f..%2ffinally_site%2fsettings.py",
    "/static/%2e%2e%2f%2e%2e%2fmanage.py",
    "/static/finally/%2e%2e/%2e%2e/manage.py",
    "/static/..\\finally_site\\settings.py",
    "/static/finally/%00stream.js",
]
TEN_YEARS = "max-age=315360000, public, immutable"


def fetch(base: str, path: str, **headers: str) -> tuple[int, dict, bytes]:
    """A raw GET of ``path`` as written (no client-side normalisation of ``..``)."""
    request = urllib.request.Request(base + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def raw_get(port: int, path: str) -> int:
    """The status for a request line sent byte for byte (urllib would quote a backslash or a space)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        head = sock.recv(64).decode("latin-1")
    return int(head.split()[1])


@pytest.fixture(scope="module")
def debug_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("static-debug")
    # STATIC_ROOT is an empty folder: nothing was collected.
    env = clean_env(DATABASE_URL=f"sqlite:///{folder / 'db.sqlite3'}", DJANGO_STATIC_ROOT=str(folder / "no"))
    migrate_database(env)
    process, port = start_daphne(env, artifacts_dir(), name="daphne-static-debug")
    yield process, port
    process.stop()


@pytest.fixture(scope="module")
def production_server(production):
    env, _ = production
    process, port = start_daphne(env, artifacts_dir(), name="daphne-static-production")
    yield process, port
    process.stop()


def test_debug_serves_static_files_without_collectstatic(debug_server):
    _, port = debug_server
    status, headers, body = fetch(f"http://127.0.0.1:{port}", "/static/finally/stream.js")
    assert status == 200
    assert headers["Content-Type"].startswith("text/javascript")
    assert body == (PROJECT_DIR / "static/finally/stream.js").read_bytes()
    assert fetch(f"http://127.0.0.1:{port}", "/static/admin/css/base.css")[0] == 200  # an app's files


@pytest.mark.parametrize("server", ["debug_server", "production_server"])
def test_path_traversal_is_404_and_logs_no_traceback(request, server):
    process, port = request.getfixturevalue(server)
    for path in TRAVERSALS:
        assert raw_get(port, path) == 404, path
    assert fetch(f"http://127.0.0.1:{port}", "/static/finally/stream.js")[0] == 200
    assert "Traceback" not in process.log()


def test_runserver_serves_static_files_and_refuses_traversal(debug_server, tmp_path):
    env = clean_env(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    migrate_database(env)
    port = free_port()
    process = Process(
        python_command("manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"),
        env,
        artifacts_dir() / f"runserver-static-{port}.log",
    ).start()
    try:
        wait_for(lambda: port_open(port) or not process.alive, 30, message="runserver")
        assert raw_get(port, "/static/finally/stream.js") == 200
        for path in TRAVERSALS[:3]:
            assert raw_get(port, path) == 404, path
    finally:
        process.stop()
    assert "Traceback" not in process.log()


def test_production_pages_name_hashed_files_cached_for_ten_years(production_server):
    _, port = production_server
    base = f"http://127.0.0.1:{port}"
    status, _, page = fetch(base, "/")
    assert status == 200
    hashed = [part.split('"')[0] for part in page.decode().split('src="/static/')[1:]]
    assert hashed and all(name.count(".") >= 2 for name in hashed), hashed  # finally/stream.<hash>.js
    status, headers, _ = fetch(base, f"/static/{hashed[0]}")
    assert (status, headers["Cache-Control"]) == (200, TEN_YEARS)
    status, headers, _ = fetch(base, "/static/finally/stream.js")  # the plain name: briefly
    assert (status, headers["Cache-Control"]) == (200, "max-age=60, public")


def test_production_sends_gzip_and_brotli_to_browsers_that_accept_them(production_server):
    _, port = production_server
    base = f"http://127.0.0.1:{port}"
    plain = (PROJECT_DIR / "static/finally/stream.js").read_bytes()
    status, headers, body = fetch(base, "/static/finally/stream.js", **{"Accept-Encoding": "gzip"})
    assert (status, headers.get("Content-Encoding"), headers.get("Vary")) == (200, "gzip", "Accept-Encoding")
    assert gzip.decompress(body) == plain
    brotli = pytest.importorskip("brotli")
    status, headers, body = fetch(base, "/static/finally/stream.js", **{"Accept-Encoding": "gzip, br"})
    assert (status, headers.get("Content-Encoding")) == (200, "br")
    assert brotli.decompress(body) == plain
    status, headers, body = fetch(base, "/static/finally/stream.js")
    assert "Content-Encoding" not in headers and body == plain


def test_production_without_collectstatic_refuses_to_start_naming_the_fix(tmp_path):
    env = production_env(tmp_path / "db.sqlite3", tmp_path / "never-collected")
    args = python_command("-m", "daphne", "-p", str(free_port()), "finally_site.asgi:application")
    result = subprocess.run(args, env=env, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    [line] = [line for line in result.stderr.splitlines() if "collectstatic" in line]
    assert line.startswith("finally: configuration error: static files are not collected")
    assert "Traceback" not in result.stderr


def test_collectstatic_rewrites_javascript_module_imports_to_hashed_names(tmp_path, settings):
    source, target = tmp_path / "src", tmp_path / "out"
    (source / "app").mkdir(parents=True)
    (source / "app/util.js").write_text("export const answer = 42;\n")
    (source / "app/format.js").write_text("export function shown(x) { return String(x); }\n")
    (source / "app/main.js").write_text(
        'import { answer } from "./util.js";\nexport { shown } from "./format.js";\n'
        'const later = () => import("./util.js");\nconsole.log(answer, later);\n'
    )
    settings.STATICFILES_DIRS = [source]
    settings.STATICFILES_FINDERS = ["django.contrib.staticfiles.finders.FileSystemFinder"]
    settings.STATIC_ROOT = target
    storage = {"BACKEND": "finally_site.storage.StaticFilesStorage"}
    settings.STORAGES = {**settings.STORAGES, "staticfiles": storage}
    call_command("collectstatic", interactive=False, verbosity=0)
    [main] = [path for path in (target / "app").glob("main.*.js")]
    [util] = [path.name for path in (target / "app").glob("util.*.js")]
    [fmt] = [path.name for path in (target / "app").glob("format.*.js")]
    text = main.read_text()
    assert f'import {{ answer }} from "./{util}";' in text
    assert f'export {{ shown }} from "./{fmt}";' in text
    assert f'import("./{util}")' in text
    assert (target / "app" / f"{main.name}.gz").exists()
