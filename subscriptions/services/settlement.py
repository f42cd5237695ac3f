"""The settlement: every movement of money on an invoice, in one place.

A payment settles or fails, an invoice is paid from the wallet or offline, a
checkout starts, a refund is made, money that arrives for an invoice that can no
longer take it is returned. Each of those is a function here; nothing else in the
project changes ``Payment.is_paid``, ``Payment.refunded_amount`` or pays an invoice.

**Lock order.** Every function takes its row locks in this order, and only in this
order, so two of them can never deadlock:

1. the invoice (``Invoice``, ``SELECT ... FOR UPDATE``);
2. the payment (``Payment``);
3. the refund (``Refund``) when one is being completed;
4. the subscription (through the subscription services, ``of=("self",)``);
5. the wallet (through the registered customer balance, ``balances.py``).

A payment found by its order id (a webhook) is read once without a lock to learn its
``invoice_id``, which never changes; then the invoice and the payment are locked.

**One live attempt per invoice.** Starting a gateway checkout, paying from the wallet
and marking paid offline first *claim* the invoice (``Invoice.checkout_claim``, set
under its lock for ``SUBSCRIPTIONS_CHECKOUT_CLAIM_SECONDS``): a second attempt started
meanwhile is refused with ``PaymentInProgress``. The claimant then expires the earlier
pending gateway attempts at the gateway (no lock is held during HTTP calls: the
sandbox answers by posting a notification to our own webhook), and only then issues a
new order id, or pays, under the invoice lock.

**Money that arrives anyway is returned.** The gateway may still settle an attempt we
could not expire (a Snap page on which no method was chosen is unknown to Midtrans,
so ``expire`` answers 404, and the page stays payable). Such a settlement, for an
invoice already paid or void, is recorded as ``Payment.overpaid_amount`` and returned
by a ``Refund`` of kind "overpayment": through the gateway where it can refund that
payment type, else to the customer's wallet (``SUBSCRIPTIONS_OVERPAYMENT_RETURN``
chooses the default). ``payment_overpaid`` is sent when it is recorded and
``payment_refunded`` when the return is done.

**Refunds are serialised and bounded.** A refund locks the payment, checks what can
still be refunded (the amount less refunds done *and in flight*), and records the
``Refund`` before the gateway is asked; its ``refund_key`` makes a retry the same
refund at Midtrans. A refund of a top-up's payment takes the credit back out of the
wallet when it is recorded (so it cannot be spent while the refund is in flight), and
gives it back if the gateway refuses.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import task

from .. import signals
from ..app_settings import app_settings
from ..balances import customer_balance
from ..exceptions import (
    AmountMismatch,
    BillingError,
    GatewayError,
    GatewayUnavailable,
    InsufficientFunds,
    InvoiceNotPayable,
    PaymentInProgress,
)
from ..gateways import GatewayTransaction, PaymentGateway, get_gateway
from ..gateways.base import parse_amount
from ..gateways.snap import gateway_amount, snap_request
from ..models import (
    FAILED_PAYMENT_STATUSES,
    PAYABLE_INVOICE_STATUSES,
    Invoice,
    InvoiceReason,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundDestination,
    RefundKind,
    RefundStatus,
    Subscription,
    SubscriptionStatus,
)
from ..money import format_money, round_money
from ..transitions import check_invoice, payment_can_move
from .payments import new_order_id, payment_create
from .subscriptions import (
    subscription_activate,
    subscription_apply_paid_plan_change,
    subscription_mark_past_due,
    subscription_renew,
)

logger = logging.getLogger(__name__)
P = PaymentStatus

# Gateways whose payments are real money at a payment provider (refundable through it).
# "wallet" and "offline" payments are settled by us and refunded to the wallet.
LOCAL_GATEWAYS = ("", "wallet", "offline")
# Midtrans refunds these payment types through its API; bank transfers, virtual
# accounts and convenience-store payments cannot be refunded that way.
GATEWAY_REFUNDABLE_TYPES = frozenset(
    {"credit_card", "gopay", "shopeepay", "qris", "akulaku", "kredivo", "dana"}
)


# --- Locks -----------------------------------------------------------------------------------


def _lock_invoice(pk: int) -> Invoice:
    return Invoice.objects.select_for_update().get(pk=pk)


def _lock_payment(pk: int) -> Payment:
    return Payment.objects.select_for_update().get(pk=pk)


def _lock_invoice_and_payment(payment: Payment) -> tuple[Invoice | None, Payment]:
    invoice = _lock_invoice(payment.invoice_id) if payment.invoice_id else None
    payment = _lock_payment(payment.pk)
    if invoice is not None:
        payment.invoice = invoice  # callers get the invoice as the settlement left it
    return invoice, payment


# --- Gateway statuses ------------------------------------------------------------------------


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

    Becoming paid pays the invoice (which activates, renews or changes plan), or, when
    the invoice can no longer be paid, records and returns the overpayment. A failure
    leaves the invoice open and makes a renewing subscription past due. A refund status
    completes the refunds in flight it names and records any other refund (one made in
    the gateway's dashboard). A repeated status is a duplicate and an out-of-order one
    is stale: neither changes anything.
    """
    now = now or timezone.now()
    fraud_status = fraud_status or ""
    if transaction_status not in P.values:
        raise BillingError(f"Unknown transaction status {transaction_status!r}.")
    # A capture whose fraud check denied it is a denial (Midtrans' status cycle).
    if transaction_status == P.CAPTURE and fraud_status == "deny":
        transaction_status = P.DENY
    invoice, payment = _lock_invoice_and_payment(payment)

    if transaction_status in (P.REFUND, P.PARTIAL_REFUND):
        if not payment.is_paid or (
            transaction_status != payment.status
            and not payment_can_move(payment.status, transaction_status)
        ):
            logger.info("Stale refund status for unpaid or refunded %s ignored", payment.order_id)
            return StatusUpdate("stale", payment)
        return _apply_gateway_refunds(
            payment,
            status=transaction_status,
            total=refunded_amount,
            response=response or {},
            now=now,
        )
    same_status = transaction_status == payment.status
    challenge_decided = (
        same_status and payment.status == P.CAPTURE and payment.fraud_status != fraud_status
    )
    if same_status and not challenge_decided:
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
    becomes_paid = _is_paid(transaction_status, fraud_status) and not was_paid
    if becomes_paid:
        payment.is_paid = True
        payment.paid_at = now
        if invoice is not None:
            _check_amount(payment, invoice)
    payment.save()

    if becomes_paid and invoice is not None:
        if invoice.status in PAYABLE_INVOICE_STATUSES:
            try:
                with transaction.atomic():
                    _pay_invoice(invoice, payment=payment, now=now)
            except BillingError as error:
                # Paid, but what it paid for can no longer happen (the subscription was
                # paused or ended meanwhile): the money goes back, it is not kept.
                invoice.refresh_from_db()
                _record_overpayment(payment, invoice, now=now, why=str(error))
        else:
            _record_overpayment(payment, invoice, now=now)
    elif payment.status in FAILED_PAYMENT_STATUSES:
        _after_failure(payment, invoice, now=now)
    return StatusUpdate("applied", payment)


