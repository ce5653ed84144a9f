"""The project's settings under a strict Content-Security-Policy, for the browser test of /api/docs/.

The site's own policy (django-csp) allows scripts and styles from 'self' only; where the project's
settings do not add it yet, it is added here, as strict: what a page needs beyond it must come
from that page's own view.
"""

from finally_site.settings import *  # noqa: F403
from finally_site.settings import MIDDLEWARE

if "csp.middleware.CSPMiddleware" not in MIDDLEWARE:
    MIDDLEWARE = [*MIDDLEWARE, "csp.middleware.CSPMiddleware"]
    CONTENT_SECURITY_POLICY = {
        "DIRECTIVES": {
            "default-src": ["'self'"],
            "script-src": ["'self'"],
            "style-src": ["'self'"],
            "connect-src": ["'self'"],
            "object-src": ["'none'"],
            "base-uri": ["'self'"],
            "frame-ancestors": ["'none'"],
        }
    }
