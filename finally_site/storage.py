"""How collected static files are stored in production: hashed names, compressed copies, module imports.

``collectstatic`` (with ``DJANGO_DEBUG=0``) writes each file under a name holding a hash of its content
(``finally/stream.3f1c5e8a9b2d.js``) with a manifest mapping the plain names to the hashed ones, so a
browser may cache a file for ever and still never run a stale one; a gzip copy (``.gz``) and, with the
``brotli`` package, a Brotli copy (``.br``) of each compressible file beside it, which ServeStatic
serves to the browsers that accept them (see ``finally_site.static``).

JavaScript modules are rewritten too: ``import ... from "./x.js";`` and ``export ... from "./x.js";``
(with their semicolon), ``import "./x.js";`` and ``import("./x.js")`` name the hashed file, so a page's
module graph moves to new names together.
"""

from servestatic.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """ServeStatic's compressed manifest storage, rewriting JavaScript module imports as well."""

    support_js_module_import_aggregation = True
