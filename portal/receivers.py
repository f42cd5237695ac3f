"""Billing signals -> banners and emails (connected in ``PortalConfig.ready``).

Each event is a ``Notice`` in the table below: its banner (kind, title, message, level,
link, whether it asks for an action) and its email, with texts written over the
event's facts. ``EVENTS`` says, per signal, how to read those facts from what was sent
(and whether there is anything to say); one receiver, ``announce``, does the rest.

Every receiver runs inside the transaction that made the change (the signals are sent
there): banners are written in it, emails are recorded (and, with the database task
queue, enqueued) in it and sent after it commits (``emails.queue_email``). Each
receiver works in a savepoint and logs its own failure, so a broken banner can never
undo a payment; its cheap condition (``On.when``) is checked before the savepoint, so a
signal it ignores costs no query. The notice's ``key`` names the event: a signal sent
twice (a retried webhook, a second billing run) adds no second banner or email.

What is announced, and why some signals stay silent:

- One receipt per paid invoice, from ``invoice_paid``, which names the payment that
  paid it (``payment=``; read back only when it names none). ``payment_success`` and
  ``subscription_renewed`` add nothing. A top-up is announced by ``topup_completed``,
  not by its payment.
- ``subscription_resumed`` follows ``subscription_activated`` for the same save: the
  activation receiver leaves resumptions to it.
- A payment attempt that is cancelled or expires (the subscriber left the payment page,
  or started a new attempt) is not a failure worth an email; a denied or failed one is.
- Money going back: ``payment_refunded`` (a refund completed: how much, where it went,
  why) and ``payment_overpaid`` (money arrived for an invoice no longer payable and is
  being returned). The wallet's own credit or debit for a refund (a refund to the
  wallet, a refunded top-up taken back) says nothing more, not even "balance low".
- Noise: ``payment_created``, ``invoice_created`` for a draft or a zero total,
  ``webhook_*``, ``wallet_credited`` for a top-up or a refund.
- Banners that ask for a payment stop asking when their invoice is paid (any way) or
  voided, or when a newer banner asks for it instead.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_noop

from subscriptions.models import Invoice, InvoiceStatus, PaymentStatus
from subscriptions.money import format_money
from wallets.app_settings import app_settings as wallet_settings
from wallets.models import TransactionKind

from . import links
from .emails import queue_email
from .models import NotificationLevel as Level
from .notifications import VIEW_INVOICE, notify, resolve_banners, resolve_invoice_banners
from .refunds import DESTINATION_MSGIDS, HEADLINES, describe_refund
from .texts import phrase

logger = logging.getLogger(__name__)


def guarded(func=None, *, when=None):
    """Run a receiver in a savepoint; log (never raise) what goes wrong inside it.

    ``when(instance, **kwargs)``: the receiver's cheap condition (no query), checked
    before the savepoint is opened, so that a signal the receiver ignores (most wallet
    debits, a draft invoice) costs no SAVEPOINT/RELEASE round trips.
    """

    def decorate(func):
        @functools.wraps(func)
        def wrapper(sender, instance, **kwargs):
            try:
                if when is not None and not when(instance, **kwargs):
                    return
                with transaction.atomic():
                    func(sender, instance, **kwargs)
            except Exception:
                logger.exception("%s failed for %r", func.__name__, instance)

        return wrapper

    return decorate(func) if func is not None else decorate


# --- What each event says ---------------------------------------------------------------------


class _Keys(string.Formatter):
    """``str.format`` plus ``{x!k}``, a timestamp as an event key writes it."""

    def convert_field(self, value, conversion):
        if conversion == "k":
            return value.isoformat() if value is not None else "none"
        return super().convert_field(value, conversion)


KEYS = _Keys()
# Banner texts are msgids, said in the reader's language when shown (portal/texts.py):
# {name} is a parameter (``banner_params``), {name!d} a date.


@dataclass(frozen=True)
class Banner:
    """The banner of an event (a ``Notification``); ``title``, ``message`` and
    ``label`` are msgids over the event's parameters."""

    kind: str
    title: str
    message: str = ""
    level: str = Level.INFO
    page: Callable[[], str] | None = None  # the link; None: the invoice's page, if any
    label: str = ""  # the link's label; for a banner that asks, the action asked for
    asks: bool = False  # the banner asks the reader to act (pay, top up)