def _check_amount(payment: Payment, invoice: Invoice) -> None:
    if round_money(payment.gross_amount, payment.currency) != round_money(
        invoice.total, invoice.currency
    ):
        raise AmountMismatch(
            f"Payment {payment.order_id} of {payment.gross_amount} does not match invoice "
            f"{invoice} of {invoice.total}."
        )


def _after_failure(payment: Payment, invoice: Invoice | None, *, now: dt.datetime) -> None:
    """A failed renewal payment makes the subscription past due, unless the attempt was
    expired or cancelled because the invoice is being paid another way (its claimant
    stops the earlier attempts first: ``_stop_live_attempts``)."""
    superseded = (
        invoice is not None
        and payment.status in (P.EXPIRE, P.CANCEL)
        and _claim_is_live(invoice, now)
    )
    if (
        not superseded
        and invoice is not None
        and invoice.subscription_id is not None
        and invoice.reason in (InvoiceReason.RENEWAL, InvoiceReason.TRIAL_END)
        and invoice.status != InvoiceStatus.PAID
    ):
        status = (
            Subscription.objects.filter(pk=invoice.subscription_id)
            .values_list("status", flat=True)
            .first()
        )
        if status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING):
            subscription_mark_past_due(
                subscription=Subscription(pk=invoice.subscription_id), now=now
            )


def gateway_for(payment: Payment) -> PaymentGateway:
    if payment.gateway in LOCAL_GATEWAYS:
        raise GatewayError(_("This payment was not made through a payment gateway."))
    return get_gateway(payment.gateway)


