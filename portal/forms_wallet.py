"""The wallet's forms: the top-up amount (a preset or an amount of one's own) and the
auto-pay switch. Validation and the crispy layout only; the services do the rest."""

from __future__ import annotations

import re
from decimal import Decimal

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Field, Layout
from django import forms
from django.urls import reverse
from django.utils.formats import get_format, number_format
from django.utils.html import escape
from django.utils.translation import gettext_lazy as _

from subscriptions.money import CURRENCY_EXPONENT, format_money
from wallets.app_settings import app_settings

# Longer than any amount a wallet can take ("50.000.000" is 10): anything longer is
# refused before it is parsed.
AMOUNT_MAX_LENGTH = 20

_PLAIN = re.compile(r"^\d+$")
# Something with a fractional part, written either way: "150000.50", "10,5", "150.000,00".
_FRACTION = re.compile(r"^[\d.,]*\d[.,]\d{1,2}$")


def _grouped(text: str, separator: str) -> bool:
    """``1.500.000`` with ``separator`` ".": digits grouped by thousands."""
    return re.fullmatch(rf"\d{{1,3}}(?:{re.escape(separator)}\d{{3}})+", text) is not None


def _whole(text: str, thousands: str) -> bool:
    return _PLAIN.match(text) is not None or _grouped(text, thousands)


def parse_amount(text: str, currency: str) -> Decimal:
    """What a person typed as a Decimal, read the active language's way.

    Indonesian groups thousands with a dot and writes a decimal comma ("150.000",
    "Rp 1.500.000", "150.000,50"); English groups with a comma and writes a decimal
    point ("150,000", "150000.50"). Both read plain digits ("150000") and a leading
    "Rp"/"IDR".

    Raises ``ValidationError`` with a message for each kind of bad input. For a
    currency without minor units (IDR) a fraction is refused rather than rounded.
    """
    text = (text or "").strip()
    if len(text) > AMOUNT_MAX_LENGTH:
        raise forms.ValidationError(_("That amount is far too long."), code="too_long")
    cleaned = re.sub(r"^(rp|idr)\.?\s*", "", text, flags=re.IGNORECASE)
    cleaned = re.sub(r"\s", "", cleaned)  # "Rp 150.000" copied from a page has a no-break space
    if cleaned.startswith("-"):
        raise forms.ValidationError(_("Enter an amount above zero."), code="negative")
    decimal_separator = get_format("DECIMAL_SEPARATOR")
    thousands_separator = get_format("THOUSAND_SEPARATOR")
    exponent = CURRENCY_EXPONENT.get(currency.upper(), 2)
    whole_units = exponent == 0
    # "150000", "150.000" (id), "1,500,000" (en).
    if _whole(cleaned, thousands_separator):
        return Decimal(re.sub(r"\D", "", cleaned))
    # Rupiah grouped the other language's way: "150.000" typed on the English page is
    # 150000. Nobody tops up 150 rupiah with decimals, and no amount in a currency
    # without minor units has three decimals, so three digits after the separator
    # can only be thousands.
    if whole_units and _grouped(cleaned, decimal_separator):
        return Decimal(re.sub(r"\D", "", cleaned))
    # A fraction in the active language: "150000.50" (en), "150.000,50" (id).
    integer, separator, fraction = cleaned.rpartition(decimal_separator)
    if separator and _whole(integer, thousands_separator) and _PLAIN.match(fraction):
        if whole_units:
            raise _decimals_error()
        if len(fraction) <= exponent:
            return Decimal(re.sub(r"\D", "", integer) + "." + fraction)
    # Decimals written the other language's way ("150000,50" on the English page).
    if whole_units and _FRACTION.match(cleaned):
        raise _decimals_error()
    raise forms.ValidationError(
        _("Enter an amount in numbers, like 150000."), code="invalid", params={"value": text}
    )


