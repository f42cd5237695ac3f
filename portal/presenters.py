"""How billing state reads to a subscriber: plain-word statuses and the sentence that
says what happens next ("Renews on 3 Jan 2027 for Rp 150.000").

Pure functions of the rows they are given (no queries), so templates stay free of
logic and every sentence is unit-tested. Dates are shown in the current time zone.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import models
from django.utils import formats, timezone
from django.utils.text import capfirst
from django.utils.translation import get_language, gettext_lazy, ngettext, pgettext
from django.utils.translation import gettext as _

from subscriptions.models import (
    Invoice,
    InvoiceReason,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    Plan,
    RefundDestination,
    RefundStatus,
    Subscription,
    SubscriptionStatus,
)
from subscriptions.money import format_money
from subscriptions.selectors import InvoiceMoney, Overpayment, RefundEntry, invoice_money

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


def format_date(value: dt.datetime | dt.date | str | None) -> str:
    """``3 Jan 2027`` (``3 Januari 2027`` in Indonesian) in the current time zone and
    the active language (``DATE_FORMAT`` in ``portal/formats``); an ISO string, as
    banners and emails store their dates, is read first."""
    if not value:
        return ""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        value = (timezone.localtime(value) if timezone.is_aware(value) else value).date()
    return _day_label(value, get_language())


@functools.lru_cache(maxsize=4096)
def _day_label(day: dt.date, language: str | None) -> str:
    # Formatting a date is ~30 µs, and a page of rows shows many: remember each
    # day's label per language (the label depends on nothing else).
    return formats.date_format(day, "DATE_FORMAT")


def format_datetime(value: dt.datetime | None) -> str:
    """``3 Jan 2027, 14:05`` (``3 Januari 2027, 14.05``) in the current time zone and
    the active language."""
    if value is None:
        return ""
    return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")


def interval_words(plan: Plan) -> str:
    """The length of one billing period: ``month``, or ``3 months`` (``bulan``,
    ``3 bulan``), as in ``Rp 149.000 / month``."""
    unit, n = plan.interval_unit, plan.interval
    if n == 1:
        return {
            # Translators: one billing period, as in "Rp 149.000 / month".
            "day": pgettext("billing period", "day"),
            "week": pgettext("billing period", "week"),
            "month": pgettext("billing period", "month"),
            "year": pgettext("billing period", "year"),
        }.get(unit, unit)
    if unit == "day":
        text = ngettext("%(n)s day", "%(n)s days", n)
    elif unit == "week":
        text = ngettext("%(n)s week", "%(n)s weeks", n)
    elif unit == "year":
        text = ngettext("%(n)s year", "%(n)s years", n)
    else:
        text = ngettext("%(n)s month", "%(n)s months", n)
    return text % {"n": n}


def billing_cycle(plan: Plan) -> str:
    """``Monthly``, ``Yearly``, or ``Every 3 months``."""
    unit, n = plan.interval_unit, plan.interval
    if n == 1:
        return {
            "day": _("Daily"),
            "week": _("Weekly"),
            "month": _("Monthly"),
            "year": _("Yearly"),
        }.get(unit, unit)
    if unit == "day":
        text = ngettext("Every %(n)s day", "Every %(n)s days", n)
    elif unit == "week":
        text = ngettext("Every %(n)s week", "Every %(n)s weeks", n)
    elif unit == "year":
        text = ngettext("Every %(n)s year", "Every %(n)s years", n)
    else:
        text = ngettext("Every %(n)s month", "Every %(n)s months", n)
    return text % {"n": n}


def price_per_period(plan: Plan) -> str:
    """``Rp 149.000 / month``."""
    return f"{plan.price_display} / {interval_words(plan)}"


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
            "interval": interval_words(plan),
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


# Features whose key does not read well once humanized (and the usual ones, so that
# they are translated; an unknown key is shown humanized, as the plan's data says it).
FEATURE_LABELS = {
    "api_access": gettext_lazy("API access"),
    "sso": gettext_lazy("Single sign-on (SSO)"),
    "custom_domain": gettext_lazy("Custom domain"),
    "audit_log": gettext_lazy("Audit log"),
}

# ``support`` values with their own sentence; another value reads "<Value> support".
SUPPORT_LABELS = {
    "email": gettext_lazy("Email support"),
    "priority email": gettext_lazy("Priority email support"),
    "phone and email": gettext_lazy("Phone and email support"),
}


def _humanize_key(key: str) -> str:
    if key in FEATURE_LABELS:
        return str(FEATURE_LABELS[key])
    return capfirst(key.replace("_", " ").strip())


def _limit_line(thing: str, value: int | None) -> str:
    """``Up to 3 projects`` / ``Unlimited projects`` (``value`` None): whole sentences
    for the usual limits, a pattern around the key's words for any other."""
    shown = f"{value:,}".replace(",", ".") if value is not None else ""
    if thing == "projects":
        if value is None:
            return _("Unlimited projects")
        return ngettext("Up to %(n)s project", "Up to %(n)s projects", value) % {"n": shown}
    if thing == "members":
        if value is None:
            return _("Unlimited members")
        return ngettext("Up to %(n)s member", "Up to %(n)s members", value) % {"n": shown}
    if value is None:
        # Translators: "things" is a plan feature's key as written in the plan's data.
        return _("Unlimited %(things)s") % {"things": thing}
    singular = thing[:-1] if thing.endswith("s") else thing
    # Translators: "thing"/"things" is a plan feature's key as written in the plan's data.
    return ngettext("Up to %(n)s %(thing)s", "Up to %(n)s %(things)s", value) % {
        "n": shown,
        "thing": singular,
        "things": thing,
    }


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
                lines.append(_limit_line(thing, None))
            elif isinstance(value, int) and not isinstance(value, bool):
                lines.append(_limit_line(thing, value))
            else:
                lines.append(f"{_humanize_key(thing)}: {value}")
        elif key == "support" and isinstance(value, str):
            kind = value.replace("_", " ").strip()
            if kind.lower() in SUPPORT_LABELS:
                lines.append(str(SUPPORT_LABELS[kind.lower()]))
            else:
                # Translators: "kind" is the plan's support value as written in its data.
                lines.append(_("%(kind)s support") % {"kind": capfirst(kind)})
        elif value is True:
            lines.append(_humanize_key(key))
        else:
            lines.append(f"{_humanize_key(key)}: {value}")
    return lines


