"""Forms of the subscription actions: validation and the crispy ``FormHelper`` only.

The services decide what is allowed; these forms turn what a subscriber typed into
the services' arguments (a local date into an aware datetime, a reason code and a
comment into one line) and say what is wrong next to the field.
"""

from __future__ import annotations

import datetime as dt

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Field, Layout
from django import forms
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from subscriptions.models import Subscription, SubscriptionStatus

# The portal's input look (the same as the restyled allauth forms); Django marks a field
# with errors aria-invalid, which turns its ring red.
FIELD_INPUT = "field-input aria-[invalid=true]:ring-red-400 aria-[invalid=true]:focus:ring-red-500"


def portal_helper(form: forms.Form) -> FormHelper:
    """Fields only: the templates write the ``<form>`` (with its HTMX attributes).

    Fields render through crispy with the portal's field template (label, input, help
    and errors tied together with ``aria-describedby``), so they match the allauth
    pages rather than crispy-tailwind's default look.
    """
    for field in form.fields.values():
        if not isinstance(field.widget, forms.RadioSelect | forms.HiddenInput):
            field.widget.attrs.setdefault("class", FIELD_INPUT)
    helper = FormHelper()
    helper.form_tag = False
    helper.disable_csrf = True
    helper.field_template = "portal/subscription/_field.html"
    return helper


class PlanChangeForm(forms.Form):
    """The confirmation of a plan change carries the signed quote it confirms."""

    quote_token = forms.CharField(widget=forms.HiddenInput, max_length=4000)


# The parts of the hint shown in an empty date input ("dd/mm/yyyy").
DATE_HINT_PARTS = {
    # Translators: the parts of the hint in an empty date input ("dd/mm/yyyy"): one
    # letter per digit, for day, month and year ("hh/bb/tttt").
    "%d": pgettext_lazy("date input hint", "dd"),
    "%m": pgettext_lazy("date input hint", "mm"),
    "%Y": pgettext_lazy("date input hint", "yyyy"),
}


def date_input_format() -> str:
    """How a date is typed in the active language: its first ``DATE_INPUT_FORMATS``
    (``%d/%m/%Y`` in English and Indonesian, see ``portal/formats``)."""
    return formats.get_format("DATE_INPUT_FORMATS")[0]


def date_input_hint() -> str:
    """``dd/mm/yyyy`` (``hh/bb/tttt`` in Indonesian): the input format in words."""
    hint = date_input_format()
    for directive, part in DATE_HINT_PARTS.items():
        hint = hint.replace(directive, str(part))
    return hint


class LocalDateInput(forms.DateInput):
    """A date typed as text in the active language's format, with its hint.

    Not ``type=date``: its picker follows the browser's locale (mm/dd/yyyy in an
    American browser, whatever the page's language). The value is shown in the first
    ``DATE_INPUT_FORMATS`` of the language active when it renders (``format`` None),
    and ``forms.DateField`` reads any of that language's formats, ISO included. No
    ``inputmode="numeric"``: a phone's number pad has no "/" to type the date with.
    """

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs={"autocomplete": "off", **(attrs or {})})

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["attrs"].setdefault("placeholder", date_input_hint())
        return context


class PauseForm(forms.Form):
    resume_on = forms.DateField(
        label=_("Resume automatically on"),
        required=False,
        localize=True,
        help_text=_("Optional. Leave empty to resume whenever you like."),
        widget=LocalDateInput(),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.helper = portal_helper(self)

    def clean_resume_on(self) -> dt.date | None:
        resume_on = self.cleaned_data.get("resume_on")
        if resume_on is not None and resume_on <= timezone.localdate():
            raise forms.ValidationError(_("Choose a date after today."), code="past")
        return resume_on

    @property
    def resume_at(self) -> dt.datetime | None:
        """The start of the chosen day in the portal's time zone."""
        resume_on = self.cleaned_data.get("resume_on")
        if resume_on is None:
            return None
        return timezone.make_aware(dt.datetime.combine(resume_on, dt.time.min))


class CancelForm(forms.Form):
    AT_PERIOD_END, NOW = "period_end", "now"
    REASONS = [
        ("", _("Choose a reason (optional)")),
        ("too_expensive", _("It's too expensive")),
        ("missing_features", _("It's missing something I need")),
        ("not_using", _("I don't use it enough")),
        ("switching", _("I'm switching to another product")),
        ("technical", _("I ran into technical problems")),
        ("temporary", _("I only needed it for a while")),
        ("other", _("Something else")),
    ]

    when = forms.ChoiceField(
        label=_("When"),
        widget=forms.RadioSelect(
            attrs={"class": "mt-0.5 h-4 w-4 border-gray-300 text-brand-600 focus:ring-brand-600"}
        ),
    )
    reason = forms.ChoiceField(label=_("Why are you cancelling?"), choices=REASONS, required=False)
    details = forms.CharField(
        label=_("Anything we could do better?"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, subscription: Subscription, period_end: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        choices = []
        if subscription.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING):
            choices.append(
                (
                    self.AT_PERIOD_END,
                    _("At the end of the period, on %(date)s") % {"date": period_end}
                    if period_end
                    else _("At the end of the period"),
                )
            )
        self.sign_up = subscription.status == SubscriptionStatus.PENDING
        if self.sign_up:
            # Nothing to keep until a period end: a sign-up not paid yet just ends.
            choices.append((self.NOW, _("Now")))
            self.fields["when"].widget = forms.HiddenInput()
        else:
            choices.append((self.NOW, _("Now: access ends immediately")))
        self.fields["when"].choices = choices
        self.fields["when"].initial = choices[0][0]
        self.helper = portal_helper(self)
        when = (
            "when"
            if self.sign_up
            else Field("when", template="portal/subscription/_choice_cards.html")
        )
        self.helper.layout = Layout(when, "reason", "details")

    @property
    def at_period_end(self) -> bool:
        return self.cleaned_data["when"] == self.AT_PERIOD_END

    @property
    def reason_text(self) -> str:
        """``too_expensive: what they wrote`` (the code first, so staff can group them)."""
        parts = [self.cleaned_data.get("reason", ""), self.cleaned_data.get("details", "").strip()]
        return ": ".join(part for part in parts if part)