def _decimals_error() -> forms.ValidationError:
    return forms.ValidationError(
        _("Top-ups are in whole rupiah: leave out the decimals."), code="decimal"
    )


def amount_example(amount: int = 150000) -> str:
    """``150.000`` in Indonesian, ``150,000`` in English: how to type an amount."""
    return number_format(amount, use_l10n=True, force_grouping=True)


class TopUpForm(forms.Form):
    """A preset amount (radio cards) or an amount of one's own, which wins when filled."""

    preset = forms.ChoiceField(
        label=_("Amount"), required=False, widget=forms.RadioSelect, choices=()
    )
    custom_amount = forms.CharField(
        label=_("Another amount"),
        required=False,
        # No max_length on the field itself: a long paste gets our message, not a
        # truncated value from the browser.
        widget=forms.TextInput(
            attrs={
                "inputmode": "numeric",
                "autocomplete": "off",
                "data-custom-amount": "",
            }
        ),
    )

    def __init__(self, *args, currency: str = "IDR", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.minimum = app_settings.TOPUP_MIN
        self.maximum = app_settings.TOPUP_MAX
        self.fields["preset"].choices = [
            (
                str(int(amount)) if amount == amount.to_integral() else str(amount),
                self.money(amount),
            )
            for amount in app_settings.TOPUP_PRESETS
        ]
        self.fields["custom_amount"].help_text = _("Between %(low)s and %(high)s.") % {
            "low": self.money(self.minimum),
            "high": self.money(self.maximum),
        }
        self.fields["custom_amount"].widget.attrs["placeholder"] = amount_example()
        self.fields["custom_amount"].prefix = "Rp" if currency.upper() == "IDR" else currency
        self.helper = FormHelper()
        self.helper.form_action = reverse("portal:wallet_topup")
        self.helper.form_id = "topup-form"
        self.helper.attrs = {"novalidate": ""}
        # The page shows non-field errors (gateway refusals) as its own alert, and the
        # field templates show their errors themselves.
        self.helper.form_show_errors = False
        self.helper.layout = Layout(
            Field("preset", template="portal/wallet/fields/preset_cards.html"),
            Field("custom_amount", template="portal/wallet/fields/money_input.html"),
            HTML(
                '<button type="submit" class="btn btn-primary btn-lg mt-6 w-full">'
                + escape(_("Continue to payment"))
                + "</button>"
            ),
        )

    def money(self, amount: Decimal) -> str:
        return format_money(amount, self.currency)

    def clean_custom_amount(self) -> Decimal | None:
        text = self.cleaned_data.get("custom_amount") or ""
        if not text.strip():
            return None
        amount = parse_amount(text, self.currency)
        error = self.limit_error(amount)
        if error is not None:
            raise error
        return amount

    def clean(self) -> dict:
        cleaned = super().clean()
        if "custom_amount" in self.errors or "preset" in self.errors:
            return cleaned
        custom, preset = cleaned.get("custom_amount"), cleaned.get("preset")
        if custom is not None:
            cleaned["amount"] = custom
        elif preset:
            # Presets come from settings, which may disagree with the limits.
            error = self.limit_error(Decimal(preset))
            if error is not None:
                self.add_error("preset", error)
            else:
                cleaned["amount"] = Decimal(preset)
        else:
            self.add_error("preset", _("Choose an amount, or enter another amount."))
        return cleaned

    def limit_error(self, amount: Decimal) -> forms.ValidationError | None:
        if amount <= 0:
            return forms.ValidationError(_("Enter an amount above zero."), code="negative")
        if amount < self.minimum:
            return forms.ValidationError(
                _("The smallest top-up is %(amount)s.") % {"amount": self.money(self.minimum)},
                code="min_value",
            )
        if amount > self.maximum:
            return forms.ValidationError(
                _("The largest top-up is %(amount)s.") % {"amount": self.money(self.maximum)},
                code="max_value",
            )
        return None


class AutoPayForm(forms.Form):
    enabled = forms.BooleanField(required=False)