def check_transaction_matches(payment: Payment, transaction: GatewayTransaction) -> None:
    """The gateway's transaction must be this payment's: same order, amount and currency."""
    if transaction.order_id and transaction.order_id != payment.order_id:
        raise GatewayError(
            _("The gateway answered about order %(answered)s, not %(asked)s.")
            % {"answered": transaction.order_id, "asked": payment.order_id}
        )
    amount = parse_amount(transaction.gross_amount) if transaction.gross_amount else None
    if transaction.gross_amount and (
        amount is None
        or round_money(amount, payment.currency)
        != round_money(payment.gross_amount, payment.currency)
    ):
        raise AmountMismatch(
            _("The gateway reports %(reported)s for %(order_id)s, we expect %(expected)s.")
            % {
                "reported": transaction.gross_amount,
                "order_id": payment.order_id,
                "expected": payment.gross_amount,
            }
        )
    if transaction.currency and transaction.currency.upper() != payment.currency.upper():
        raise AmountMismatch(
            _("The gateway reports %(reported)s for %(order_id)s, we expect %(expected)s.")
            % {
                "reported": transaction.currency,
                "order_id": payment.order_id,
                "expected": payment.currency,
            }
        )


def payment_apply_gateway_transaction(
    *, payment: Payment, transaction: GatewayTransaction
) -> StatusUpdate:
    """Apply a transaction the gateway reported (an API answer or a verified notification)."""
    check_transaction_matches(payment, transaction)
    if transaction.transaction_status not in P.values:
        raise GatewayError(
            _("The gateway reported an unknown status %(status)s.")
            % {"status": repr(transaction.transaction_status)}
        )
    return payment_apply_status(
        payment=payment,
        transaction_status=transaction.transaction_status,
        fraud_status=transaction.fraud_status,
        payment_type=transaction.payment_type,
        transaction_id=transaction.transaction_id,
        refunded_amount=transaction.refunded_amount,
        response=transaction.raw,
    )


# --- Paying an invoice -----------------------------------------------------------------------


def _pay_invoice(invoice: Invoice, *, payment: Payment | None, now: dt.datetime) -> None:
    """Mark the locked ``invoice`` paid by ``payment`` and apply what it was for."""
    check_invoice(invoice.status, InvoiceStatus.PAID)
    invoice.status = InvoiceStatus.PAID
    invoice.paid_at = now
    invoice.checkout_claim = ""
    invoice.checkout_claimed_until = None
    invoice.paid_by = payment  # invoice_paid's payment= (signals._dispatch_invoice)
    invoice.save(
        update_fields=[
            "status",
            "paid_at",
            "checkout_claim",
            "checkout_claimed_until",
            "updated_at",
        ]
    )
    if invoice.subscription_id is None:
        return
    subscription = Subscription(pk=invoice.subscription_id)
    if invoice.reason in (
        InvoiceReason.SUBSCRIPTION_CREATE,
        InvoiceReason.TRIAL_END,
        InvoiceReason.REACTIVATION,
    ):
        subscription_activate(subscription=subscription, invoice=invoice, now=now)
    elif invoice.reason == InvoiceReason.RENEWAL:
        subscription_renew(subscription=subscription, invoice=invoice, now=now)
    elif invoice.reason == InvoiceReason.PLAN_CHANGE:
        subscription_apply_paid_plan_change(subscription=subscription, invoice=invoice, now=now)


@transaction.atomic
def invoice_pay(*, invoice: Invoice, now: dt.datetime | None = None) -> Invoice:
    """Mark an invoice with nothing to pay (a zero total) paid and apply what it was for.

    An invoice with money to pay is paid by a payment: a gateway checkout, the wallet
    (``invoice_pay_locally``) or an offline payment (``invoice_mark_paid_offline``).
    """
    invoice = _lock_invoice(invoice.pk)
    if invoice.status not in PAYABLE_INVOICE_STATUSES:
        raise InvoiceNotPayable(
            _("Invoice %(invoice)s is %(status)s and cannot be paid.")
            % {"invoice": invoice, "status": str(invoice.get_status_display()).lower()}
        )
    if invoice.total > 0:
        raise InvoiceNotPayable(
            _("Invoice %(invoice)s has %(amount)s to pay.")
            % {"invoice": invoice, "amount": invoice.total_display}
        )
    _pay_invoice(invoice, payment=None, now=now or timezone.now())
    return invoice