@dataclass(frozen=True)
class Notice:
    """What one kind of event tells the subscriber: a banner, an email, or both."""

    key: str  # a template of the event's name: one banner and one email per key and user
    banner: Banner | None = None
    email: str = ""  # SentEmail.kind ("": a banner only)
    email_params: tuple[str, ...] = ()  # the facts the email is about
    # An asking banner about an invoice that replaces the invoice's earlier ones.
    supersedes: bool = False


@dataclass
class Said:
    """What one signal said: the notice (None: nothing new to tell), its facts (the
    objects, for the key and the email) and the banner's extra parameters."""

    notice: Notice | None
    user_id: int
    facts: dict[str, Any] = field(default_factory=dict)
    invoice: Invoice | None = None
    clears: tuple[str, ...] = ()  # the user's banners of these kinds no longer hold
    settles: bool = False  # the invoice asks for nothing any more (paid or void)
    params: dict[str, Any] = field(default_factory=dict)


def varied(notice: Notice, **changes) -> Notice:
    """The same notice with its banner changed."""
    return dataclasses.replace(notice, banner=dataclasses.replace(notice.banner, **changes))


SUB = ("subscription",)
PAY_NOW = gettext_noop("Pay now")
TO_WALLET = {"page": links.wallet_path, "label": gettext_noop("View wallet")}
ANY_TIME = gettext_noop("You can subscribe again at any time.")

# fmt: off
WELCOME = Notice(
    "subscription_started:{subscription.pk}:{subscription.current_period_start!k}",
    Banner("subscription_started", gettext_noop("Welcome to {plan}"),
           gettext_noop("Your subscription is active. It renews on {renews_on!d}."),
           Level.SUCCESS, links.dashboard_path, gettext_noop("View your subscription")),
    "subscription_started", SUB)
WELCOME_TO_TRIAL = varied(
    WELCOME, title=gettext_noop("Your {plan} trial has started"),
    message=gettext_noop("It is free until {trial_end!d}; we will remind you before it ends."))
RESUMED = Notice(
    "subscription_resumed:{subscription.pk}:{subscription.updated_at!k}",
    Banner("subscription_resumed", gettext_noop("Your subscription has resumed"),
           gettext_noop("{plan} is active again and renews on {renews_on!d}."),
           Level.SUCCESS),
    "subscription_resumed", SUB)
PAUSED = Notice(
    "subscription_paused:{subscription.pk}:{subscription.paused_at!k}",
    Banner("subscription_paused", gettext_noop("Your {plan} subscription is paused"),
           gettext_noop("It stays paused until you resume it. You are not billed while it is paused."),
           page=links.subscription_path, label=gettext_noop("Manage subscription")),
    "subscription_paused", SUB)
PAUSED_UNTIL = varied(
    PAUSED,
    message=gettext_noop("It resumes by itself on {resume_on!d}. You are not billed while it is paused."))
CANCEL_SCHEDULED = Notice(
    "subscription_cancel_scheduled:{subscription.pk}:{subscription.updated_at!k}",
    Banner("subscription_cancel_scheduled", gettext_noop("Your subscription ends on {cancel_at!d}"),
           gettext_noop("You keep {plan} until then. Changed your mind? You can keep it until that day."),
           Level.WARNING, links.subscription_path, gettext_noop("Keep my subscription")),
    "subscription_cancel_scheduled", ("subscription", "cancel_at", "reason"))
ENDED = Notice(
    "subscription_ended:{subscription.pk}:{ended_at!k}",
    Banner("subscription_ended", gettext_noop("Your {plan} subscription has ended"),
           gettext_noop("Nothing more will be charged. You can subscribe again at any time."),
           page=links.plans_path, label=gettext_noop("See plans")),
    "subscription_ended", SUB)
EXPIRED = Notice(
    "subscription_expired:{subscription.pk}:{subscription.ended_at!k}",
    Banner("subscription_expired", gettext_noop("Your {plan} subscription has expired"), ANY_TIME,
           Level.WARNING, links.plans_path, gettext_noop("Subscribe again")),
    "subscription_expired", ("subscription", "previous_status"))
