"""The public lifecycle signals of the ``subscriptions`` package.

Every signal here is sent with ``sender`` = the model class and ``instance`` = the
row, plus the extra keyword arguments named above each one; receivers must accept
``**kwargs``. Signals are sent *inside* the transaction that made the change: a
receiver that does I/O (email, HTTP, a task queue) must defer it with
``transaction.on_commit`` so that nothing is sent for a change that rolls back.

Dispatch follows the spec: ``post_save`` handlers registered in this module
compare each tracked field with the value it had when the row was loaded
(``tracking.TrackedModel``), so each signal fires once per real transition:
never for a re-save that changed nothing, and never when ``update_fields`` leaves
the field out. ``subscription_renewed``, ``subscription_plan_changed`` and
``subscription_cancel_scheduled``/``subscription_cancel_undone`` are sent by the
services that do those things;
``subscription_trial_will_end``, ``subscription_renewal_upcoming`` and
``invoice_payment_reminder`` by the billing run (``manage.py run_billing``).
"""

from __future__ import annotations

from django.apps import apps
from django.db.models.signals import post_save, pre_save
from django.dispatch import Signal

from .tracking import MISSING, TrackedModel

# --- Subscription lifecycle -------------------------------------------------------

# A new Subscription row was saved. kwargs: previous_status=None.
subscription_created = Signal()
# status became "active" (from pending, trialing, past_due or paused; also a row
# created as active). kwargs: previous_status.
subscription_activated = Signal()
# status became "cancelled" (cancelled now, or a scheduled cancellation reached the
# period end). kwargs: previous_status.
subscription_cancelled = Signal()
# status became "paused". kwargs: previous_status.
subscription_paused = Signal()
# A paused subscription became active again. Sent right after subscription_activated
# for the same save. kwargs: previous_status="paused".
subscription_resumed = Signal()
# status became "expired" (unpaid past the grace period, abandoned checkout, ended
# trial). kwargs: previous_status.
subscription_expired = Signal()
# The renew service moved the subscription into its next paid period.
# kwargs: period_start, period_end, invoice (the paid renewal invoice or None).
subscription_renewed = Signal()
# The change-plan service switched the plan (an upgrade when paid, a scheduled
# downgrade when it takes effect). kwargs: old_plan, new_plan.
subscription_plan_changed = Signal()
# A cancellation was scheduled for the period end (the subscription stays active until
# then and can be undone). kwargs: cancel_at (the period end), reason.
subscription_cancel_scheduled = Signal()
# A cancellation scheduled for the period end was taken back (the subscription renews
# as before). kwargs: none beyond instance.
subscription_cancel_undone = Signal()
# The billing run: a trial ends in SUBSCRIPTIONS_TRIAL_REMINDER_DAYS (once per trial).
# kwargs: trial_end.
subscription_trial_will_end = Signal()
# The billing run: the subscription renews in SUBSCRIPTIONS_RENEWAL_REMINDER_DAYS (once
# per period). kwargs: renews_at, plan (the plan it renews on), amount.
subscription_renewal_upcoming = Signal()

# --- Payment lifecycle -------------------------------------------------------------

# A new Payment row was saved. kwargs: previous_status=None.
payment_created = Signal()
# is_paid became True (settlement, or capture with fraud_status "accept").
# kwargs: previous_status.
payment_success = Signal()
# status entered deny, cancel, expire or failure. kwargs: previous_status.
payment_failed = Signal()
# refunded_amount grew (status refund or partial_refund). kwargs: previous_status,
# refund_amount (this refund), previous_refunded_amount, and refund: the ``Refund`` row
# that did it (its ``destination`` says where the money went, "gateway" or "wallet";
# its ``kind`` whether staff, an overpayment return or a refund made in the gateway's
# dashboard caused it), or None for a refund recorded without one.
payment_refunded = Signal()
# Money arrived for an invoice that was no longer payable (already paid, or void): a
# superseded attempt the gateway settled anyway. Recorded as ``overpaid_amount`` on the
# payment and returned (``payment_refunded`` follows when the return is done).
# kwargs: invoice, amount, return_to ("gateway" or "wallet": where it is being sent).
payment_overpaid = Signal()