# --- One live attempt per invoice ------------------------------------------------------------


def _require_payable(invoice: Invoice, user=None) -> None:
    if user is not None and invoice.user_id != user.pk:
        raise InvoiceNotPayable(_("This invoice belongs to someone else."))
    if not invoice.is_payable:
        if invoice.total <= 0:
            message = _("Invoice %(invoice)s has nothing to pay and cannot be paid.")
        else:
            message = _("Invoice %(invoice)s is %(status)s and cannot be paid.")
        raise InvoiceNotPayable(
            message % {"invoice": invoice, "status": str(invoice.get_status_display()).lower()}
        )


def _claim_is_live(invoice: Invoice, now: dt.datetime) -> bool:
    return bool(
        invoice.checkout_claim
        and invoice.checkout_claimed_until
        and invoice.checkout_claimed_until > now
    )


def _claim(invoice: Invoice, user=None) -> tuple[Invoice, str]:
    """Claim the payable ``invoice`` for one payment attempt (its own short transaction)."""
    now = timezone.now()
    with transaction.atomic():
        invoice = _lock_invoice(invoice.pk)
        _require_payable(invoice, user)
        if _claim_is_live(invoice, now):
            raise PaymentInProgress()
        invoice.checkout_claim = secrets.token_hex(16)
        invoice.checkout_claimed_until = now + dt.timedelta(
            seconds=app_settings.CHECKOUT_CLAIM_SECONDS
        )
        invoice.save(update_fields=["checkout_claim", "checkout_claimed_until"])
    return invoice, invoice.checkout_claim


def _locked_for_claim(invoice: Invoice, claim: str, user=None) -> Invoice:
    """The invoice, locked, still payable and still claimed by ``claim``."""
    invoice = _lock_invoice(invoice.pk)
    _require_payable(invoice, user)
    if invoice.checkout_claim != claim:
        raise PaymentInProgress()
    return invoice


def _release(invoice: Invoice, claim: str) -> None:
    Invoice.objects.filter(pk=invoice.pk, checkout_claim=claim).update(
        checkout_claim="", checkout_claimed_until=None
    )


def _live_attempts(invoice: Invoice):
    return (
        Payment.objects.filter(invoice=invoice, status__in=[P.PENDING, P.AUTHORIZE])
        .exclude(gateway__in=LOCAL_GATEWAYS)
        .order_by("pk")
    )


def payment_expire(*, payment: Payment, gateway: PaymentGateway | None = None) -> StatusUpdate:
    """Expire a pending attempt at the gateway, or learn what became of it.

    When the gateway refuses because the attempt moved on (paid meanwhile), its real
    status is fetched and applied instead. When the gateway has never heard of the
    order (a Snap page on which no payment method was chosen yet), the attempt stays
    pending: that page can still be paid until its token expires, and a payment made
    there is then returned as an overpayment if the invoice was paid another way; the
    result is an unchanged ("duplicate") update.
    """
    gateway = gateway or gateway_for(payment)
    try:
        answer = gateway.expire(payment.order_id)
    except GatewayError as error:
        if error.status_code == 404:
            dead_after = payment.created_at + dt.timedelta(
                minutes=app_settings.CHECKOUT_EXPIRY_MINUTES
            )
            if timezone.now() >= dead_after:
                # Its payment page has expired too: nothing can pay it any more.
                return payment_apply_status(payment=payment, transaction_status=P.EXPIRE)
            logger.info("Attempt %s is unknown to %s; left pending", payment.order_id, gateway.name)
            return StatusUpdate("duplicate", Payment.objects.get(pk=payment.pk))
        if error.status_code is None or error.status_code >= 500:
            raise
        answer = gateway.get_status(payment.order_id)
    return payment_apply_gateway_transaction(payment=payment, transaction=answer)


def _stop_live_attempts(invoice: Invoice) -> None:
    """Expire the invoice's pending gateway attempts at their gateway (no lock held)."""
    for attempt in _live_attempts(invoice):
        try:
            gateway = get_gateway(attempt.gateway)
        except GatewayError as error:
            # Taken with a gateway that is no longer configured: nothing can expire it.
            logger.warning("Cannot expire %s: %s", attempt.order_id, error)
            continue
        payment_expire(payment=attempt, gateway=gateway)


