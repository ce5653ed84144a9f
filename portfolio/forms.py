"""Forms: the admin's (tickers normalised and checked with the ticker rule, watchlist names checked per
user, users' names), and sign-up's. Every text field refuses control characters, and a username that
looks like an existing one is refused (``portfolio.names``)."""

from django import forms
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm, UserCreationForm
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from market.tickers import InvalidTicker, normalize_ticker

from . import names, services
from .models import Watchlist, WatchlistEntry


def refuse_control_characters(value) -> None:
    """A form-field validator: no control characters (null bytes included), see ``portfolio.names``."""
    if isinstance(value, str):
        try:
            names.check_text(value, "This field")
        except names.InvalidText as exc:
            raise ValidationError(str(exc), code="control_character") from None


class TextRulesMixin:
    """Adds ``refuse_control_characters`` to every text field of the form but passwords (never stored
    as typed)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if isinstance(field, forms.CharField) and not isinstance(field.widget, forms.PasswordInput):
                field.validators.append(refuse_control_characters)


class LookalikeUsernameMixin(TextRulesMixin):
    """Refuses a username that looks like an existing user's ("admin" spelt with a Cyrillic i, U+0456)."""

    def clean_username(self):
        clean = getattr(super(), "clean_username", None)
        username = clean() if clean else self.cleaned_data.get("username")
        if username and services.username_looks_taken(username, exclude_pk=self.instance.pk):
            raise ValidationError(
                "This username looks too much like an existing one; choose another.", code="lookalike"
            )
        return username


class SignupForm(LookalikeUsernameMixin, UserCreationForm):
    """Sign-up: Django's user creation form plus the look-alike and control-character rules."""


class UserAddForm(LookalikeUsernameMixin, AdminUserCreationForm):
    """The admin's add-user form, with the same rules as sign-up."""


class UserEditForm(LookalikeUsernameMixin, UserChangeForm):
    """The admin's user change form: a renamed user must not look like another one either."""


class TickerField(forms.CharField):
    """A text field that cleans to a normalised ticker, with the ticker rule's message when it is not one."""

    def __init__(self, **kwargs):
        # Longer than a ticker, so an over-long entry gets the ticker rule's message, not a generic one.
        kwargs.setdefault("max_length", 64)
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)
        if value in self.empty_values:
            return value
        try:
            return normalize_ticker(value)
        except InvalidTicker as exc:
            raise ValidationError(str(exc), code="invalid_ticker") from None


class WatchlistEntryForm(forms.ModelForm):
    ticker = TickerField(help_text="1 to 10 characters of A-Z, 0-9, '.' or '-'; lower case is upper-cased.")

    class Meta:
        model = WatchlistEntry
        fields = ["ticker"]


class WatchlistEntryFormSet(BaseInlineFormSet):
    def get_unique_error_message(self, unique_check):
        return "This ticker is already on this watchlist: remove the duplicate."

    def clean(self):
        """The services' limits: tickers per watchlist, and tickers the feed tracks in all."""
        super().clean()
        if any(self.errors):
            return
        kept = {
            form.cleaned_data["ticker"]
            for form in self.forms
            if form.cleaned_data.get("ticker") and not self._should_delete_form(form)
        }
        current = set(self.instance.tickers()) if self.instance.pk else set()
        if problem := services.watchlist_growth_problem(len(kept), kept - current):
            raise ValidationError(problem, code="limit")


class WatchlistForm(forms.ModelForm):
    class Meta:
        model = Watchlist
        fields = ["user", "name"]

    def clean_name(self):
        try:
            return services.clean_watchlist_name(self.cleaned_data["name"])
        except services.ServiceError as exc:
            raise ValidationError(str(exc)) from None

    def clean(self):
        cleaned = super().clean()
        # The user field is read-only once the list exists, and Django then skips the (user, name)
        # constraint in validation: check it here so a clash is a form error, not a crash.
        user = cleaned.get("user") or (self.instance.user if self.instance.user_id else None)
        name = cleaned.get("name")
        adding = user is not None and self.instance.pk is None
        if adding and (problem := services.watchlist_count_problem(user)):
            self.add_error(None, problem)
        if user is not None and name:
            other = services.clashing_watchlist_name(user, name, exclude_pk=self.instance.pk)
            if other is not None and other.lower() == name.lower():
                self.add_error("name", f"{user} already has a watchlist named {name!r}.")
            elif other is not None:
                self.add_error("name", f"{name!r} looks too much like {user}'s watchlist {other!r}.")
        return cleaned
