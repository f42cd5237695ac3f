"""Payment services: create a payment attempt, apply a gateway status, record refunds.

``payment_apply_status`` is the one place a gateway status reaches our data,
whether it came from a webhook, a status check or the admin. It follows Midtrans'
transaction status cycle (``transitions.PAYMENT_TRANSITIONS``) and never moves a
payment backwards: a repeated status is a duplicate, an out-of-order one is
stale, and neither changes anything.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from ..app_settings import app_settings
from ..exceptions import AmountMismatch, BillingError, InvoiceNotPayable
from ..models import (
    FAILED_PAYMENT_STATUSES,
    PAYABLE_INVOICE_STATUSES,
    Invoice,
    InvoiceReason,
    Payment,
    PaymentStatus,
    Subscription,
    SubscriptionStatus,
)
from ..money import round_money
from ..transitions import payment_can_move
from .invoices import pay_locked_invoice

logger = logging.getLogger(__name__)
P = PaymentStatus


def new_order_id(prefix: str | None = None) -> str:
    """A fresh order id: letters, digits and dashes, well under Midtrans' 50 characters."""
    prefix = (prefix or app_settings.ORDER_ID_PREFIX)[:36]
    return f"{prefix}-{secrets.token_hex(6)}"


@transaction.atomic
def payment_create(
    *,
    user,
    amount: Decimal,
    currency: str = "IDR",
    invoice: Invoice | None = None,
    subscription: Subscription | None = None,
    payment_type: str = "",
    gateway: str = "",
    order_id: str | None = None,
) -> Payment:
    """A new pending payment attempt with its own order id."""
    return create_payment_in_transaction(
        user=user,
        amount=amount,
        currency=currency,
        invoice=invoice,
        subscription=subscription,
        payment_type=payment_type,
        gateway=gateway,
        order_id=order_id,
    )


def create_payment_in_transaction(
    *,
    user,
    amount: Decimal,
    currency: str = "IDR",
    invoice: Invoice | None = None,
    subscription: Subscription | None = None,
    payment_type: str = "",
    gateway: str = "",
    order_id: str | None = None,
) -> Payment:
    """``payment_create`` without a savepoint of its own, for a service that calls it
    inside its transaction and lets any error roll the whole of it back."""
    amount = round_money(Decimal(amount), currency)
    if amount <= 0:
        raise BillingError("A payment amount must be greater than zero.")
    payment = Payment(
        user=user,
        invoice=invoice,
        order_id=order_id or new_order_id(invoice.number if invoice and invoice.number else None),
        gross_amount=amount,
        currency=currency,
        payment_type=payment_type,
        gateway=gateway,
    )
    if subscription is not None:
        payment.subscription = subscription
    elif invoice is not None:
        payment.subscription_id = invoice.subscription_id  # no query for the row itself
    # The field validators (the order id's Midtrans alphabet and length, choices); the
    # order id's uniqueness and the amount constraints are the database's (its unique
    # index and CHECKs), not three more queries here.
    payment.clean_fields(exclude=["user", "invoice", "subscription"])
    payment.save()
    return payment


@dataclass(frozen=True)
class StatusUpdate:
    outcome: str  # "applied", "duplicate" or "stale"
    payment: Payment

    @property
    def changed(self) -> bool:
        return self.outcome == "applied"


def _is_paid(status: str, fraud_status: str) -> bool:
    if status == P.SETTLEMENT:
        return True
    return status == P.CAPTURE and fraud_status in ("accept", "")


@transaction.atomic
def payment_apply_status(
    *,
    payment: Payment,
    transaction_status: str,
    fraud_status: str = "",
    payment_type: str = "",
    transaction_id: str = "",
    refunded_amount: Decimal | None = None,
    response: dict | None = None,
    now: dt.datetime | None = None,
) -> StatusUpdate:
    """Apply a gateway ``transaction_status`` to a payment, exactly once, forwards only.

    Becoming paid pays the invoice (which activates, renews or changes plan); a
    failure leaves the invoice open and makes a renewing subscription past due.
    """
    return apply_status_locked(
        Payment.objects.select_for_update().get(pk=payment.pk),
        transaction_status=transaction_status,
        fraud_status=fraud_status,
        payment_type=payment_type,
        transaction_id=transaction_id,
        refunded_amount=refunded_amount,
        response=response,
        now=now,
    )