def checkout_start(
    *,
    invoice: Invoice,
    user,
    finish_url: Callable[[str], str] | str | None = None,
    gateway: PaymentGateway | None = None,
    now: dt.datetime | None = None,
) -> Payment:
    """Start paying ``invoice`` at the gateway: a new attempt with its payment page.

    Every attempt is a new ``Payment`` with a new order id (Midtrans refuses an order id
    twice). The invoice is claimed first, so that concurrent starts make one attempt;
    the earlier pending attempts are expired at the gateway before the new order id is
    issued. ``finish_url`` is where the gateway sends the browser back (a callable
    receives the new order id). Returns the pending ``Payment`` with ``snap_token`` and
    ``redirect_url``. Raises ``InvoiceNotPayable`` (``PaymentInProgress`` while another
    attempt is being started) or ``GatewayError``; when the gateway refuses, no payment
    is recorded. Whether money arrived is never decided here: only the webhook (or a
    status check) moves the payment.
    """
    gateway = gateway or get_gateway()
    invoice, claim = _claim(invoice, user)
    try:
        _stop_live_attempts(invoice)
        invoice.refresh_from_db()
        _require_payable(invoice, user)  # an earlier attempt may have turned out paid
        order_id = new_order_id(invoice.number)
        url = finish_url(order_id) if callable(finish_url) else (finish_url or "")
        request = snap_request(
            order_id=order_id,
            amount=invoice.total,
            currency=invoice.currency,
            user=user,
            invoice=invoice,
            finish_url=url,
            expiry_minutes=app_settings.CHECKOUT_EXPIRY_MINUTES,
            now=now,
        )
        session = gateway.create_checkout(request)  # outside any transaction

        with transaction.atomic():
            invoice = _locked_for_claim(invoice, claim, user)
            payment = payment_create(
                user=user,
                amount=invoice.total,
                currency=invoice.currency,
                invoice=invoice,
                gateway=gateway.name,
                order_id=order_id,
            )
            payment.snap_token = session.token[:100]
            payment.redirect_url = session.redirect_url
            # What was sent as items: the sandbox's payment page shows the same lines.
            payment.gateway_response = {
                **session.response,
                "item_details": request["item_details"],
            }
            payment.save(
                update_fields=["snap_token", "redirect_url", "gateway_response", "updated_at"]
            )
    finally:
        _release(invoice, claim)
    logger.info("Checkout %s started for invoice %s via %s", order_id, invoice, gateway.name)
    return payment


def invoice_pay_locally(
    *,
    invoice: Invoice,
    gateway: str,
    payment_type: str,
    user=None,
    reference: str = "",
    take_money: Callable[[Payment], None] | None = None,
    stop_attempts: bool = True,
    now: dt.datetime | None = None,
) -> Payment:
    """Pay ``invoice`` with money we hold or received ourselves: a settled payment of
    ``gateway`` "wallet" or "offline", in one transaction with ``take_money(payment)``
    (the wallet's debit), paid through the same path (and signals) as a gateway payment.

    The invoice is claimed and its pending gateway attempts expired first. A caller
    already inside a transaction (the billing run's collectors) passes
    ``stop_attempts=False``: no gateway call is made, and an invoice with a live gateway
    attempt is refused (``PaymentInProgress``) rather than paid twice.
    """
    claim = None
    if stop_attempts:
        invoice, claim = _claim(invoice, user)
    try:
        if claim is not None:
            _stop_live_attempts(invoice)
        # A caller inside a transaction (the collectors) owns the rollback point: no
        # savepoint of this function's own there.
        with transaction.atomic(savepoint=claim is not None):
            if claim is not None:
                invoice = _locked_for_claim(invoice, claim, user)
            else:
                invoice = _lock_invoice(invoice.pk)
                _require_payable(invoice, user)
                if _claim_is_live(invoice, timezone.now()) or _live_attempts(invoice).exists():
                    raise PaymentInProgress(_("A gateway payment of this invoice is in progress."))
            payment = payment_create(
                user=invoice.user,
                amount=invoice.total,
                currency=invoice.currency,
                invoice=invoice,
                payment_type=payment_type,
                gateway=gateway,
                order_id=new_order_id(f"{invoice.number}-{gateway[:3].upper()}"),
                transaction_id=reference,
            )
            if take_money is not None:
                take_money(payment)
            return payment_apply_status(
                payment=payment,
                transaction_status=P.SETTLEMENT,
                payment_type=payment_type,
                now=now,
            ).payment
    finally:
        if claim is not None:
            _release(invoice, claim)


