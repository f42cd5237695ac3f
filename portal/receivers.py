"""Billing signals -> banners and emails (connected in ``PortalConfig.ready``).

Every receiver runs inside the transaction that made the change (the signals are sent
there): banners are written in it, emails are recorded (and, with the database task
queue, enqueued) in it and sent after it commits (``emails.queue_email``). Each
receiver works in a savepoint and logs its own failure, so a broken banner can never
undo a payment; a receiver's cheap condition (``guarded(when=...)``) is checked before
the savepoint, so a signal it ignores costs no query.

What is announced, and why some signals stay silent:

- One receipt per paid invoice: ``invoice_paid`` sends it; ``payment_success`` (sent
  just before, by the payment's save) only hands it the payment, and
  ``subscription_renewed`` adds nothing. A top-up is announced by
  ``topup_completed``, not by its payment.
- ``subscription_resumed`` follows ``subscription_activated`` for the same save: the
  activation receiver leaves resumptions to it.
- A payment attempt that is cancelled or expires (the subscriber left the payment page,
  or started a new attempt) is not a failure worth an email; a denied or failed one is.
- Noise: ``payment_created``, ``invoice_created`` for a draft or a zero total,
  ``webhook_*``, ``wallet_credited`` for a top-up (``topup_completed`` says it).
- Banners that ask for a payment are dismissed when their invoice is paid or voided.
"""

from __future__ import annotations

import functools
import logging
import threading

from django.db import transaction

from subscriptions.models import InvoiceStatus, PaymentStatus
from subscriptions.money import format_money
from wallets.app_settings import app_settings as wallet_settings
from wallets.models import TransactionKind

from . import links
from .emails import queue_email
from .models import NotificationLevel as Level
from .notifications import notify, resolve_banners, resolve_invoice_banners
from .presenters import format_date

logger = logging.getLogger(__name__)

DENIED_PAYMENT_STATUSES = (PaymentStatus.DENY, PaymentStatus.FAILURE)
# Banners about a subscription that stopped; a fresh activation makes them untrue.
STOPPED_KINDS = (
    "subscription_paused",
    "subscription_cancel_scheduled",
    "subscription_ended",
    "subscription_expired",
)


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


def _at(value) -> str:
    return value.isoformat() if value is not None else "none"


# --- Subscription lifecycle -----------------------------------------------------------------


def _welcome(sub) -> None:
    key = f"subscription_started:{sub.pk}:{_at(sub.current_period_start)}"
    if sub.status == "trialing":
        title = f"Your {sub.plan.name} trial has started"
        message = (
            f"It is free until {format_date(sub.trial_end)}; we will remind you before it ends."
        )
    else:
        title = f"Welcome to {sub.plan.name}"
        message = (
            f"Your subscription is active. It renews on {format_date(sub.current_period_end)}."
        )
    notify(
        user_id=sub.user_id,
        kind="subscription_started",
        key=key,
        title=title,
        message=message,
        level=Level.SUCCESS,
        link=links.dashboard_path(),
        link_label="View your subscription",
    )
    queue_email(kind="subscription_started", user_id=sub.user_id, key=key, subscription=sub)


def _is_trialing(instance, **kwargs) -> bool:
    return instance.status == "trialing"


@guarded(when=_is_trialing)
def on_subscription_created(sender, instance, **kwargs):
    _welcome(instance)


@guarded
def on_subscription_activated(sender, instance, previous_status=None, **kwargs):
    resolve_banners(instance.user_id, STOPPED_KINDS)
    # From paused: subscription_resumed follows. From trialing or past_due: the receipt
    # of the invoice that did it says enough.
    if previous_status in (None, "pending"):
        _welcome(instance)


@guarded
def on_subscription_resumed(sender, instance, **kwargs):
    key = f"subscription_resumed:{instance.pk}:{_at(instance.updated_at)}"
    notify(
        user_id=instance.user_id,
        kind="subscription_resumed",
        key=key,
        title="Your subscription has resumed",
        message=f"{instance.plan.name} is active again and renews on {format_date(instance.current_period_end)}.",
        level=Level.SUCCESS,
    )
    queue_email(
        kind="subscription_resumed", user_id=instance.user_id, key=key, subscription=instance
    )


@guarded
def on_subscription_paused(sender, instance, **kwargs):
    key = f"subscription_paused:{instance.pk}:{_at(instance.paused_at)}"
    until = (
        f"It resumes by itself on {format_date(instance.resume_at)}."
        if instance.resume_at
        else "It stays paused until you resume it."
    )
    notify(
        user_id=instance.user_id,
        kind="subscription_paused",
        key=key,
        title=f"Your {instance.plan.name} subscription is paused",
        message=f"{until} You are not billed while it is paused.",
        link=links.subscription_path(),
        link_label="Manage subscription",
    )
    queue_email(
        kind="subscription_paused", user_id=instance.user_id, key=key, subscription=instance
    )


