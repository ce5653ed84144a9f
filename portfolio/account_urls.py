"""Accounts, mounted at /accounts/: log in, log out, sign up."""

from django.contrib.auth import views as auth_views
from django.urls import path

from . import account_views
from .login_throttle import LoginForm

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True, authentication_form=LoginForm),
        name="login",
    ),
    path("logout/", account_views.LogoutView.as_view(), name="logout"),
    path("signup/", account_views.signup, name="signup"),
]