def invoice_mark_paid_offline(
    *, invoice: Invoice, reference: str, now: dt.datetime | None = None
) -> Payment:
    """Record money received outside the gateway (a bank transfer to the company's
    account, cash) and pay the invoice through the same path as any payment."""
    reference = (reference or "").strip()
    if not reference:
        raise BillingError(_("A reference (bank transfer id, receipt number) is required."))
    return invoice_pay_locally(
        invoice=invoice, gateway="offline", payment_type="offline", reference=reference, now=now
    )


# --- Overpayments ----------------------------------------------------------------------------


def _can_refund_through_gateway(payment: Payment) -> bool:
    return payment.gateway not in LOCAL_GATEWAYS and (
        payment.payment_type in GATEWAY_REFUNDABLE_TYPES
    )


def _overpayment_destination(payment: Payment) -> str:
    wallet_possible = customer_balance() is not None
    if app_settings.OVERPAYMENT_RETURN == RefundDestination.WALLET and wallet_possible:
        return RefundDestination.WALLET
    if _can_refund_through_gateway(payment) or not wallet_possible:
        return RefundDestination.GATEWAY
    return RefundDestination.WALLET


def _record_overpayment(
    payment: Payment, invoice: Invoice, *, now: dt.datetime, why: str = ""
) -> None:
    """``payment`` (locked, just paid) arrived for ``invoice`` (locked), which is
    already paid or void (or could not be applied: ``why``): keep nothing, return it."""
    logger.warning("Payment %s settled for unpayable invoice %s: returning it", payment, invoice)
    payment.overpaid_amount = payment.gross_amount
    payment.save(update_fields=["overpaid_amount", "updated_at"])
    destination = _overpayment_destination(payment)
    refund = _new_refund(
        payment,
        amount=payment.gross_amount,
        destination=destination,
        kind=RefundKind.OVERPAYMENT,
        reason=why or f"Invoice {invoice} was already {invoice.get_status_display().lower()}",
    )
    signals.payment_overpaid.send(
        sender=Payment,
        instance=payment,
        invoice=invoice,
        amount=payment.gross_amount,
        return_to=destination,
    )
    if destination == RefundDestination.WALLET:
        _complete_refund(payment, refund, now=now)
    else:
        transaction.on_commit(lambda: _enqueue_refund(refund.pk), robust=True)


# --- Refunds ---------------------------------------------------------------------------------


REFUND_KEY_LABELS = {
    RefundKind.STAFF: "refund",
    RefundKind.OVERPAYMENT: "over",
    RefundKind.EXTERNAL: "ext",
}


def _new_refund(payment: Payment, *, kind: str, **fields) -> Refund:
    """Record a refund of ``payment`` (pending) with a fresh ``refund_key``: the order id,
    what kind of refund, and a random part, in Midtrans' alphabet."""
    key = f"{payment.order_id}-{REFUND_KEY_LABELS[kind]}-{secrets.token_hex(4)}"
    return Refund.objects.create(
        payment=payment,
        currency=payment.currency,
        kind=kind,
        refund_key=re.sub(r"[^A-Za-z0-9_-]", "-", key)[:100],
        **fields,
    )


def _in_flight(payment: Payment) -> Decimal:
    return payment.refunds.filter(status=RefundStatus.PENDING).aggregate(total=Sum("amount"))[
        "total"
    ] or Decimal("0")


def payment_refundable_amount(payment: Payment) -> Decimal:
    """What can still be refunded: the amount less refunds done and in flight."""
    if not payment.is_paid:
        return Decimal("0")
    return max(payment.gross_amount - payment.refunded_amount - _in_flight(payment), Decimal("0"))