@guarded
def on_subscription_cancel_scheduled(sender, instance, cancel_at=None, reason="", **kwargs):
    key = f"subscription_cancel_scheduled:{instance.pk}:{_at(instance.updated_at)}"
    notify(
        user_id=instance.user_id,
        kind="subscription_cancel_scheduled",
        key=key,
        title=f"Your subscription ends on {format_date(cancel_at)}",
        message=f"You keep {instance.plan.name} until then. Changed your mind? You can keep it until that day.",
        level=Level.WARNING,
        link=links.subscription_path(),
        link_label="Keep my subscription",
    )
    queue_email(
        kind="subscription_cancel_scheduled",
        user_id=instance.user_id,
        key=key,
        subscription=instance,
        cancel_at=cancel_at,
        reason=reason,
    )


@guarded
def on_subscription_cancel_undone(sender, instance, **kwargs):
    resolve_banners(instance.user_id, ("subscription_cancel_scheduled",))


@guarded
def on_subscription_cancelled(sender, instance, **kwargs):
    resolve_banners(instance.user_id, ("subscription_cancel_scheduled",))
    key = f"subscription_ended:{instance.pk}:{_at(instance.cancelled_at or instance.ended_at)}"
    notify(
        user_id=instance.user_id,
        kind="subscription_ended",
        key=key,
        title=f"Your {instance.plan.name} subscription has ended",
        message="Nothing more will be charged. You can subscribe again at any time.",
        link=links.plans_path(),
        link_label="See plans",
    )
    queue_email(kind="subscription_ended", user_id=instance.user_id, key=key, subscription=instance)


EXPIRY_REASONS = {
    "pending": "The first invoice was not paid, so the subscription did not start.",
    "past_due": "The renewal invoice stayed unpaid past the grace period.",
    "trialing": "The trial ended without a payment.",
}


@guarded
def on_subscription_expired(sender, instance, previous_status=None, **kwargs):
    key = f"subscription_expired:{instance.pk}:{_at(instance.ended_at)}"
    notify(
        user_id=instance.user_id,
        kind="subscription_expired",
        key=key,
        title=f"Your {instance.plan.name} subscription has expired",
        message=EXPIRY_REASONS.get(previous_status or "", "")
        + " You can subscribe again at any time.",
        level=Level.WARNING,
        link=links.plans_path(),
        link_label="Subscribe again",
    )
    queue_email(
        kind="subscription_expired",
        user_id=instance.user_id,
        key=key,
        subscription=instance,
        previous_status=previous_status,
    )


@guarded
def on_subscription_plan_changed(sender, instance, old_plan=None, new_plan=None, **kwargs):
    new_plan = new_plan or instance.plan
    key = f"plan_changed:{instance.pk}:{getattr(old_plan, 'pk', '')}-{new_plan.pk}:{_at(instance.updated_at)}"
    notify(
        user_id=instance.user_id,
        kind="plan_changed",
        key=key,
        title=f"You are now on {new_plan.name}",
        message=f"Changed from {old_plan.name}." if old_plan is not None else "",
        level=Level.SUCCESS,
        link=links.dashboard_path(),
        link_label="View your subscription",
    )
    queue_email(
        kind="plan_changed",
        user_id=instance.user_id,
        key=key,
        subscription=instance,
        old_plan=old_plan,
        new_plan=new_plan,
    )


@guarded
def on_subscription_trial_will_end(sender, instance, trial_end=None, **kwargs):
    trial_end = trial_end or instance.trial_end
    key = f"trial_ending:{instance.pk}:{_at(trial_end)}"
    notify(
        user_id=instance.user_id,
        kind="trial_ending",
        key=key,
        title=f"Your trial ends on {format_date(trial_end)}",
        message=f"Then {instance.plan.name} costs {instance.plan.price_display} per {instance.plan.interval_display}.",
        link=links.subscription_path(),
        link_label="Manage subscription",
    )
    queue_email(
        kind="trial_ending",
        user_id=instance.user_id,
        key=key,
        subscription=instance,
        trial_end=trial_end,
    )


@guarded
def on_subscription_renewal_upcoming(
    sender, instance, renews_at=None, plan=None, amount=None, **kwargs
):
    # An email only: the dashboard already says when the subscription renews.
    renews_at = renews_at or instance.current_period_end
    queue_email(
        kind="renewal_upcoming",
        user_id=instance.user_id,
        key=f"renewal_upcoming:{instance.pk}:{_at(renews_at)}",
        subscription=instance,
        renews_at=renews_at,
        plan=plan,
        amount=amount,
    )


# --- Payments -----------------------------------------------------------------------------