def invoice_tone(status: str) -> str:
    return INVOICE_TONES.get(status, NEUTRAL)


def _choice_label(choices: type[models.TextChoices], value: str) -> str:
    """``get_FOO_display()`` without its per-call walk over the field's choices."""
    try:
        return str(choices(value).label)
    except ValueError:
        return value


# The columns a list row reads (``.only(*INVOICE_ROW_FIELDS)`` on its queryset).
INVOICE_ROW_FIELDS = (
    "number",
    "status",
    "reason",
    "total",
    "currency",
    "issued_at",
    "due_date",
    "subscription_id",
    "plan_id",
    "plan__name",
)


@dataclass(frozen=True, slots=True)
class InvoiceRow:
    """One invoice as a list row shows it, every value worked out once (a page of rows
    then renders from plain attributes instead of filters, tags and includes)."""

    pk: int
    number: str
    issued: str
    plan_name: str
    description: str
    due: str  # the due date while the invoice can be paid, else ""
    past_due: bool
    total: str
    tone: str
    status_label: str
    payable: bool
    url: str
    pdf_url: str
    pay_url: str  # where the row's "Pay" button posts (payable rows only), else ""
    net: str = ""  # "Net Rp 100.000" once part of the invoice was refunded, else ""


def invoice_rows(
    invoices: Iterable[Invoice],
    *,
    url: Callable[[int], str],
    pdf_url: Callable[[int], str] | None = None,
    pay_url: Callable[[int], str] | None = None,
    refunds: bool = False,
) -> list[InvoiceRow]:
    """``url``, ``pdf_url`` and ``pay_url`` build a row's links from its pk
    (``links.PkPath``). ``refunds``: the invoices come with their payments and refunds
    (``invoices_with_refunds``), and a refunded invoice says so, with its net."""
    rows = []
    for invoice in invoices:
        status = invoice.status
        plan_name = invoice.plan.name if invoice.plan_id else ""
        reason = _choice_label(InvoiceReason, invoice.reason)
        payable = invoice.is_payable
        tone = INVOICE_TONES.get(status, NEUTRAL)
        status_label = _choice_label(InvoiceStatus, status)
        net = ""
        money = invoice_money(invoice) if refunds else None
        if money is not None and money.refunded:
            tone = NEUTRAL
            status_label = _("Refunded") if money.net_paid <= 0 else _("Partly refunded")
            net = _("Net %(amount)s") % {"amount": _nowrap(_money(money.net_paid, money))}
        rows.append(
            InvoiceRow(
                pk=invoice.pk,
                number=str(invoice),
                issued=format_date(invoice.issued_at),
                plan_name=plan_name,
                description=f"{plan_name} · {reason}" if plan_name else str(reason),
                due=format_date(invoice.due_date) if payable else "",
                past_due=invoice.is_past_due,
                total=format_money(invoice.total, invoice.currency),
                tone=tone,
                status_label=status_label,
                payable=payable,
                url=url(invoice.pk),
                pdf_url=pdf_url(invoice.pk) if pdf_url else "",
                pay_url=pay_url(invoice.pk) if pay_url and payable else "",
                net=net,
            )
        )
    return rows


