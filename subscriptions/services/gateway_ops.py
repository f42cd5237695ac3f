"""Services that ask the payment gateway to act on a payment, then apply its answer.

Status check, cancel, and challenge approve/deny (expiring and refunding are the
settlement's, ``settlement.py``). Each calls the
gateway that took the payment (``Payment.gateway``) *outside* any transaction (the
sandbox delivers its notification to our webhook during the call; Midtrans may take
seconds), then applies the answer through ``payment_apply_status``, which locks the
row and never moves a payment backwards. A notification about the same change
arriving before or after the answer is then a duplicate.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from ..exceptions import BillingError
from ..gateways import PaymentGateway
from ..models import Payment, PaymentStatus
from .settlement import StatusUpdate, gateway_for, payment_apply_gateway_transaction

P = PaymentStatus


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
            _("Payment %(order_id)s is not a card payment held by the fraud check.")
            % {"order_id": payment.order_id}
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
