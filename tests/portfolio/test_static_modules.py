"""The page scripts are ES modules loaded without a build step: every relative import names a module
that exists and exports what is imported, no module names itself where collectstatic rewrites imports,
and no template loads a script of ours other than as a module (vendored libraries come as their
authors build them)."""

import re
from pathlib import Path

import pytest

from tests.support import PROJECT_DIR

SCRIPTS = PROJECT_DIR / "static" / "finally"
IMPORT = re.compile(
    r'^import\s+(?:\{(?P<names>[^}]*)\}\s+from\s+|\*\s+as\s+\w+\s+from\s+)?"(?P<url>[^"]+)";', re.M
)
EXPORT = re.compile(r"^export\s+(?:async\s+)?(?:function|const|let|class)\s+(\w+)", re.M)


def exports(module: Path) -> set[str]:
    return set(EXPORT.findall(module.read_text()))


@pytest.mark.parametrize("module", sorted(SCRIPTS.glob("*.js")), ids=lambda path: path.name)
def test_every_import_names_an_existing_module_and_what_it_exports(module):
    text = module.read_text()
    assert len(IMPORT.findall(text)) == len(re.findall(r"^import ", text, re.M)), (
        "an import this test cannot read"
    )
    for found in IMPORT.finditer(text):
        url = found["url"]
        assert url.startswith("./") and url.endswith(".js"), f"{module.name}: {url} is not a relative module"
        target = SCRIPTS / url[2:]
        assert target.exists(), f"{module.name} imports {url}, which does not exist"
        for name in filter(None, (part.strip() for part in (found["names"] or "").split(","))):
            assert name in exports(target), (
                f"{module.name} imports {name} from {url}, which does not export it"
            )


def test_templates_load_scripts_as_modules_only():
    for template in (PROJECT_DIR / "templates").rglob("*.html"):
        for tag in re.findall(r"<script\b[^>]*>", template.read_text()):
            if "'vendor/" in tag:
                continue  # a library's production build, loaded as it is published
            assert 'type="module"' in tag or 'type="application/json"' in tag, f"{template.name}: {tag}"


# What Django's manifest storage rewrites to hashed names (support_js_module_import_aggregation): an
# import of the file itself, even in a comment, changes the file's hash on every pass, for ever.
REWRITTEN_IMPORT = re.compile(
    r"""import(?s:[\s{].*?)\s*from\s*['"](?P<url>[./].*?)['"]\s*;|import\s*['"](?P<bare>[./].*?)['"]\s*;"""
)


@pytest.mark.parametrize("module", sorted(SCRIPTS.glob("*.js")), ids=lambda path: path.name)
def test_no_module_imports_itself_where_collectstatic_would_rewrite_it(module):
    for found in REWRITTEN_IMPORT.finditer(module.read_text()):
        url = found["url"] or found["bare"]
        assert url.rsplit("/", 1)[-1] != module.name, f"{module.name} names itself: {found.group(0)!r}"
