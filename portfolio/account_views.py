"""Sign-up, and a logout that asks before it logs out (Django's own login view is used as is)."""

from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters

from .forms import SignupForm


def _next_url(request, default: str = "/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if target and safe else default


@sensitive_post_parameters("password1", "password2")
def signup(request):
    """Create an account (it comes with $10,000 and the default watchlist), log in, go to ``next`` or /."""
    if request.method == "POST":
        form = SignupForm(request.POST)
        if form.is_valid():
            user = form.save()
            # Named: django-axes' backend comes first in AUTHENTICATION_BACKENDS and cannot load a user.
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect(_next_url(request))
    else:
        form = SignupForm()
    return render(request, "registration/signup.html", {"form": form, "next": _next_url(request, "")})


class LogoutView(auth_views.LogoutView):
    """GET shows a small confirmation form; POST logs out (Django 5's LogoutView is POST-only)."""

    http_method_names = ["get", "post", "options"]

    def get(self, request, *args, **kwargs):
        return render(request, "registration/logout_confirm.html", {"next": _next_url(request, "")})