# --- Invoice lifecycle -------------------------------------------------------------

# A new Invoice row was saved. kwargs: previous_status=None.
invoice_created = Signal()
# status became "open": the invoice was issued (created open, or a draft issued later)
# and can be paid; it has its number. kwargs: previous_status (None or "draft").
invoice_issued = Signal()
# status became "paid". kwargs: previous_status, payment (the settled ``Payment`` that
# paid it; None for an invoice with nothing to pay).
invoice_paid = Signal()
# status became "overdue". kwargs: previous_status.
invoice_overdue = Signal()
# status became "void" (its ``void_reason`` says why). kwargs: previous_status.
invoice_voided = Signal()
# The billing run: an overdue invoice is still unpaid (dunning, once per step of
# SUBSCRIPTIONS_DUNNING_DAYS). kwargs: reminder_number, days_overdue.
invoice_payment_reminder = Signal()

# --- Webhook -----------------------------------------------------------------------

# A new WebhookLog row was saved (the raw notification is stored, nothing processed
# yet). kwargs: previous_status=None.
webhook_received = Signal()
# A WebhookLog's status became "processed". kwargs: previous_status.
webhook_processed = Signal()

# --- Wallet (models in the ``wallets`` app; dispatched only when it is installed) ---

# A TopUp's status became "success". kwargs: previous_status.
topup_completed = Signal()
# A WalletTransaction with a positive amount was created.
wallet_credited = Signal()
# A WalletTransaction with a negative amount was created.
wallet_debited = Signal()


# --- Dispatch ----------------------------------------------------------------------

SUBSCRIPTION_STATUS_SIGNALS = {
    "active": subscription_activated,
    "cancelled": subscription_cancelled,
    "paused": subscription_paused,
    "expired": subscription_expired,
}
INVOICE_STATUS_SIGNALS = {
    "paid": invoice_paid,
    "overdue": invoice_overdue,
    "void": invoice_voided,
}
PAYMENT_FAILED_STATUSES = frozenset({"deny", "cancel", "expire", "failure"})


def _previous(old):
    return None if old is MISSING else old


def _snapshot_before_save(sender, instance: TrackedModel, raw=False, **kwargs):
    if not raw:
        instance.fill_snapshot_before_save(adding=instance._state.adding)


def _dispatch_subscription(sender, instance, created, update_fields, raw=False, **kwargs):
    if raw:
        return
    changes = instance.changes(created=created, update_fields=update_fields)
    instance.refresh_snapshot(None if created else update_fields)
    if created:
        subscription_created.send(sender=sender, instance=instance, previous_status=None)
    if "status" in changes:
        old, new = changes["status"]
        signal = SUBSCRIPTION_STATUS_SIGNALS.get(new)
        if signal is not None:
            signal.send(sender=sender, instance=instance, previous_status=_previous(old))
        if new == "active" and old == "paused":
            subscription_resumed.send(sender=sender, instance=instance, previous_status=old)


def _dispatch_payment(sender, instance, created, update_fields, raw=False, **kwargs):
    if raw:
        return
    changes = instance.changes(created=created, update_fields=update_fields)
    instance.refresh_snapshot(None if created else update_fields)
    old_status = changes.get("status", (instance.status, instance.status))[0]
    previous_status = None if created else _previous(old_status)
    if created:
        payment_created.send(sender=sender, instance=instance, previous_status=None)
    if "is_paid" in changes and instance.is_paid and changes["is_paid"][0] is not True:
        payment_success.send(sender=sender, instance=instance, previous_status=previous_status)
    if "status" in changes:
        old, new = changes["status"]
        if new in PAYMENT_FAILED_STATUSES and old not in PAYMENT_FAILED_STATUSES:
            payment_failed.send(sender=sender, instance=instance, previous_status=previous_status)
    if "refunded_amount" in changes:
        old, new = changes["refunded_amount"]
        old_amount = 0 if old in (MISSING, None) else old
        if new is not None and new > old_amount:
            payment_refunded.send(
                sender=sender,
                instance=instance,
                previous_status=previous_status,
                refund_amount=new - old_amount,
                previous_refunded_amount=old_amount,
                refund=instance.__dict__.pop("refund_being_applied", None),
            )


