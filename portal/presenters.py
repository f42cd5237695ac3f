"""How billing state reads to a subscriber: plain-word statuses and the sentence that
says what happens next ("Renews on 3 Jan 2027 for Rp 150.000").

Pure functions of the rows they are given (no queries), so templates stay free of
logic and every sentence is unit-tested. Dates are shown in the current time zone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.utils import formats, timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from subscriptions.models import InvoiceStatus, Plan, Subscription, SubscriptionStatus

S = SubscriptionStatus

# Badge tones; the templates map each to its colours.
SUCCESS, INFO, WARNING, DANGER, NEUTRAL = "success", "info", "warning", "danger", "neutral"

STATUS_WORDS = {
    S.PENDING: (gettext_lazy("Payment pending"), WARNING),
    S.TRIALING: (gettext_lazy("Trial"), INFO),
    S.ACTIVE: (gettext_lazy("Active"), SUCCESS),
    S.PAST_DUE: (gettext_lazy("Past due"), DANGER),
    S.PAUSED: (gettext_lazy("Paused"), NEUTRAL),
    S.CANCELLED: (gettext_lazy("Cancelled"), NEUTRAL),
    S.EXPIRED: (gettext_lazy("Expired"), NEUTRAL),
}

INVOICE_TONES = {
    InvoiceStatus.DRAFT: NEUTRAL,
    InvoiceStatus.OPEN: INFO,
    InvoiceStatus.PAID: SUCCESS,
    InvoiceStatus.OVERDUE: DANGER,
    InvoiceStatus.VOID: NEUTRAL,
    InvoiceStatus.UNCOLLECTIBLE: DANGER,
}


@dataclass(frozen=True)
class SubscriptionSummary:
    status_label: str
    tone: str
    next_step: str


def _nowrap(text: str) -> str:
    """Keep ``Rp 150.000`` or ``3 Jan 2027`` on one line when a sentence wraps."""
    return text.replace(" ", "\u00a0")


def format_date(value: dt.datetime | dt.date | None) -> str:
    """``3 Jan 2027`` in the current time zone (and the active language)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    return formats.date_format(value, "j M Y")


def billing_cycle(plan: Plan) -> str:
    """``Monthly``, ``Yearly``, or ``Every 3 months``."""
    if plan.interval == 1:
        return {
            "day": _("Daily"),
            "week": _("Weekly"),
            "month": _("Monthly"),
            "year": _("Yearly"),
        }[plan.interval_unit]
    return _("Every %(interval)s") % {"interval": plan.interval_display}


def price_per_period(plan: Plan) -> str:
    """``Rp 149.000 / month``."""
    return f"{plan.price_display} / {plan.interval_display}"


def status_words(subscription: Subscription) -> tuple[str, str]:
    """The status in plain words and its badge tone."""
    label, tone = STATUS_WORDS.get(subscription.status, (subscription.status, NEUTRAL))
    if subscription.status in (S.ACTIVE, S.TRIALING) and subscription.cancel_at_period_end:
        return str(label), WARNING
    return str(label), tone


def next_step(subscription: Subscription) -> str:
    """What happens next, in one sentence a subscriber can act on."""
    status = subscription.status
    plan = subscription.plan
    period_end = format_date(subscription.current_period_end)

    if status == S.PENDING:
        return _("Payment pending: your plan starts as soon as the first invoice is paid.")

    if status == S.TRIALING:
        trial_end = format_date(subscription.trial_end or subscription.current_period_end)
        if subscription.cancel_at_period_end:
            return _("Cancels on %(date)s, when the trial ends.") % {"date": trial_end}
        return _("Trial ends on %(date)s, then %(price)s every %(interval)s.") % {
            "date": trial_end,
            "price": _nowrap(plan.price_display),
            "interval": plan.interval_display,
        }

    if status == S.ACTIVE:
        if subscription.cancel_at_period_end:
            return _("Cancels on %(date)s.") % {"date": period_end}
        scheduled = subscription.scheduled_plan
        if scheduled is not None:
            return _("Switches to %(plan)s on %(date)s and renews for %(price)s.") % {
                "plan": scheduled.name,
                "date": format_date(
                    subscription.scheduled_change_at or subscription.current_period_end
                ),
                "price": _nowrap(scheduled.price_display),
            }
        return _("Renews on %(date)s for %(price)s.") % {
            "date": period_end,
            "price": _nowrap(plan.price_display),
        }

    if status == S.PAST_DUE:
        return _("Past due: pay the open invoice to keep your subscription.")

    if status == S.PAUSED:
        if subscription.resume_at:
            return _("Paused, resumes on %(date)s.") % {"date": format_date(subscription.resume_at)}
        return _("Paused until you resume it.")

    if status == S.CANCELLED:
        ended = subscription.ended_at or subscription.cancelled_at
        return (
            _("Cancelled on %(date)s.") % {"date": format_date(ended)} if ended else _("Cancelled.")
        )

    if status == S.EXPIRED:
        ended = subscription.ended_at
        return _("Expired on %(date)s.") % {"date": format_date(ended)} if ended else _("Expired.")

    return ""


def subscription_summary(subscription: Subscription) -> SubscriptionSummary:
    label, tone = status_words(subscription)
    return SubscriptionSummary(status_label=label, tone=tone, next_step=next_step(subscription))


# Features whose key does not read well once humanized.
FEATURE_LABELS = {
    "api_access": gettext_lazy("API access"),
    "sso": gettext_lazy("Single sign-on (SSO)"),
}


def _humanize_key(key: str) -> str:
    if key in FEATURE_LABELS:
        return str(FEATURE_LABELS[key])
    return capfirst(key.replace("_", " ").strip())


def plan_features(features: dict[str, Any] | None) -> list[str]:
    """A plan's ``features`` JSON as short lines for a checklist.

    ``{"max_projects": 3, "support": "email"}`` -> ``["Up to 3 projects", "Email support"]``;
    ``None`` or a negative ``max_*`` means unlimited; ``False`` features are left out.
    """
    lines: list[str] = []
    for key, value in (features or {}).items():
        if value is False or value in ("", []):
            continue
        if key.startswith("max_"):
            thing = key.removeprefix("max_").replace("_", " ")
            if value is None or (isinstance(value, int) and value < 0):
                lines.append(_("Unlimited %(things)s") % {"things": thing})
            elif isinstance(value, int) and not isinstance(value, bool):
                singular = thing[:-1] if thing.endswith("s") else thing
                lines.append(
                    ngettext("Up to %(n)s %(thing)s", "Up to %(n)s %(things)s", value)
                    % {"n": f"{value:,}".replace(",", "."), "thing": singular, "things": thing}
                )
            else:
                lines.append(f"{_humanize_key(thing)}: {value}")
        elif key == "support" and isinstance(value, str):
            lines.append(_("%(kind)s support") % {"kind": capfirst(value.replace("_", " "))})
        elif value is True:
            lines.append(_humanize_key(key))
        else:
            lines.append(f"{_humanize_key(key)}: {value}")
    return lines


def invoice_tone(status: str) -> str:
    return INVOICE_TONES.get(status, NEUTRAL)