def apply_status_locked(
    payment: Payment,
    *,
    transaction_status: str,
    fraud_status: str = "",
    payment_type: str = "",
    transaction_id: str = "",
    refunded_amount: Decimal | None = None,
    response: dict | None = None,
    now: dt.datetime | None = None,
    locked_invoice: Invoice | None = None,
) -> StatusUpdate:
    """``payment_apply_status`` for a caller that holds the payment's row lock (or
    created the row in its own transaction) and lets any error roll back with it.

    ``locked_invoice``: the payment's invoice, when the caller holds its lock too and
    the instance is current (it is then paid as it is, not read again)."""
    now = now or timezone.now()
    fraud_status = fraud_status or ""
    if transaction_status not in P.values:
        raise BillingError(f"Unknown transaction status {transaction_status!r}.")
    # A capture whose fraud check denied it is a denial (Midtrans' status cycle).
    if transaction_status == P.CAPTURE and fraud_status == "deny":
        transaction_status = P.DENY

    same_status = transaction_status == payment.status
    challenge_decided = (
        same_status and payment.status == P.CAPTURE and payment.fraud_status != fraud_status
    )
    refund_grew = (
        transaction_status in (P.REFUND, P.PARTIAL_REFUND)
        and refunded_amount is not None
        and refunded_amount > payment.refunded_amount
    )
    if same_status and not challenge_decided and not refund_grew:
        return StatusUpdate("duplicate", payment)
    # Money we recorded as collected is given back by a refund, not by a failure status:
    # a cancel or deny arriving for a paid capture is logged and changes nothing.
    reverses_a_paid_payment = payment.is_paid and transaction_status in FAILED_PAYMENT_STATUSES
    if reverses_a_paid_payment or (
        not same_status and not payment_can_move(payment.status, transaction_status)
    ):
        logger.info(
            "Stale status %s for payment %s (now %s) ignored",
            transaction_status,
            payment.order_id,
            payment.status,
        )
        return StatusUpdate("stale", payment)

    was_paid = payment.is_paid
    payment.status = transaction_status
    payment.fraud_status = fraud_status
    if payment_type:
        payment.payment_type = payment_type
    if transaction_id:
        payment.transaction_id = transaction_id
    if response is not None:
        payment.gateway_response = response
    if transaction_status in (P.REFUND, P.PARTIAL_REFUND):
        new_refunded = (
            payment.gross_amount
            if transaction_status == P.REFUND and refunded_amount is None
            else refunded_amount
        )
        if new_refunded is not None:
            if new_refunded > payment.gross_amount:
                raise AmountMismatch("Refunded more than the payment's amount.")
            payment.refunded_amount = max(payment.refunded_amount, new_refunded)
    elif _is_paid(transaction_status, fraud_status) and not was_paid:
        payment.is_paid = True
        payment.paid_at = now
    payment.save()

    if payment.is_paid and not was_paid:
        _settle_invoice(payment, now=now, locked_invoice=locked_invoice)
    elif payment.status in FAILED_PAYMENT_STATUSES:
        _after_failure(payment, now=now)
    return StatusUpdate("applied", payment)


def _settle_invoice(
    payment: Payment, *, now: dt.datetime, locked_invoice: Invoice | None = None
) -> None:
    if payment.invoice_id is None:
        return
    # Locked here, once: checked for payability under the lock, then paid on the same
    # instance (no savepoint to roll back to: nothing is written before the check).
    if locked_invoice is not None and locked_invoice.pk == payment.invoice_id:
        invoice = locked_invoice
    else:
        invoice = Invoice.objects.select_for_update().get(pk=payment.invoice_id)
    if round_money(payment.gross_amount, payment.currency) != round_money(
        invoice.total, invoice.currency
    ):
        raise AmountMismatch(
            f"Payment {payment.order_id} of {payment.gross_amount} does not match invoice "
            f"{invoice} of {invoice.total}."
        )
    if invoice.status not in PAYABLE_INVOICE_STATUSES:
        # Paid twice (two attempts both settled) or paid after a void: keep the money
        # on record for staff to refund; the invoice is not paid a second time.
        logger.warning("Payment %s settled for unpayable invoice %s", payment.order_id, invoice)
        return
    invoice.paid_by = payment
    pay_locked_invoice(invoice, now=now)


def _after_failure(payment: Payment, *, now: dt.datetime) -> None:
    from .subscriptions import subscription_mark_past_due

    invoice = payment.invoice
    subscription = payment.subscription
    if (
        invoice is not None
        and subscription is not None
        and invoice.reason in (InvoiceReason.RENEWAL, InvoiceReason.TRIAL_END)
        and invoice.status != "paid"
    ):
        subscription.refresh_from_db(fields=["status"])
        if subscription.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING):
            subscription_mark_past_due(subscription=subscription, now=now)


@transaction.atomic
def payment_record_refund(
    *, payment: Payment, amount: Decimal, now: dt.datetime | None = None
) -> Payment:
    """Record a refund of ``amount`` (full or partial) on a paid payment."""
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    amount = round_money(Decimal(amount), payment.currency)
    if not payment.is_paid:
        raise BillingError("Only a paid payment can be refunded.")
    if amount <= 0:
        raise BillingError("A refund amount must be greater than zero.")
    if amount > payment.refundable_amount:
        raise AmountMismatch(
            f"At most {payment.refundable_amount} of this payment can still be refunded."
        )
    new_total = payment.refunded_amount + amount
    target = P.REFUND if new_total == payment.gross_amount else P.PARTIAL_REFUND
    if target != payment.status and not payment_can_move(payment.status, target):
        raise BillingError(f"A {payment.get_status_display().lower()} payment cannot be refunded.")
    payment.status = target
    payment.refunded_amount = new_total
    payment.save(update_fields=["status", "refunded_amount", "updated_at"])
    return payment


@transaction.atomic
def invoice_mark_paid_offline(
    *, invoice: Invoice, reference: str, now: dt.datetime | None = None
) -> Payment:
    """Record money received outside the gateway (a bank transfer to the company's
    account, cash) and pay the invoice through the same path as any payment."""
    reference = (reference or "").strip()
    if not reference:
        raise BillingError("A reference (bank transfer id, receipt number) is required.")
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if not invoice.is_payable:
        raise InvoiceNotPayable(
            f"Invoice {invoice} is {invoice.get_status_display().lower()} and cannot be paid."
        )
    payment = payment_create(
        user=invoice.user,
        amount=invoice.total,
        currency=invoice.currency,
        invoice=invoice,
        payment_type="offline",
        gateway="offline",
        order_id=new_order_id(f"{invoice.number}-OFF"),
    )
    payment.transaction_id = reference[:64]
    payment.save(update_fields=["transaction_id", "updated_at"])
    return payment_apply_status(
        payment=payment, transaction_status=P.SETTLEMENT, payment_type="offline", now=now
    ).payment