# --- One invoice: its totals, refunds, overpayments and payments -----------------------

PAYMENT_METHODS = {
    "wallet": gettext_lazy("Wallet balance"),
    "bank_transfer": gettext_lazy("Bank transfer"),
    "echannel": gettext_lazy("Mandiri Bill"),
    "permata": gettext_lazy("Permata virtual account"),
    "credit_card": gettext_lazy("Card"),
    "gopay": "GoPay",
    "shopeepay": "ShopeePay",
    "qris": "QRIS",
    "cstore": gettext_lazy("Convenience store"),
    "akulaku": "Akulaku",
    "kredivo": "Kredivo",
}

P = PaymentStatus
PAYMENT_STATES = {
    P.SETTLEMENT: (SUCCESS, gettext_lazy("Paid")),
    P.CAPTURE: (SUCCESS, gettext_lazy("Paid")),
    P.AUTHORIZE: (INFO, gettext_lazy("Authorized")),
    P.PENDING: (WARNING, gettext_lazy("Pending")),
    P.DENY: (DANGER, gettext_lazy("Declined")),
    P.FAILURE: (DANGER, gettext_lazy("Failed")),
    P.CANCEL: (NEUTRAL, gettext_lazy("Cancelled")),
    P.EXPIRE: (NEUTRAL, gettext_lazy("Expired")),
    P.REFUND: (NEUTRAL, gettext_lazy("Refunded")),
    P.PARTIAL_REFUND: (NEUTRAL, gettext_lazy("Partly refunded")),
}

REFUND_DESTINATIONS = {
    RefundDestination.GATEWAY: gettext_lazy("Card or account"),
    RefundDestination.WALLET: gettext_lazy("Wallet"),
}
# A refund that went through needs no badge; these do.
REFUND_STATES = {
    RefundStatus.PENDING: (WARNING, gettext_lazy("In progress")),
    RefundStatus.FAILED: (DANGER, gettext_lazy("Failed")),
}
# Where an overpayment went, by the state and destination of the refund returning it.
RETURN_OUTCOMES = {
    (RefundStatus.SUCCEEDED, RefundDestination.GATEWAY): gettext_lazy(
        "returned to your card or account"
    ),
    (RefundStatus.SUCCEEDED, RefundDestination.WALLET): gettext_lazy("returned to your wallet"),
    (RefundStatus.SUCCEEDED, ""): gettext_lazy("returned"),
    (RefundStatus.PENDING, RefundDestination.GATEWAY): gettext_lazy(
        "being returned to your card or account"
    ),
    (RefundStatus.PENDING, RefundDestination.WALLET): gettext_lazy("being returned to your wallet"),
}


@dataclass(frozen=True, slots=True)
class PaymentRow:
    when: str
    method: str
    tone: str
    state: str
    amount: str
    refunded: str  # "Rp 50.000 of Rp 233.301 refunded" (or "returned"), else ""


@dataclass(frozen=True, slots=True)
class RefundLine:
    amount: str  # "-Rp 50.000"
    date: str  # "" when not known (refunded before refunds were itemised)
    destination: str  # "Wallet", "Card or account", or ""
    tone: str
    state: str  # "In progress" or "Failed"; "" once refunded
    reason: str