def _is_denied(instance, **kwargs) -> bool:
    return instance.status in DENIED_PAYMENT_STATUSES


@guarded(when=_is_denied)
def on_payment_failed(sender, instance, **kwargs):
    key = f"payment_failed:{instance.pk}"
    invoice = instance.invoice
    if invoice is None:
        notify(
            user_id=instance.user_id,
            kind="topup_failed",
            key=key,
            title=f"Your top-up of {instance.amount_display} did not go through",
            message="No money was taken. You can try again with another payment method.",
            level=Level.WARNING,
            link=links.wallet_path(),
            link_label="Top up",
        )
        return
    if not invoice.is_payable:
        return
    resolve_invoice_banners(invoice.pk, keep_key=key)  # this one says more
    notify(
        user_id=instance.user_id,
        kind="payment_failed",
        key=key,
        title=f"Payment failed for {invoice.number}: pay now",
        message=f"{instance.amount_display} could not be charged ({instance.get_status_display().lower()}).",
        level=Level.ERROR,
        invoice=invoice,
        needs_action=True,
        link_label="Pay now",
    )
    queue_email(
        kind="payment_failed", user_id=instance.user_id, key=key, invoice=invoice, payment=instance
    )


@guarded
def on_payment_refunded(sender, instance, refund_amount=None, **kwargs):
    amount = format_money(refund_amount or instance.refunded_amount, instance.currency)
    about = (
        f"invoice {instance.invoice.number}"
        if instance.invoice_id
        else f"order {instance.order_id}"
    )
    notify(
        user_id=instance.user_id,
        kind="payment_refunded",
        key=f"payment_refunded:{instance.pk}:{instance.refunded_amount}",
        title=f"{amount} refunded",
        message=f"A refund for {about}.",
        invoice=instance.invoice,
    )


# --- Invoices -----------------------------------------------------------------------------


def _asks_for_payment(instance, **kwargs) -> bool:
    """Not a draft, and something to pay (a zero total is paid at once)."""
    return instance.status == InvoiceStatus.OPEN and instance.total > 0


@guarded(when=_asks_for_payment)
def on_invoice_issued(sender, instance, **kwargs):
    key = f"invoice_issued:{instance.pk}"
    notify(
        user_id=instance.user_id,
        kind="invoice_issued",
        key=key,
        title=f"New invoice {instance.number}: pay now",
        message=f"{instance.total_display}, due on {format_date(instance.due_date)}.",
        level=Level.WARNING,
        invoice=instance,
        needs_action=True,
        link_label="Pay now",
    )
    queue_email(kind="invoice_issued", user_id=instance.user_id, key=key, invoice=instance)


@guarded
def on_invoice_paid(sender, instance, **kwargs):
    resolve_invoice_banners(instance.pk)
    if instance.total <= 0:
        return
    key = f"invoice_paid:{instance.pk}"
    notify(
        user_id=instance.user_id,
        kind="payment_received",
        key=key,
        title=f"Invoice {instance.number} is paid",
        message=f"We received {instance.total_display}. Thank you!",
        level=Level.SUCCESS,
        invoice=instance,
        link_label="View invoice",
    )
    payment = _receipt_payment(instance)
    queue_email(
        kind="payment_receipt", user_id=instance.user_id, key=key, invoice=instance, payment=payment
    )


# The payment whose ``payment_success`` this thread saw last: settling a payment pays its
# invoice right after, in the same transaction, so ``invoice_paid`` finds the receipt's
# payment here instead of reading it back.
_just_paid = threading.local()


def on_payment_success(sender, instance, **kwargs):
    """Remember the settled payment for the receipt (no query, nothing to guard)."""
    _just_paid.payment = instance


def _receipt_payment(invoice):
    """The payment that paid ``invoice``: the one just settled if it is this invoice's
    and paid it now (same ``paid_at``), else the latest paid one, read."""
    payment = getattr(_just_paid, "payment", None)
    _just_paid.payment = None
    if (
        payment is not None
        and payment.pk is not None
        and payment.invoice_id == invoice.pk
        and payment.is_paid
        and payment.paid_at is not None
        and payment.paid_at == invoice.paid_at
    ):
        return payment
    return invoice.payments.filter(is_paid=True).order_by("-paid_at", "-pk").first()


def _overdue_banner(invoice, key: str, title: str) -> None:
    # One "pay now" banner per invoice at a time (the same event twice keeps its own).
    resolve_invoice_banners(invoice.pk, keep_key=key)
    notify(
        user_id=invoice.user_id,
        kind="invoice_overdue",
        key=key,
        title=title,
        message=f"{invoice.total_display} was due on {format_date(invoice.due_date)}.",
        level=Level.ERROR,
        invoice=invoice,
        needs_action=True,
        link_label="Pay now",
    )


