"""Services that ask the payment gateway to act on a payment, then apply its answer.

Status check, cancel, expire, challenge approve/deny and refund. Each calls the
gateway that took the payment (``Payment.gateway``) *outside* any transaction (the
sandbox delivers its notification to our webhook during the call; Midtrans may take
seconds), then applies the answer through ``payment_apply_status``, which locks the
row and never moves a payment backwards. A notification about the same change
arriving before or after the answer is then a duplicate.
"""

from __future__ import annotations

import logging
import re
from decimal import Decimal

from ..exceptions import AmountMismatch, BillingError, GatewayError
from ..gateways import GatewayTransaction, PaymentGateway, get_gateway
from ..gateways.base import parse_amount
from ..gateways.snap import gateway_amount
from ..models import Payment, PaymentStatus
from ..money import round_money
from .payments import StatusUpdate, payment_apply_status

logger = logging.getLogger(__name__)
P = PaymentStatus


def gateway_for(payment: Payment) -> PaymentGateway:
    if not payment.gateway:
        raise GatewayError("This payment was not made through a payment gateway.")
    return get_gateway(payment.gateway)


def check_transaction_matches(payment: Payment, transaction: GatewayTransaction) -> None:
    """The gateway's transaction must be this payment's: same order, amount and currency."""
    if transaction.order_id and transaction.order_id != payment.order_id:
        raise GatewayError(
            f"The gateway answered about order {transaction.order_id!r}, not {payment.order_id!r}."
        )
    amount = parse_amount(transaction.gross_amount) if transaction.gross_amount else None
    if transaction.gross_amount and (
        amount is None
        or round_money(amount, payment.currency)
        != round_money(payment.gross_amount, payment.currency)
    ):
        raise AmountMismatch(
            f"The gateway reports {transaction.gross_amount} for {payment.order_id}, "
            f"we expect {payment.gross_amount}."
        )
    if transaction.currency and transaction.currency.upper() != payment.currency.upper():
        raise AmountMismatch(
            f"The gateway reports {transaction.currency} for {payment.order_id}, "
            f"we expect {payment.currency}."
        )


def payment_apply_gateway_transaction(
    *, payment: Payment, transaction: GatewayTransaction, refunded_amount: Decimal | None = None
) -> StatusUpdate:
    """Apply a transaction the gateway reported (an API answer or a verified notification)."""
    check_transaction_matches(payment, transaction)
    if transaction.transaction_status not in P.values:
        raise GatewayError(
            f"The gateway reported an unknown status {transaction.transaction_status!r}."
        )
    return payment_apply_status(
        payment=payment,
        transaction_status=transaction.transaction_status,
        fraud_status=transaction.fraud_status,
        payment_type=transaction.payment_type,
        transaction_id=transaction.transaction_id,
        refunded_amount=(
            refunded_amount if refunded_amount is not None else transaction.refunded_amount
        ),
        response=transaction.raw,
    )


def payment_check_status(
    *, payment: Payment, gateway: PaymentGateway | None = None
) -> StatusUpdate:
    """Ask the gateway for the payment's status and apply it (reconciliation)."""
    gateway = gateway or gateway_for(payment)
    transaction = gateway.get_status(payment.order_id)
    return payment_apply_gateway_transaction(payment=payment, transaction=transaction)


def _require_challenge(payment: Payment) -> Payment:
    payment = Payment.objects.get(pk=payment.pk)
    if payment.status != P.CAPTURE or payment.fraud_status != "challenge":
        raise BillingError(
            f"Payment {payment.order_id} is not a card payment held by the fraud check."
        )
    return payment


def payment_approve_challenge(
    *, payment: Payment, gateway: PaymentGateway | None = None
) -> StatusUpdate:
    """Accept a challenged card payment: it becomes paid and pays its invoice."""
    payment = _require_challenge(payment)
    gateway = gateway or gateway_for(payment)
    transaction = gateway.approve(payment.order_id)
    return payment_apply_gateway_transaction(payment=payment, transaction=transaction)