# Why it expired, by the status it expired from.
EXPIRED_BECAUSE = {
    "pending": gettext_noop("The first invoice was not paid, so the subscription did not start. "
                  "You can subscribe again at any time."),
    "past_due": gettext_noop("The renewal invoice stayed unpaid past the grace period. "
                   "You can subscribe again at any time."),
    "trialing": gettext_noop("The trial ended without a payment. You can subscribe again at any time."),
}
PLAN_CHANGED = Notice(
    "plan_changed:{subscription.pk}:{old_plan_id}-{new_plan.pk}:{subscription.updated_at!k}",
    Banner("plan_changed", gettext_noop("You are now on {new_plan}"), gettext_noop("Changed from {old_plan}."),
           Level.SUCCESS, links.dashboard_path, gettext_noop("View your subscription")),
    "plan_changed", ("subscription", "old_plan", "new_plan"))
TRIAL_ENDING = Notice(
    "trial_ending:{subscription.pk}:{trial_end!k}",
    Banner("trial_ending", gettext_noop("Your trial ends on {trial_end!d}"),
           gettext_noop("Then {plan} costs {cost}."),
           page=links.subscription_path, label=gettext_noop("Manage subscription")),
    "trial_ending", ("subscription", "trial_end"))
# A plan's price for its period ({cost}), by the period's unit.
PRICE_PER = {
    "day": gettext_noop("{price} per day"), "week": gettext_noop("{price} per week"),
    "month": gettext_noop("{price} per month"), "year": gettext_noop("{price} per year"),
}
PRICE_EVERY = {
    "day": gettext_noop("{price} every {count} days"), "week": gettext_noop("{price} every {count} weeks"),
    "month": gettext_noop("{price} every {count} months"), "year": gettext_noop("{price} every {count} years"),
}
# An email only: the dashboard already says when the subscription renews.
RENEWAL_UPCOMING = Notice(
    "renewal_upcoming:{subscription.pk}:{renews_at!k}", None,
    "renewal_upcoming", ("subscription", "renews_at", "plan", "amount"))

TOPUP_FAILED = Notice(
    "payment_failed:{payment.pk}",
    Banner("topup_failed", gettext_noop("Your top-up of {amount} did not go through"),
           gettext_noop("No money was taken. You can try again with another payment method."),
           Level.WARNING, links.wallet_path, gettext_noop("Top up")))
# It says more than the invoice's earlier banner, which stops asking.
PAYMENT_FAILED = Notice(
    "payment_failed:{payment.pk}",
    Banner("payment_failed", gettext_noop("Payment failed for {number}"),
           gettext_noop("{amount} could not be charged ({status})."),
           Level.ERROR, label=PAY_NOW, asks=True),
    "payment_failed", ("payment",), supersedes=True)
FAILED_BECAUSE = {PaymentStatus.DENY: gettext_noop("denied"), PaymentStatus.FAILURE: gettext_noop("failed")}
REFUNDED = Notice(
    "payment_refunded:{payment.pk}:{payment.refunded_amount}",
    Banner("payment_refunded", HEADLINES[""],
           gettext_noop("A refund for invoice {number}. {because}"), label=VIEW_INVOICE),
    "payment_refunded", ("payment", "refund", "refund_amount"))
OVERPAYMENT_RETURNED = varied(
    REFUNDED, message=gettext_noop("This is the return of the overpayment for invoice {number}. {because}"))
TOPUP_REFUNDED = varied(
    REFUNDED, **TO_WALLET,
    message=gettext_noop("Your top-up (order {order}) was refunded: {taken} was taken from your wallet. {because}"))
BECAUSE = gettext_noop("Reason: {reason}.")
OVERPAID = Notice(
    "payment_overpaid:{payment.pk}",
    Banner("payment_overpaid", gettext_noop("{amount} arrived for invoice {number} which was already paid"),
           gettext_noop("We are returning it to {to}."), Level.WARNING, label=VIEW_INVOICE),
    "payment_overpaid", ("payment", "amount", "return_to"))