@dataclass(frozen=True)
class InvoiceStatement:
    """One invoice's money as the page, the PDF and the hosted page show it."""

    total: str
    paid: str
    refunded: str  # "-Rp 50.000", or "" when nothing has come back
    net_paid: str
    due: str
    summary: str  # "Rp 50.000 refunded, net paid Rp 183.301.", or ""
    refunds: list[RefundLine]
    overpayments: list[str]
    payments: list[PaymentRow]
    void_note: str  # "Voided on 5 Dec 2026: Duplicate", or ""


def _money(amount, money: InvoiceMoney) -> str:
    return format_money(amount, money.currency)


def _refund_line(entry: RefundEntry, money: InvoiceMoney) -> RefundLine:
    tone, state = REFUND_STATES.get(entry.status, (NEUTRAL, ""))
    return RefundLine(
        amount="-" + _money(entry.amount, money),
        date=format_date(entry.at),
        destination=str(REFUND_DESTINATIONS.get(entry.destination, "")),
        tone=tone,
        state=str(state),
        reason=entry.reason,
    )


def _overpayment_sentence(overpayment: Overpayment, invoice: Invoice, money: InvoiceMoney) -> str:
    """``Rp 150.000 arrived after the invoice was paid — returned to your wallet.``"""
    amount = _nowrap(_money(overpayment.amount, money))
    if invoice.status == InvoiceStatus.VOID:
        arrived = _("%(amount)s arrived after the invoice was voided") % {"amount": amount}
    else:
        arrived = _("%(amount)s arrived after the invoice was paid") % {"amount": amount}
    returns = [
        (entry, RETURN_OUTCOMES.get((entry.status, entry.destination)))
        for entry in overpayment.returns
    ]
    returns = [(entry, outcome) for entry, outcome in returns if outcome]
    if not returns:
        outcomes = [_("not returned yet")]
    elif len(returns) == 1 and returns[0][0].amount == overpayment.amount:
        outcomes = [str(returns[0][1])]
    else:
        outcomes = [
            f"{_nowrap(_money(entry.amount, money))} {outcome}" for entry, outcome in returns
        ]
    return _("%(arrived)s — %(outcome)s.") % {"arrived": arrived, "outcome": ", ".join(outcomes)}


def _payment_row(payment: Payment) -> PaymentRow:
    tone, state = PAYMENT_STATES.get(payment.status, (NEUTRAL, payment.get_status_display()))
    amount = format_money(payment.gross_amount, payment.currency)
    refunded = ""
    if payment.is_paid and payment.overpaid_amount:
        tone, state = WARNING, _("Overpayment")
        refunded = _("%(returned)s of %(amount)s returned") % {
            "returned": format_money(payment.refunded_amount, payment.currency),
            "amount": amount,
        }
    elif payment.is_paid and payment.refunded_amount:
        refunded = _("%(refunded)s of %(amount)s refunded") % {
            "refunded": format_money(payment.refunded_amount, payment.currency),
            "amount": amount,
        }
    return PaymentRow(
        when=format_datetime(payment.paid_at or payment.created_at),
        method=str(
            PAYMENT_METHODS.get(
                payment.payment_type,
                payment.payment_type.replace("_", " ").capitalize() or "—",
            )
        ),
        tone=tone,
        state=str(state),
        amount=amount,
        refunded=refunded,
    )


def void_note(invoice: Invoice) -> str:
    """``Voided on 5 Dec 2026: Duplicate`` for a void invoice, else ""."""
    if invoice.status != InvoiceStatus.VOID:
        return ""
    if invoice.voided_at is None:
        return (
            _("Voided: %(reason)s") % {"reason": invoice.void_reason}
            if invoice.void_reason
            else _("Voided.")
        )
    date = format_date(invoice.voided_at)
    if invoice.void_reason:
        return _("Voided on %(date)s: %(reason)s") % {"date": date, "reason": invoice.void_reason}
    return _("Voided on %(date)s.") % {"date": date}