def payment_deny_challenge(
    *, payment: Payment, gateway: PaymentGateway | None = None
) -> StatusUpdate:
    """Refuse a challenged card payment: it fails and its invoice stays open."""
    payment = _require_challenge(payment)
    gateway = gateway or gateway_for(payment)
    transaction = gateway.deny(payment.order_id)
    return payment_apply_gateway_transaction(payment=payment, transaction=transaction)


def payment_cancel(*, payment: Payment, gateway: PaymentGateway | None = None) -> StatusUpdate:
    gateway = gateway or gateway_for(payment)
    transaction = gateway.cancel(payment.order_id)
    return payment_apply_gateway_transaction(payment=payment, transaction=transaction)


def payment_expire(*, payment: Payment, gateway: PaymentGateway | None = None) -> StatusUpdate:
    """Expire a pending attempt at the gateway, or learn what became of it.

    When the gateway refuses because the attempt moved on (paid meanwhile), its real
    status is fetched and applied instead. When the gateway has never heard of the
    order (a Snap page on which no payment method was chosen yet), the attempt stays
    pending: that page can still be paid until its token expires, and marking it
    expired here would make such a payment look like a stale notification; the
    result is then an unchanged ("duplicate") update.
    """
    gateway = gateway or gateway_for(payment)
    try:
        transaction = gateway.expire(payment.order_id)
    except GatewayError as error:
        if error.status_code == 404:
            logger.info("Attempt %s is unknown to %s; left pending", payment.order_id, gateway.name)
            return StatusUpdate("duplicate", Payment.objects.get(pk=payment.pk))
        if error.status_code is None or error.status_code >= 500:
            raise
        transaction = gateway.get_status(payment.order_id)
    return payment_apply_gateway_transaction(payment=payment, transaction=transaction)


def refund_key_for(payment: Payment, *, refunded_before: Decimal, amount: int) -> str:
    """The same refund, retried, gets the same key (so the gateway refunds it once):
    the key names the order, how much was refunded before, and this amount."""
    before = gateway_amount(refunded_before, payment.currency)
    key = f"{payment.order_id}-refund-{before}-{amount}"
    return re.sub(r"[^A-Za-z0-9_-]", "-", key)


def payment_refund(
    *,
    payment: Payment,
    reason: str,
    amount: Decimal | None = None,
    gateway: PaymentGateway | None = None,
) -> Payment:
    """Refund ``amount`` (default: all that is left) of a paid payment through its gateway."""
    reason = (reason or "").strip()
    if not reason:
        raise BillingError("A reason is required to refund a payment.")
    payment = Payment.objects.get(pk=payment.pk)
    if not payment.is_paid:
        raise BillingError("Only a paid payment can be refunded.")
    refundable = payment.refundable_amount
    amount = refundable if amount is None else round_money(Decimal(amount), payment.currency)
    if amount <= 0:
        raise BillingError("A refund amount must be greater than zero.")
    if amount > refundable:
        raise AmountMismatch(f"At most {refundable} of this payment can still be refunded.")
    gateway = gateway or gateway_for(payment)
    refunded_before = payment.refunded_amount
    whole = gateway_amount(amount, payment.currency)
    transaction = gateway.refund(
        payment.order_id,
        amount=whole,
        refund_key=refund_key_for(payment, refunded_before=refunded_before, amount=whole),
        reason=reason,
    )
    # Midtrans' refund answer gives this refund's amount, not the total: count it here.
    total = refunded_before + amount
    status = transaction.transaction_status
    if status not in (P.REFUND, P.PARTIAL_REFUND):
        status = P.REFUND if total >= payment.gross_amount else P.PARTIAL_REFUND
    check_transaction_matches(payment, transaction)
    logger.info("Refunded %s of %s: %s", amount, payment.order_id, reason)
    update = payment_apply_status(
        payment=payment,
        transaction_status=status,
        refunded_amount=total,
        response=transaction.raw,
    )
    return update.payment