OVERPAID_VOID = varied(OVERPAID, title=gettext_noop("{amount} arrived for invoice {number} which was void"))

INVOICE_ISSUED = Notice(
    "invoice_issued:{invoice.pk}",
    Banner("invoice_issued", gettext_noop("New invoice {number}"), gettext_noop("{total}, due on {due!d}."),
           Level.WARNING, label=PAY_NOW, asks=True),
    "invoice_issued")
RECEIPT = Notice(
    "invoice_paid:{invoice.pk}",
    Banner("payment_received", gettext_noop("Invoice {number} is paid"),
           gettext_noop("We received {total}. Thank you!"), Level.SUCCESS, label=VIEW_INVOICE),
    "payment_receipt", ("payment",))
# One "pay now" banner per invoice at a time: the invoice's earlier ones stop asking.
OVERDUE = Notice(
    "invoice_overdue:{invoice.pk}",
    Banner("invoice_overdue", gettext_noop("Invoice {number} is overdue"), gettext_noop("{total} was due on {due!d}."),
           Level.ERROR, label=PAY_NOW, asks=True),
    "invoice_overdue", supersedes=True)
REMINDER = dataclasses.replace(
    varied(OVERDUE, title=gettext_noop("Reminder: invoice {number} is still unpaid")),
    key="invoice_reminder:{invoice.pk}:{reminder_number}", email_params=("reminder_number", "days_overdue"))
VOIDED = Notice(
    "invoice_voided:{invoice.pk}",
    Banner("invoice_voided", gettext_noop("Invoice {number} was voided"), gettext_noop("You owe nothing on it."),
           label=VIEW_INVOICE),
    "invoice_voided")
VOIDED_BECAUSE = varied(VOIDED, title=gettext_noop("Invoice {number} was voided: {reason}"))

TOPUP_COMPLETED = Notice(
    "topup_completed:{topup.pk}",
    Banner("topup_completed", gettext_noop("{amount} added to your wallet"),
           gettext_noop("Your balance is now {balance}."),
           Level.SUCCESS, links.wallet_path, gettext_noop("View wallet")),
    "topup_completed", ("topup", "wallet"))
WALLET_LOW = Notice(
    "wallet_low:{entry.pk}",
    Banner("wallet_low", gettext_noop("Your wallet balance is low"),
           gettext_noop("{left} left. Renewals paid from your wallet need enough balance."),
           Level.WARNING, links.wallet_path, gettext_noop("Top up"), asks=True),
    "wallet_low", ("wallet",))
WALLET_CREDITED = Notice(
    "wallet_credited:{entry.pk}",
    Banner("wallet_credited", gettext_noop("{amount} credited to your wallet"), "{description}",
           page=links.wallet_path, label=gettext_noop("View wallet")))
# fmt: on


def banner_params(facts: dict[str, Any]) -> dict[str, Any]:
    """The parameters every banner text may use, read from the event's objects."""
    params: dict[str, Any] = {}
    sub = facts.get("subscription")
    if sub is not None:
        plan = sub.plan
        params.update(
            plan=plan.name,
            price=plan.price_display,
            renews_on=sub.current_period_end,
            trial_end=sub.trial_end,
            resume_on=sub.resume_at,
        )
        table = PRICE_PER if plan.interval == 1 else PRICE_EVERY
        if plan.interval_unit in table:
            params["cost"] = phrase(
                table[plan.interval_unit], price=plan.price_display, count=plan.interval
            )
    for name in ("old_plan", "new_plan"):
        if facts.get(name) is not None:
            params[name] = facts[name].name
    invoice = facts.get("invoice")
    if invoice is not None:
        params.update(number=invoice.number, total=invoice.total_display, due=invoice.due_date)
    payment = facts.get("payment")
    if payment is not None:
        params.update(amount=payment.amount_display, order=payment.order_id)
    for name in ("topup", "entry"):
        if facts.get(name) is not None:
            params["amount"] = facts[name].amount_display
    if facts.get("entry") is not None:
        params["description"] = facts["entry"].description
    if facts.get("wallet") is not None:
        params["balance"] = facts["wallet"].balance_display
    for name in ("trial_end", "cancel_at"):
        if facts.get(name) is not None:
            params[name] = facts[name]
    return params