def invoice_statement(invoice: Invoice, *, received_only: bool = False) -> InvoiceStatement:
    """The invoice's figures and lines, from its payments and refunds as prefetched by
    ``invoices_with_refunds``. ``received_only``: list only payments that brought money
    (a document), not every attempt (the page)."""
    money = invoice_money(invoice)
    refunded = money.refunded
    summary = ""
    if refunded:
        summary = _("%(refunded)s refunded, net paid %(net)s.") % {
            "refunded": _nowrap(_money(refunded, money)),
            "net": _nowrap(_money(money.net_paid, money)),
        }
    return InvoiceStatement(
        total=_money(money.total, money),
        paid=_money(money.paid, money),
        refunded="-" + _money(refunded, money) if refunded else "",
        net_paid=_money(money.net_paid, money),
        due=_money(money.due, money),
        summary=summary,
        refunds=[_refund_line(entry, money) for entry in money.refunds],
        overpayments=[_overpayment_sentence(o, invoice, money) for o in money.overpayments],
        payments=[
            _payment_row(payment)
            for payment in invoice.payments.all()
            if payment.is_paid or not received_only
        ],
        void_note=void_note(invoice),
    )


# --- Plans, quotes and what the subscription card offers --------------------------------

MONTHLY, YEARLY = "month", "year"


def plan_group(plan: Plan) -> str:
    """The tab of the monthly/yearly switch a plan is listed under."""
    return YEARLY if plan.interval_unit == "year" else MONTHLY


def catalogue_groups(plans: list[Plan]) -> list[str]:
    """The tabs the catalogue needs, monthly first (one tab means no switch)."""
    present = {plan_group(plan) for plan in plans}
    return [group for group in (MONTHLY, YEARLY) if group in present]


GROUP_LABELS = {MONTHLY: gettext_lazy("Monthly"), YEARLY: gettext_lazy("Yearly")}

CHANGE_LABELS = {
    "upgrade": gettext_lazy("Upgrade"),
    "downgrade": gettext_lazy("Downgrade"),
    "switch": gettext_lazy("Switch"),
}

# The same plan billed over another period (the catalogue's monthly/yearly twins).
SWITCH_PERIOD_LABELS = {
    MONTHLY: gettext_lazy("Switch to monthly"),
    YEARLY: gettext_lazy("Switch to yearly"),
}


def change_label(quote, plan: Plan, current: Plan) -> str:
    """The plan card's button: what confirming ``quote`` (for ``plan``, from
    ``current``) does, named from the quote's own decision (``plan_change_rule``):
    Upgrade, Downgrade, "Switch to yearly" for the same plan on another period, or
    Switch (a trial, an unpaid sign-up, a plan at the same monthly price)."""
    from subscriptions.services.proration import same_tier

    if quote.kind in ("upgrade", "downgrade"):
        return str(CHANGE_LABELS[quote.kind])
    if same_tier(plan, current) and not plan.same_interval_as(current):
        return str(SWITCH_PERIOD_LABELS.get(plan_group(plan), CHANGE_LABELS["switch"]))
    return str(CHANGE_LABELS["switch"])


@dataclass(frozen=True)
class PlanSaving:
    """What a longer billing period saves against paying monthly for the same plan."""

    badge: str  # "Save 17%"
    note: str  # "2 months free compared with paying monthly"


