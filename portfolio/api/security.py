"""How the API knows its caller: Django's session login, with Django's CSRF check on unsafe methods.

ninja marks its views CSRF-exempt for Django's middleware and leaves the check to the auth class;
``session_login`` runs Django's own check (the token in ``X-CSRFToken``, answered by
``settings.CSRF_FAILURE_VIEW`` as a JSON 403) before it looks at the login, as the middleware would
have, then answers 401 ``{"error": "login required"}`` for an anonymous caller (never a redirect).
"""

from django.http import HttpRequest
from django.middleware.csrf import get_token
from ninja.security import SessionAuth
from ninja.utils import check_csrf

from .errors import CsrfRefused

SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")


class SessionLogin(SessionAuth):
    """ninja's ``django_auth`` with the CSRF failure Django would answer, and the csrftoken cookie
    handed out by every GET a logged-in user makes, so a script can echo it on its next POST."""

    def _get_key(self, request: HttpRequest) -> str | None:
        exempt = getattr(request, "_ninja_csrf_exempt", False)
        if self.csrf and request.method not in SAFE_METHODS and not exempt:
            rejection = check_csrf(request)
            if rejection is not None:
                raise CsrfRefused(rejection)
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request: HttpRequest, key: str | None):
        user = super().authenticate(request, key)
        if user is not None and request.method == "GET":
            get_token(request)
        return user


session_login = SessionLogin()