# --- Reading each signal ----------------------------------------------------------------------

# Banners about a subscription that stopped; a fresh activation makes them untrue.
STOPPED_KINDS = (
    "subscription_paused",
    "subscription_cancel_scheduled",
    "subscription_ended",
    "subscription_expired",
)
DENIED_PAYMENT_STATUSES = (PaymentStatus.DENY, PaymentStatus.FAILURE)


def about_subscription(notice: Notice, *, clears: tuple[str, ...] = (), **defaults):
    """The reader of a signal whose notice needs only the subscription and the kwargs."""

    def read(sub, **kwargs) -> Said:
        facts = {**defaults, **kwargs, "subscription": sub}
        return Said(notice, sub.user_id, facts, clears=clears)

    return read


def about_invoice(notice: Notice):
    def read(invoice, **kwargs) -> Said:
        return Said(notice, invoice.user_id, {**kwargs, "invoice": invoice}, invoice=invoice)

    return read


def _welcome(sub, **kwargs) -> Said:
    notice = WELCOME_TO_TRIAL if sub.status == "trialing" else WELCOME
    return Said(notice, sub.user_id, {"subscription": sub})


def _activated(sub, previous_status=None, **kwargs) -> Said:
    said = _welcome(sub)
    said.clears = STOPPED_KINDS
    # From paused: subscription_resumed follows. From trialing or past_due: the receipt
    # of the invoice that did it says enough.
    if previous_status not in (None, "pending"):
        said.notice = None
    return said


def _paused(sub, **kwargs) -> Said:
    return Said(PAUSED_UNTIL if sub.resume_at else PAUSED, sub.user_id, {"subscription": sub})


def _cancelled(sub, **kwargs) -> Said:
    facts = {"subscription": sub, "ended_at": sub.cancelled_at or sub.ended_at}
    return Said(ENDED, sub.user_id, facts, clears=("subscription_cancel_scheduled",))


def _expired(sub, previous_status=None, **kwargs) -> Said:
    facts = {"subscription": sub, "previous_status": previous_status}
    notice = varied(EXPIRED, message=EXPIRED_BECAUSE.get(previous_status or "", ANY_TIME))
    return Said(notice, sub.user_id, facts)


def _plan_changed(sub, old_plan=None, new_plan=None, **kwargs) -> Said:
    facts = {
        "subscription": sub,
        "old_plan": old_plan,
        "old_plan_id": getattr(old_plan, "pk", ""),
        "new_plan": new_plan or sub.plan,
    }
    notice = PLAN_CHANGED if old_plan is not None else varied(PLAN_CHANGED, message="")
    return Said(notice, sub.user_id, facts)


def _trial_will_end(sub, trial_end=None, **kwargs) -> Said:
    facts = {"subscription": sub, "trial_end": trial_end or sub.trial_end}
    return Said(TRIAL_ENDING, sub.user_id, facts)


def _renewal_upcoming(sub, renews_at=None, plan=None, amount=None, **kwargs) -> Said:
    facts = {
        "subscription": sub,
        "renews_at": renews_at or sub.current_period_end,
        "plan": plan,
        "amount": amount,
    }
    return Said(RENEWAL_UPCOMING, sub.user_id, facts)


def _is_trialing(instance, **kwargs) -> bool:
    return instance.status == "trialing"


def _is_denied(instance, **kwargs) -> bool:
    return instance.status in DENIED_PAYMENT_STATUSES


def _payment_failed(payment, **kwargs) -> Said | None:
    invoice = payment.invoice
    if invoice is None:
        return Said(TOPUP_FAILED, payment.user_id, {"payment": payment})
    if not invoice.is_payable:
        return None
    facts = {"payment": payment, "invoice": invoice}
    status = phrase(FAILED_BECAUSE.get(payment.status, FAILED_BECAUSE[PaymentStatus.FAILURE]))
    return Said(PAYMENT_FAILED, payment.user_id, facts, invoice=invoice, params={"status": status})


def _because(reason: str) -> Any:
    return phrase(BECAUSE, reason=reason) if reason else ""