def plan_saving(plan: Plan, catalogue: Iterable[Plan]) -> PlanSaving | None:
    """``plan``'s saving against its monthly twin in ``catalogue`` (same plan name and
    currency, billed every month), or ``None``: not a longer period, no monthly twin,
    or nothing saved. Worked out from the prices, so a changed price says so."""
    from subscriptions.services.proration import plan_months, same_tier

    months = plan_months(plan)
    if months <= 1:
        return None
    twin = next(
        (
            other
            for other in catalogue
            if other.pk != plan.pk
            and other.interval_unit == "month"
            and other.interval == 1
            and other.currency == plan.currency
            and same_tier(other, plan)
        ),
        None,
    )
    if twin is None or twin.price <= 0:
        return None
    monthly_total = twin.price * months
    saved = monthly_total - plan.price
    percent = int((saved * 100 / monthly_total).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if saved <= 0 or percent < 1:
        return None
    # Translators: a yearly price's saving against paying monthly, as in "Save 17%".
    badge = _("Save %(percent)s%%") % {"percent": percent}
    free_months = saved / twin.price
    if free_months == free_months.to_integral_value():
        n = int(free_months)
        note = ngettext(
            "%(n)s month free compared with paying monthly",
            "%(n)s months free compared with paying monthly",
            n,
        ) % {"n": n}
    else:
        note = _("%(amount)s less than paying monthly") % {
            "amount": _nowrap(format_money(saved, plan.currency))
        }
    return PlanSaving(badge=badge, note=note)


@dataclass(frozen=True)
class PlanOffer:
    """One plan on the plans page and what its button does.

    ``action`` is one of ``trial``, ``subscribe``, ``resubscribe`` (POST to subscribe),
    ``change`` (open the quote), ``current``, ``scheduled`` or ``blocked`` (no button;
    ``note`` says why).
    """

    plan: Plan
    features: list[str]
    action: str
    label: str
    kind: str = ""
    note: str = ""
    saving: PlanSaving | None = None


def plan_offers(
    plans: list[Plan],
    subscription: Subscription | None,
    *,
    now: dt.datetime | None = None,
    trial_available: bool | None = None,
    catalogue: list[Plan] | None = None,
) -> list[PlanOffer]:
    """Each plan with the call to action that fits this subscriber.

    Whether a change is an upgrade, a downgrade or a switch (or not possible now) is
    asked of the quote service itself, so the button always says what confirming
    will do. Quoting reads only the rows given: no queries. ``trial_available`` is
    the service's ``user_trial_available`` (by default: only without any subscription
    yet); ``catalogue``, every plan on offer (for a yearly price's monthly twin).
    """
    from subscriptions.exceptions import BillingError
    from subscriptions.services import subscription_change_plan_quote

    live = subscription is not None and subscription.is_live
    if trial_available is None:
        trial_available = subscription is None
    catalogue = plans if catalogue is None else catalogue
    offers = []
    for plan in plans:
        features = plan_features(plan.features)
        saving = plan_saving(plan, catalogue)
        offer = functools.partial(PlanOffer, saving=saving)
        if live and plan.pk == subscription.plan_id:
            offers.append(offer(plan, features, "current", _("Current plan")))
        elif live and plan.pk == subscription.scheduled_plan_id:
            when = format_date(subscription.scheduled_change_at)
            offers.append(
                offer(
                    plan,
                    features,
                    "scheduled",
                    _("Scheduled"),
                    note=_("Your plan switches to this one on %(date)s.") % {"date": when},
                )
            )
        elif live:
            try:
                quote = subscription_change_plan_quote(
                    subscription=subscription, new_plan=plan, now=now
                )
            except BillingError as error:
                note = str(error)
                if subscription.status in (S.PENDING, S.PAST_DUE):
                    note = _("Pay the open invoice first; then you can change plan.")
                offers.append(offer(plan, features, "blocked", "", note=note))
            else:
                label = change_label(quote, plan, subscription.plan)
                offers.append(offer(plan, features, "change", label, kind=quote.kind))
        elif trial_available and plan.trial_period_days:
            # One trial per customer; a sign-up abandoned before paying did not use it.
            label = ngettext(
                "Start %(days)s-day trial", "Start %(days)s-day trial", plan.trial_period_days
            ) % {"days": plan.trial_period_days}
            offers.append(offer(plan, features, "trial", label))
        elif subscription is not None and subscription.plan_id == plan.pk and not trial_available:
            offers.append(
                offer(plan, features, "resubscribe", _("Resubscribe"), note=_("Your previous plan"))
            )
        else:
            offers.append(offer(plan, features, "subscribe", _("Subscribe")))
    return offers


@dataclass(frozen=True)
class QuoteLine:
    label: str
    amount: str
    credit: bool = False


@dataclass(frozen=True)
class QuoteSummary:
    """A proration quote in words: the dialog shown before a plan change is confirmed."""

    kind: str
    title: str
    effect: str
    lines: list[QuoteLine]
    due_now: str
    has_charge: bool
    then: str
    confirm_label: str
    valid_until: str


def distinct_name(plan: Plan, other: Plan | None) -> str:
    """``Pro``, or ``Pro (yearly)`` next to another plan called Pro or billed over
    another period (a change from Business monthly to ``Starter (yearly)``)."""
    if (
        other is not None
        and other.pk != plan.pk
        and (other.name == plan.name or not plan.same_interval_as(other))
    ):
        return f"{plan.name} ({billing_cycle(plan).lower()})"
    return plan.name


def quote_summary(quote, plan: Plan, current: Plan | None = None) -> QuoteSummary:
    """What a ``ProrationQuote`` for ``plan`` charges now, what from the next period,
    and when it takes effect."""

    def money(amount) -> str:
        return _nowrap(format_money(amount, quote.currency))

    new_plan = distinct_name(plan, current)
    old_plan = distinct_name(current, plan) if current is not None else quote.old_plan_name
    lines: list[QuoteLine] = []
    # Same order as the invoice the confirmation creates (credit first, then charge).
    if quote.credit:
        lines.append(
            QuoteLine(
                _("Credit for unused time on %(plan)s") % {"plan": old_plan},
                "-" + money(quote.credit),
                credit=True,
            )
        )
    if quote.charge:
        if quote.new_period_start:
            label = _("%(plan)s, %(start)s – %(end)s") % {
                "plan": new_plan,
                "start": format_date(quote.new_period_start),
                "end": format_date(quote.new_period_end),
            }
        else:
            label = _("%(plan)s for the rest of this period, until %(end)s") % {
                "plan": new_plan,
                "end": format_date(quote.period_end),
            }
        lines.append(QuoteLine(label, money(quote.charge)))

    next_date = format_date(quote.new_period_end or quote.period_end)
    then = _("Then %(price)s every %(interval)s, from %(date)s.") % {
        "price": money(quote.next_amount),
        "interval": interval_words(plan),
        "date": next_date,
    }
    # What it is and when it takes effect come from the quote (``plan_change_rule``):
    # the heading, the sentence, the button and "Due today" say the same thing.
    title = {
        "upgrade": _("Upgrade to %(plan)s"),
        "downgrade": _("Downgrade to %(plan)s"),
    }.get(quote.kind, _("Switch to %(plan)s")) % {"plan": new_plan}
    if quote.sign_up:
        # A sign-up not paid yet: its first invoice is replaced by one for this plan.
        effect = _(
            "Your unpaid first invoice is replaced by one for %(plan)s; your subscription "
            "starts when you pay it."
        ) % {"plan": new_plan}
        confirm = _("Switch and pay %(amount)s") % {"amount": money(quote.amount_due)}
    elif quote.at_period_end:
        when = format_date(quote.effective_at)
        if quote.kind == "downgrade":
            effect = _(
                "Takes effect on %(date)s, nothing charged now. You keep %(old_plan)s until "
                "then; %(plan)s has fewer features."
            ) % {"date": when, "old_plan": old_plan, "plan": new_plan}
            confirm = _("Schedule the downgrade")
        else:
            effect = _(
                "Takes effect on %(date)s, when your current period ends; nothing charged "
                "now. Your features stay the same."
            ) % {"date": when}
            confirm = _("Schedule the switch")
    elif quote.kind == "upgrade":
        effect = (
            _("Takes effect as soon as you pay; a new billing period starts today.")
            if quote.new_period_start
            else _("Takes effect as soon as you pay; your billing date stays the same.")
        )
        confirm = (
            _("Confirm and pay %(amount)s") % {"amount": money(quote.amount_due)}
            if quote.amount_due
            else _("Confirm the upgrade")
        )
    elif quote.amount_due > 0:
        # The same plan over a longer period: a new period starts when it is paid.
        effect = _(
            "Takes effect as soon as you pay; a new billing period starts today and the "
            "unused part of this one is credited. Your features stay the same."
        )
        confirm = _("Switch and pay %(amount)s") % {"amount": money(quote.amount_due)}
    else:
        effect = _("Takes effect now, nothing charged now.")
        confirm = _("Switch now")
    return QuoteSummary(
        kind=quote.kind,
        title=title,
        effect=effect,
        lines=lines,
        due_now=money(quote.amount_due),
        has_charge=quote.amount_due > 0,
        then=then,
        confirm_label=confirm,
        valid_until=formats.time_format(timezone.localtime(quote.valid_until), "TIME_FORMAT"),
    )


def pay_title(invoice: Invoice) -> str:
    """The heading of review-and-pay: ``Upgrade to Business``, ``Switch to Business
    (yearly)`` for a plan change (as its quote was named), else the plan's name."""
    if invoice.plan_id is None:
        return _choice_label(InvoiceReason, invoice.reason)
    if invoice.reason != InvoiceReason.PLAN_CHANGE:
        return invoice.plan.name
    subscription = invoice.subscription if invoice.subscription_id else None
    name = distinct_name(invoice.plan, subscription.plan if subscription else None)
    kind = (invoice.metadata or {}).get("kind")
    if kind == "switch":
        return _("Switch to %(plan)s") % {"plan": name}
    return _("Upgrade to %(plan)s") % {"plan": name}


# --- The dashboard: scheduled changes, actions, the next invoice -----------------------


@dataclass(frozen=True)
class ScheduledChange:
    kind: str  # "plan_change" or "cancel"
    title: str
    sentence: str
    undo_label: str


def scheduled_changes(subscription: Subscription | None) -> list[ScheduledChange]:
    """What is set to happen at the period end and can still be taken back."""
    if subscription is None or not subscription.is_live:
        return []
    changes = []
    if subscription.cancel_at_period_end:
        end = format_date(subscription.current_period_end)
        changes.append(
            ScheduledChange(
                "cancel",
                _("Cancellation"),
                _("Your subscription ends on %(date)s and will not renew.") % {"date": end},
                _("Don't cancel"),
            )
        )
    scheduled = subscription.scheduled_plan
    if scheduled is not None:
        when = format_date(subscription.scheduled_change_at or subscription.current_period_end)
        new_name = distinct_name(scheduled, subscription.plan)
        changes.append(
            ScheduledChange(
                "plan_change",
                _("Switch to %(plan)s") % {"plan": new_name},
                _("On %(date)s your plan changes to %(plan)s, %(price)s / %(interval)s.")
                % {
                    "date": when,
                    "plan": new_name,
                    "price": _nowrap(scheduled.price_display),
                    "interval": interval_words(scheduled),
                },
                _("Keep %(plan)s") % {"plan": distinct_name(subscription.plan, scheduled)},
            )
        )
    return changes


@dataclass(frozen=True)
class SubscriptionActions:
    change_plan: bool = False
    pause: bool = False
    resume: bool = False
    cancel: bool = False
    cancel_at_period_end: bool = False


def subscription_actions(subscription: Subscription | None) -> SubscriptionActions:
    """Which buttons the subscription card shows (the services still decide)."""
    if subscription is None or not subscription.is_live:
        return SubscriptionActions()
    status = subscription.status
    running = status in (S.ACTIVE, S.TRIALING) and not subscription.cancel_at_period_end
    return SubscriptionActions(
        change_plan=running,
        pause=status == S.ACTIVE and not subscription.cancel_at_period_end,
        resume=status == S.PAUSED,
        cancel=not subscription.cancel_at_period_end,
        cancel_at_period_end=running,
    )


@dataclass(frozen=True)
class UpcomingInvoice:
    amount: str
    date: str
    plan_name: str
    period: str
    note: str = ""


def upcoming_invoice(subscription: Subscription | None) -> UpcomingInvoice | None:
    """The next renewal invoice: its amount, date and plan (the scheduled plan when a
    downgrade takes effect then). ``None`` when nothing renews."""
    from subscriptions.selectors import subscription_upcoming_period

    upcoming = subscription_upcoming_period(subscription) if subscription else None
    if upcoming is None:
        return None
    start, end, plan = upcoming
    note = ""
    if plan.pk != subscription.plan_id:
        note = _("Your switch to %(plan)s takes effect then.") % {"plan": plan.name}
    elif subscription.status == S.TRIALING:
        note = _("Your trial ends then.")
    return UpcomingInvoice(
        amount=format_money(plan.price, plan.currency),
        date=format_date(start),
        plan_name=plan.name,
        period=f"{format_date(start)} – {format_date(end)}",
        note=note,
    )


def no_upcoming_invoice_reason(subscription: Subscription | None) -> str:
    """Why there is no upcoming invoice, in one sentence."""
    if subscription is None:
        return _("Nothing to bill yet.")
    if subscription.status == S.PAUSED:
        return _("Nothing is billed while your subscription is paused.")
    if subscription.status in (S.PENDING, S.PAST_DUE):
        return _("Pay the open invoice to continue your subscription.")
    if subscription.is_live and subscription.cancel_at_period_end:
        return _("No more invoices: your subscription ends on %(date)s.") % {
            "date": format_date(subscription.current_period_end)
        }
    return _("No upcoming invoice.")
