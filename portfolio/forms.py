"""Admin forms: tickers normalised and checked with the ticker rule, watchlist names checked per user."""

from django import forms
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from market.tickers import InvalidTicker, normalize_ticker

from .models import Watchlist, WatchlistEntry
from .services import WATCHLIST_NAME_MAX_LENGTH


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


class WatchlistForm(forms.ModelForm):
    class Meta:
        model = Watchlist
        fields = ["user", "name"]

    def clean_name(self):
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise ValidationError("A watchlist needs a name.")
        if len(name) > WATCHLIST_NAME_MAX_LENGTH:
            raise ValidationError(f"A watchlist name has at most {WATCHLIST_NAME_MAX_LENGTH} characters.")
        return name

    def clean(self):
        cleaned = super().clean()
        # The user field is read-only once the list exists, and Django then skips the (user, name)
        # constraint in validation: check it here so a clash is a form error, not a crash.
        user = cleaned.get("user") or (self.instance.user if self.instance.user_id else None)
        name = cleaned.get("name")
        if user is not None and name:
            clashes = Watchlist.objects.filter(user=user, name__iexact=name).exclude(pk=self.instance.pk)
            if clashes.exists():
                self.add_error("name", f"{user} already has a watchlist named {name!r}.")
        return cleaned