def _refunded(payment, refund=None, refund_amount=None, **kwargs) -> Said:
    refunded = describe_refund(payment, refund, refund_amount)
    if refunded.topup:
        notice = TOPUP_REFUNDED
    else:
        notice = OVERPAYMENT_RETURNED if refunded.overpayment else REFUNDED
        if refunded.to_wallet:
            notice = varied(notice, **TO_WALLET)
    notice = varied(notice, title=HEADLINES[refunded.destination])
    invoice = payment.invoice if payment.invoice_id else None
    facts = {
        "payment": payment,
        "invoice": invoice,
        "refund": refund,
        "refund_amount": refund_amount,
    }
    params = {
        "amount": refunded.amount,
        "taken": refunded.taken,
        "because": _because(refunded.reason),
    }
    return Said(notice, payment.user_id, facts, invoice=invoice, params=params)


def _overpaid(payment, invoice=None, amount=None, return_to="gateway", **kwargs) -> Said:
    invoice = invoice or payment.invoice
    amount = amount or payment.gross_amount
    facts = {"payment": payment, "invoice": invoice, "amount": amount, "return_to": return_to}
    notice = OVERPAID_VOID if invoice.status == InvoiceStatus.VOID else OVERPAID
    to = DESTINATION_MSGIDS.get(return_to, DESTINATION_MSGIDS["gateway"])
    params = {"amount": format_money(amount, payment.currency), "to": phrase(to)}
    return Said(notice, payment.user_id, facts, invoice=invoice, params=params)


def _asks_for_payment(instance, **kwargs) -> bool:
    """Not a draft, and something to pay (a zero total is paid at once)."""
    return instance.status == InvoiceStatus.OPEN and instance.total > 0


def _paid(invoice, payment=None, **kwargs) -> Said:
    said = Said(None, invoice.user_id, {"invoice": invoice}, invoice=invoice, settles=True)
    if invoice.total > 0:
        if payment is None:  # paid without a settlement naming it (offline, by staff)
            payment = invoice.payments.filter(is_paid=True).order_by("-paid_at", "-pk").first()
        said.notice, said.facts["payment"] = RECEIPT, payment
    return said


def _was_issued(instance, previous_status=None, **kwargs) -> bool:
    """A draft voided before it was issued was never shown to anyone."""
    return bool(instance.number) and previous_status != InvoiceStatus.DRAFT


def _voided(invoice, **kwargs) -> Said:
    reason = invoice.void_reason.strip().rstrip(".")
    notice = VOIDED_BECAUSE if reason else VOIDED
    return Said(
        notice,
        invoice.user_id,
        {"invoice": invoice},
        invoice=invoice,
        settles=True,
        params={"reason": reason},
    )


def _topup_completed(topup, **kwargs) -> Said:
    wallet = topup.wallet
    enough = wallet.balance >= wallet_settings.LOW_BALANCE_THRESHOLD
    facts = {"topup": topup, "wallet": wallet}
    return Said(TOPUP_COMPLETED, topup.user_id, facts, clears=("wallet_low",) if enough else ())


def _crosses_low_balance(instance, **kwargs) -> bool:
    """Announce the crossing only, not every debit below the threshold; a refunded
    top-up taken back out of the wallet is announced by its refund."""
    if instance.kind == TransactionKind.RECLAIM:
        return False
    before = instance.balance_after - instance.amount  # amount is negative
    return instance.balance_after < wallet_settings.LOW_BALANCE_THRESHOLD <= before


def _wallet_low(entry, **kwargs) -> Said:
    wallet = entry.wallet
    left = format_money(entry.balance_after, wallet.currency)
    return Said(
        WALLET_LOW, wallet.user_id, {"entry": entry, "wallet": wallet}, params={"left": left}
    )


def _is_manual_credit(instance, **kwargs) -> bool:
    """Top-ups and refunds have their own banners."""
    return instance.kind in (TransactionKind.ADJUSTMENT, TransactionKind.REVERSAL)


def _manual_credit(entry, **kwargs) -> Said:
    enough = entry.balance_after >= wallet_settings.LOW_BALANCE_THRESHOLD
    return Said(
        WALLET_CREDITED,
        entry.wallet.user_id,
        {"entry": entry},
        clears=("wallet_low",) if enough else (),
    )


