"""The wallet's forms: the top-up amount (a preset or an amount of one's own) and the
auto-pay switch. Validation and the crispy layout only; the services do the rest."""

from __future__ import annotations

import re
from decimal import Decimal

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Field, Layout
from django import forms
from django.urls import reverse
from django.utils.html import escape
from django.utils.translation import gettext_lazy as _

from subscriptions.money import CURRENCY_EXPONENT, format_money
from wallets.app_settings import app_settings

# Longer than any amount a wallet can take ("50.000.000" is 10): anything longer is
# refused before it is parsed.
AMOUNT_MAX_LENGTH = 20

# "150000", "150.000", "1,500,000": digits, optionally grouped by thousands.
_GROUPED = re.compile(r"^\d{1,3}([.,]\d{3})+$")
_PLAIN = re.compile(r"^\d+$")
# Something with a fractional part: "150000.50", "10,5", "150.000,00".
_FRACTION = re.compile(r"^[\d.,]*\d[.,]\d{1,2}$")
_SIMPLE_FRACTION = re.compile(r"^\d+[.,]\d{1,2}$")


def parse_amount(text: str, currency: str) -> Decimal:
    """What a person typed (``150000``, ``150.000``, ``Rp 150.000``) as a Decimal.

    Raises ``ValidationError`` with a message for each kind of bad input. For a
    currency without minor units (IDR) a fraction is refused rather than rounded.
    """
    text = (text or "").strip()
    if len(text) > AMOUNT_MAX_LENGTH:
        raise forms.ValidationError(_("That amount is far too long."), code="too_long")
    cleaned = re.sub(r"^(rp|idr)\.?\s*", "", text, flags=re.IGNORECASE).replace(" ", "")
    if cleaned.startswith("-"):
        raise forms.ValidationError(_("Enter an amount above zero."), code="negative")
    whole_units = CURRENCY_EXPONENT.get(currency.upper(), 2) == 0
    if _PLAIN.match(cleaned) or (
        _GROUPED.match(cleaned) and len({*re.sub(r"\d", "", cleaned)}) == 1
    ):
        return Decimal(re.sub(r"\D", "", cleaned))
    if _FRACTION.match(cleaned):
        if whole_units:
            raise forms.ValidationError(
                _("Top-ups are in whole rupiah: leave out the decimals."), code="decimal"
            )
        if _SIMPLE_FRACTION.match(cleaned):
            return Decimal(cleaned.replace(",", "."))
    raise forms.ValidationError(
        _("Enter an amount in numbers, like 150000."), code="invalid", params={"value": text}
    )


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
                "placeholder": "150.000",
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
                f"{escape(_('Continue to payment'))}</button>"
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