def payment_refund(
    *,
    payment: Payment,
    reason: str,
    amount: Decimal | None = None,
    destination: str = RefundDestination.GATEWAY,
    created_by=None,
    gateway: PaymentGateway | None = None,
    now: dt.datetime | None = None,
) -> Refund:
    """Refund ``amount`` (default: all that is left) of a paid payment, through its
    gateway or to the customer's wallet.

    The refund is recorded under the payment's lock before the gateway is asked, so two
    refunds started together can never exceed the payment. Refunding a top-up takes
    its credit back out of the wallet at once (refused with ``InsufficientFunds`` when
    the balance no longer covers it). Returns the ``Refund``: succeeded, or still
    pending when the gateway could not be reached (a retry with the same key is safe).
    """
    reason = (reason or "").strip()
    if not reason:
        raise BillingError(_("A reason is required to refund a payment."))
    if destination not in RefundDestination.values:
        raise BillingError(
            _("Unknown refund destination %(destination)s.") % {"destination": repr(destination)}
        )
    balance = customer_balance()
    now = now or timezone.now()
    with transaction.atomic():
        payment = _lock_payment(payment.pk)
        if not payment.is_paid:
            raise BillingError(_("Only a paid payment can be refunded."))
        refundable = payment_refundable_amount(payment)
        amount = refundable if amount is None else round_money(Decimal(amount), payment.currency)
        if amount <= 0:
            raise BillingError(_("A refund amount must be greater than zero."))
        if amount > refundable:
            raise AmountMismatch(
                _("At most %(amount)s of this payment can still be refunded.")
                % {"amount": format_money(refundable, payment.currency)}
            )
        topup_balance = balance.topup_balance(payment=payment) if balance else None
        if destination == RefundDestination.WALLET:
            if balance is None:
                raise BillingError(_("There is no wallet to refund to."))
            if topup_balance is not None:
                raise BillingError(_("A wallet top-up is refunded through the payment gateway."))
        elif payment.gateway in LOCAL_GATEWAYS:
            raise BillingError(
                _("This payment was not made through a payment gateway; refund it to the wallet.")
            )
        elif topup_balance is not None and topup_balance < amount:
            raise InsufficientFunds(
                _("The wallet holds %(held)s of this top-up; %(amount)s cannot be refunded.")
                % {
                    "held": format_money(topup_balance, payment.currency),
                    "amount": format_money(amount, payment.currency),
                }
            )
        refund = _new_refund(
            payment,
            amount=amount,
            destination=destination,
            kind=RefundKind.STAFF,
            reason=reason[:500],
            created_by=created_by,
        )
        if destination == RefundDestination.WALLET:
            _complete_refund(payment, refund, now=now)
            return refund
        if topup_balance is not None:
            balance.reclaim(refund=refund, amount=amount)
    return refund_send(refund=refund, gateway=gateway)


def refund_send(*, refund: Refund, gateway: PaymentGateway | None = None) -> Refund:
    """Ask the gateway for a refund recorded as pending (again, with the same key, if
    an earlier try could not reach it), then complete it or record the refusal."""
    refund = Refund.objects.select_related("payment").get(pk=refund.pk)
    if refund.status != RefundStatus.PENDING:
        return refund
    payment = refund.payment
    try:
        gateway = gateway or gateway_for(payment)
        answer = gateway.refund(
            payment.order_id,
            amount=gateway_amount(refund.amount, refund.currency),
            refund_key=refund.refund_key,
            reason=refund.reason[:255] or "Refund",
        )
    except GatewayUnavailable:
        logger.warning("Refund %s could not reach the gateway; left pending", refund.refund_key)
        raise
    except GatewayError as error:
        _refund_refused(refund, error)
        raise
    # An answer about another order or amount is no proof either way: it stays pending.
    check_transaction_matches(payment, answer)
    with transaction.atomic():
        payment = _lock_payment(payment.pk)
        refund = Refund.objects.select_for_update().get(pk=refund.pk)
        if refund.status == RefundStatus.PENDING:  # else the notification completed it
            refund.gateway_response = answer.raw
            payment.gateway_response = answer.raw
            _complete_refund(payment, refund, now=timezone.now())
    logger.info("Refunded %s of %s: %s", refund.amount, payment.order_id, refund.reason)
    return refund


def _refund_refused(refund: Refund, error: GatewayError) -> None:
    with transaction.atomic():
        payment = _lock_payment(refund.payment_id)
        refund = Refund.objects.select_for_update().get(pk=refund.pk)
        if refund.status != RefundStatus.PENDING:
            return
        refund.status = RefundStatus.FAILED
        refund.error = str(error)[:2000]
        refund.completed_at = timezone.now()
        refund.save(update_fields=["status", "error", "completed_at"])
        balance = customer_balance()
        if balance is not None and refund.kind == RefundKind.OVERPAYMENT:
            # The gateway cannot give this money back: the wallet does.
            fallback = _new_refund(
                payment,
                amount=refund.amount,
                destination=RefundDestination.WALLET,
                kind=RefundKind.OVERPAYMENT,
                reason=refund.reason,
            )
            _complete_refund(payment, fallback, now=timezone.now())
        elif balance is not None:
            balance.release(refund=refund)