def _about(facts: dict[str, Any]) -> str:
    """What a banner is about: a newer one of its kind about the same thing replaces it."""
    if facts.get("invoice") is not None:
        return f"invoice:{facts['invoice'].pk}"
    if facts.get("subscription") is not None:
        return f"subscription:{facts['subscription'].pk}"
    for name in ("wallet", "topup", "entry"):
        if facts.get(name) is not None:
            wallet_id = facts["wallet"].pk if name == "wallet" else facts[name].wallet_id
            return f"wallet:{wallet_id}"
    if facts.get("payment") is not None:
        return f"payment:{facts['payment'].pk}"
    return ""


# --- The one receiver -------------------------------------------------------------------------


def announce(said: Said) -> None:
    """Clear what no longer holds, then show the banner and queue the email once."""
    if said.clears:
        resolve_banners(said.user_id, said.clears)
    if said.settles:
        resolve_invoice_banners(said.invoice.pk)
    notice = said.notice
    if notice is None:
        return
    key = KEYS.format(notice.key, **said.facts)
    if notice.supersedes:
        resolve_invoice_banners(said.invoice.pk, keep_key=key)
    banner = notice.banner
    if banner is not None:
        notify(
            user_id=said.user_id,
            kind=banner.kind,
            key=key,
            title=banner.title,
            message=banner.message,
            params={**banner_params(said.facts), **said.params},
            level=banner.level,
            link=banner.page() if banner.page is not None else "",
            link_label=banner.label,
            invoice=said.invoice,
            about=_about(said.facts),
            needs_action=banner.asks,
        )
    if notice.email:
        params = {name: said.facts.get(name) for name in notice.email_params}
        queue_email(
            kind=notice.email, user_id=said.user_id, key=key, invoice=said.invoice, **params
        )


@dataclass(frozen=True)
class On:
    """How the receiver of one signal reads it: ``read(instance, **kwargs)`` returns
    what it said (None: nothing); ``when`` is its cheap condition (no query)."""

    read: Callable[..., Said | None]
    when: Callable[..., bool] | None = None


EVENTS: dict[str, On] = {
    "subscription_created": On(_welcome, when=_is_trialing),
    "subscription_activated": On(_activated),
    "subscription_resumed": On(about_subscription(RESUMED)),
    "subscription_paused": On(_paused),
    "subscription_cancel_scheduled": On(
        about_subscription(CANCEL_SCHEDULED, cancel_at=None, reason="")
    ),
    "subscription_cancel_undone": On(
        about_subscription(None, clears=("subscription_cancel_scheduled",))
    ),
    "subscription_cancelled": On(_cancelled),
    "subscription_expired": On(_expired),
    "subscription_plan_changed": On(_plan_changed),
    "subscription_trial_will_end": On(_trial_will_end),
    "subscription_renewal_upcoming": On(_renewal_upcoming),
    "payment_failed": On(_payment_failed, when=_is_denied),
    "payment_refunded": On(_refunded),
    "payment_overpaid": On(_overpaid),
    "invoice_issued": On(about_invoice(INVOICE_ISSUED), when=_asks_for_payment),
    "invoice_paid": On(_paid),
    "invoice_overdue": On(about_invoice(OVERDUE)),
    "invoice_payment_reminder": On(about_invoice(REMINDER)),
    "invoice_voided": On(_voided, when=_was_issued),
    "topup_completed": On(_topup_completed),
    "wallet_debited": On(_wallet_low, when=_crosses_low_balance),
    "wallet_credited": On(_manual_credit, when=_is_manual_credit),
}


def receiver_for(signal_name: str, on: On):
    def receive(sender, instance, **kwargs):
        said = on.read(instance, **kwargs)
        if said is not None:
            announce(said)

    receive.__name__ = receive.__qualname__ = f"on_{signal_name}"
    return guarded(receive, when=on.when)


# signal name (in subscriptions.signals) -> receiver; PortalConfig.ready() connects them.
RECEIVERS = {name: receiver_for(name, on) for name, on in EVENTS.items()}
