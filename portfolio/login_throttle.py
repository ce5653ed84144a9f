"""The login throttle (django-axes): after ``AXES_FAILURE_LIMIT`` failed logins (5) for one username, or
from one address, each counted on its own, every login for it is refused for ``AXES_COOLOFF_TIME`` (15
minutes, restarted by each attempt meanwhile), the right password included, on /accounts/login/ and
/admin/login/ alike.

A refused attempt gets the login page it came from again, with the lockout message as the form's error
and status 429: the forms below say it, ``LoginThrottleMiddleware`` keeps the page the view rendered, and
``lockout_response`` (``AXES_LOCKOUT_CALLABLE``) answers with it.
"""

import math

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from axes.helpers import get_cool_off
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpResponse

from .forms import TextRulesMixin

LOCKED_OUT_STATUS = 429


def lockout_message(request) -> str:
    """ "Too many failed logins ...; try again in N minutes." for a locked-out ``request``."""
    cool_off = get_cool_off(request)
    if cool_off is None:
        return "Too many failed logins for this username or from this address: ask an administrator."
    minutes = max(1, math.ceil(cool_off.total_seconds() / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many failed logins for this username or from this address; try again in {minutes} {unit}."


class LockoutMessageMixin(TextRulesMixin):
    """A login form whose error, when the throttle refused the attempt, is the lockout message."""

    def get_invalid_login_error(self):
        if getattr(self.request, "axes_locked_out", False):
            return ValidationError(lockout_message(self.request), code="locked_out")
        return super().get_invalid_login_error()


class LoginForm(LockoutMessageMixin, AuthenticationForm):
    """/accounts/login/'s form."""


class AdminLoginForm(LockoutMessageMixin, AdminAuthenticationForm):
    """/admin/login/'s form (``admin.site.login_form``)."""


class LoginThrottleMiddleware:
    """Placed after ``axes.middleware.AxesMiddleware``, it does two things for the throttle.

    - Null bytes in the headers axes stores (User-Agent, Accept) become "0x00", as axes itself does for
      form data: PostgreSQL refuses a null byte in a text column, so a login would fail with a 500.
    - It keeps the page the login view rendered for a locked-out attempt on the request, for
      ``lockout_response``: AxesMiddleware replaces that page with its lockout response, and under ASGI
      hands the lockout callable no response to reuse.
    """

    async_capable = True
    sync_capable = True
    STORED_HEADERS = ("HTTP_USER_AGENT", "HTTP_ACCEPT")

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._acall(request)
        self._clean(request)
        return self._keep(request, self.get_response(request))

    async def _acall(self, request):
        self._clean(request)
        return self._keep(request, await self.get_response(request))

    @classmethod
    def _clean(cls, request) -> None:
        for header in cls.STORED_HEADERS:
            value = request.META.get(header)
            if value and "\0" in value:
                request.META[header] = value.replace("\0", "0x00")

    @staticmethod
    def _keep(request, response):
        if getattr(request, "axes_locked_out", False):
            request.finally_login_page = response
        return response


def lockout_response(request, *args, **kwargs) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: the login page with the lockout message, status 429 (a plain message
    when the refusal came from elsewhere than a login page)."""
    page = getattr(request, "finally_login_page", None)
    if page is None:
        return HttpResponse(lockout_message(request), status=LOCKED_OUT_STATUS, content_type="text/plain")
    page.status_code = LOCKED_OUT_STATUS
    return page