def _complete_refund(payment: Payment, refund: Refund, *, now: dt.datetime) -> None:
    """Mark the pending ``refund`` of the locked ``payment`` done: the payment counts it
    (``payment_refunded`` with ``refund=``) and a wallet refund credits the wallet."""
    refund.status = RefundStatus.SUCCEEDED
    refund.completed_at = now
    refund.save(update_fields=["status", "completed_at", "gateway_response", "shortfall"])
    total = payment.refunded_amount + refund.amount
    if total > payment.gross_amount:
        raise AmountMismatch("Refunded more than the payment's amount.")
    payment.refunded_amount = total
    payment.status = P.REFUND if total == payment.gross_amount else P.PARTIAL_REFUND
    payment.refund_being_applied = refund  # payment_refunded's refund=
    payment.save(update_fields=["status", "refunded_amount", "gateway_response", "updated_at"])
    if refund.destination == RefundDestination.WALLET:
        customer_balance().credit(refund=refund)


def _notified_refund_keys(response: dict) -> set[str]:
    refunds = response.get("refunds")
    if not isinstance(refunds, list):
        return set()
    return {
        str(item.get("refund_key"))
        for item in refunds
        if isinstance(item, dict) and item.get("refund_key")
    }


def _apply_gateway_refunds(
    payment: Payment, *, status: str, total: Decimal | None, response: dict, now: dt.datetime
) -> StatusUpdate:
    """A ``refund``/``partial_refund`` status for the locked ``payment``: ``total`` is
    what the gateway has refunded in all. The refunds in flight it names (by key) are
    completed; what is left over is a refund made in the gateway's dashboard, recorded
    as one (a top-up's credit is taken back, as far as the wallet still holds it)."""
    if total is None:
        total = payment.gross_amount if status == P.REFUND else None
    if total is None:
        raise AmountMismatch("A partial refund notification without its amount.")
    # Everything refunded but to the wallet was refunded at the gateway (payments
    # refunded before refunds were recorded one by one have no Refund rows).
    to_wallet = payment.refunds.filter(
        status=RefundStatus.SUCCEEDED, destination=RefundDestination.WALLET
    ).aggregate(total=Sum("amount"))["total"] or Decimal("0")
    done_at_gateway = payment.refunded_amount - to_wallet
    if total <= done_at_gateway:
        return StatusUpdate("duplicate", payment)
    keys = _notified_refund_keys(response)
    pending = payment.refunds.select_for_update().filter(
        Q(refund_key__in=keys) if keys else Q(), status=RefundStatus.PENDING
    )
    for refund in pending.filter(destination=RefundDestination.GATEWAY).order_by("pk"):
        if done_at_gateway + refund.amount > total:
            break
        refund.gateway_response = response
        payment.gateway_response = response
        _complete_refund(payment, refund, now=now)
        done_at_gateway += refund.amount
    rest = total - done_at_gateway
    if rest > 0:
        if payment.refunded_amount + rest > payment.gross_amount:
            raise AmountMismatch(
                f"Refunded more than the payment: the gateway reports {total} refunded of "
                f"{payment.order_id} of {payment.gross_amount}, {payment.refunded_amount} "
                "of it refunded before."
            )
        refund = _new_refund(
            payment,
            amount=rest,
            destination=RefundDestination.GATEWAY,
            kind=RefundKind.EXTERNAL,
            reason="Refunded at the payment gateway",
            gateway_response=response,
        )
        balance = customer_balance()
        if balance is not None and balance.topup_balance(payment=payment) is not None:
            taken = balance.reclaim(refund=refund, amount=rest, partial=True)
            refund.shortfall = rest - taken
        payment.gateway_response = response
        _complete_refund(payment, refund, now=now)
    return StatusUpdate("applied", payment)


def _enqueue_refund(refund_pk: int) -> None:
    refund_send_task.enqueue(refund_pk)


@task()
def refund_send_task(refund_pk: int) -> str:
    """Send a pending refund to the gateway (an overpayment being returned)."""
    refund = Refund.objects.get(pk=refund_pk)
    try:
        return refund_send(refund=refund).status
    except GatewayError as error:  # recorded on the refund (or retried by the billing run)
        return f"failed: {error}"