def _dispatch_invoice(sender, instance, created, update_fields, raw=False, **kwargs):
    if raw:
        return
    changes = instance.changes(created=created, update_fields=update_fields)
    instance.refresh_snapshot(None if created else update_fields)
    if created:
        invoice_created.send(sender=sender, instance=instance, previous_status=None)
    if "status" in changes:
        old, new = changes["status"]
        if new == "open" and old in (MISSING, "draft"):
            invoice_issued.send(sender=sender, instance=instance, previous_status=_previous(old))
        if new == "paid":
            # The settlement names the payment that paid it (no receiver has to guess).
            invoice_paid.send(
                sender=sender,
                instance=instance,
                previous_status=_previous(old),
                payment=instance.__dict__.pop("paid_by", None),
            )
            return
        signal = INVOICE_STATUS_SIGNALS.get(new)
        if signal is not None:
            signal.send(sender=sender, instance=instance, previous_status=_previous(old))


def _dispatch_webhook_log(sender, instance, created, update_fields, raw=False, **kwargs):
    if raw:
        return
    changes = instance.changes(created=created, update_fields=update_fields)
    instance.refresh_snapshot(None if created else update_fields)
    if created:
        webhook_received.send(sender=sender, instance=instance, previous_status=None)
    if "status" in changes and changes["status"][1] == "processed":
        webhook_processed.send(
            sender=sender, instance=instance, previous_status=_previous(changes["status"][0])
        )


def _dispatch_topup(sender, instance, created, update_fields, raw=False, **kwargs):
    if raw:
        return
    changes = instance.changes(created=created, update_fields=update_fields)
    instance.refresh_snapshot(None if created else update_fields)
    if "status" in changes and changes["status"][1] == "success":
        topup_completed.send(
            sender=sender, instance=instance, previous_status=_previous(changes["status"][0])
        )


def _dispatch_wallet_transaction(sender, instance, created, raw=False, **kwargs):
    # Ledger rows are append-only: only their creation is an event.
    if raw or not created:
        return
    if instance.amount > 0:
        wallet_credited.send(sender=sender, instance=instance)
    elif instance.amount < 0:
        wallet_debited.send(sender=sender, instance=instance)


_DISPATCHERS = {
    "subscriptions.Subscription": _dispatch_subscription,
    "subscriptions.Payment": _dispatch_payment,
    "subscriptions.Invoice": _dispatch_invoice,
    "subscriptions.WebhookLog": _dispatch_webhook_log,
    "wallets.TopUp": _dispatch_topup,
    "wallets.WalletTransaction": _dispatch_wallet_transaction,
}


def connect_dispatchers() -> None:
    """Connect the post_save dispatchers (called once from ``AppConfig.ready``).

    Wallet models are looked up by label, so this package never imports ``wallets``;
    their dispatchers are connected only when that app and model are installed.
    """
    for label, dispatcher in _DISPATCHERS.items():
        app_label, model_name = label.split(".")
        if not apps.is_installed(app_label):
            continue
        try:
            model = apps.get_model(app_label, model_name)
        except LookupError:
            continue
        if issubclass(model, TrackedModel):
            pre_save.connect(_snapshot_before_save, sender=model, dispatch_uid=f"snapshot:{label}")
        post_save.connect(dispatcher, sender=model, dispatch_uid=f"dispatch:{label}")