@guarded
def on_invoice_overdue(sender, instance, **kwargs):
    key = f"invoice_overdue:{instance.pk}"
    _overdue_banner(instance, key, f"Invoice {instance.number} is overdue: pay now")
    queue_email(kind="invoice_overdue", user_id=instance.user_id, key=key, invoice=instance)


@guarded
def on_invoice_payment_reminder(
    sender, instance, reminder_number=None, days_overdue=None, **kwargs
):
    key = f"invoice_reminder:{instance.pk}:{reminder_number}"
    _overdue_banner(instance, key, f"Reminder: invoice {instance.number} is still unpaid: pay now")
    queue_email(
        kind="invoice_overdue",
        user_id=instance.user_id,
        key=key,
        invoice=instance,
        reminder_number=reminder_number,
        days_overdue=days_overdue,
    )


@guarded
def on_invoice_voided(sender, instance, **kwargs):
    resolve_invoice_banners(instance.pk)


# --- Wallet -------------------------------------------------------------------------------


@guarded
def on_topup_completed(sender, instance, **kwargs):
    wallet = instance.wallet
    if wallet.balance >= wallet_settings.LOW_BALANCE_THRESHOLD:
        resolve_banners(instance.user_id, ("wallet_low",))
    key = f"topup_completed:{instance.pk}"
    notify(
        user_id=instance.user_id,
        kind="topup_completed",
        key=key,
        title=f"{instance.amount_display} added to your wallet",
        message=f"Your balance is now {wallet.balance_display}.",
        level=Level.SUCCESS,
        link=links.wallet_path(),
        link_label="View wallet",
    )
    queue_email(
        kind="topup_completed", user_id=instance.user_id, key=key, topup=instance, wallet=wallet
    )


def _crosses_low_balance(instance, **kwargs) -> bool:
    """Announce the crossing only, not every debit below the threshold."""
    before = instance.balance_after - instance.amount  # amount is negative
    return instance.balance_after < wallet_settings.LOW_BALANCE_THRESHOLD <= before


@guarded(when=_crosses_low_balance)
def on_wallet_debited(sender, instance, **kwargs):
    wallet = instance.wallet
    key = f"wallet_low:{instance.pk}"
    notify(
        user_id=wallet.user_id,
        kind="wallet_low",
        key=key,
        title="Your wallet balance is low: top up",
        message=f"{format_money(instance.balance_after, wallet.currency)} left. "
        "Renewals paid from your wallet need enough balance.",
        level=Level.WARNING,
        needs_action=True,
        link=links.wallet_path(),
        link_label="Top up",
    )
    queue_email(kind="wallet_low", user_id=wallet.user_id, key=key, wallet=wallet)


def _is_manual_credit(instance, **kwargs) -> bool:
    """Top-ups and refunds have their own banners."""
    return instance.kind in (TransactionKind.ADJUSTMENT, TransactionKind.REVERSAL)


@guarded(when=_is_manual_credit)
def on_wallet_credited(sender, instance, **kwargs):
    wallet = instance.wallet
    if instance.balance_after >= wallet_settings.LOW_BALANCE_THRESHOLD:
        resolve_banners(wallet.user_id, ("wallet_low",))
    notify(
        user_id=wallet.user_id,
        kind="wallet_credited",
        key=f"wallet_credited:{instance.pk}",
        title=f"{instance.amount_display} credited to your wallet",
        message=instance.description,
        link=links.wallet_path(),
        link_label="View wallet",
    )


# --- Connection ---------------------------------------------------------------------------

# signal name (in subscriptions.signals) -> receiver; PortalConfig.ready() connects them.
RECEIVERS = {
    "subscription_created": on_subscription_created,
    "subscription_activated": on_subscription_activated,
    "subscription_resumed": on_subscription_resumed,
    "subscription_paused": on_subscription_paused,
    "subscription_cancel_scheduled": on_subscription_cancel_scheduled,
    "subscription_cancel_undone": on_subscription_cancel_undone,
    "subscription_cancelled": on_subscription_cancelled,
    "subscription_expired": on_subscription_expired,
    "subscription_plan_changed": on_subscription_plan_changed,
    "subscription_trial_will_end": on_subscription_trial_will_end,
    "subscription_renewal_upcoming": on_subscription_renewal_upcoming,
    "payment_success": on_payment_success,
    "payment_failed": on_payment_failed,
    "payment_refunded": on_payment_refunded,
    "invoice_issued": on_invoice_issued,
    "invoice_paid": on_invoice_paid,
    "invoice_overdue": on_invoice_overdue,
    "invoice_payment_reminder": on_invoice_payment_reminder,
    "invoice_voided": on_invoice_voided,
    "topup_completed": on_topup_completed,
    "wallet_debited": on_wallet_debited,
    "wallet_credited": on_wallet_credited,
}
