"""Checkout: start a gateway payment for an invoice.

Every attempt is a new ``Payment`` with a new order id (Midtrans refuses an order id
twice, and a retry after a failed or abandoned attempt is a new transaction). An
earlier attempt that is still pending is expired at the gateway first, so that one
invoice has one live payment page. Whether the money arrived is never decided here
or from the browser's return to the finish URL: only the webhook (or a status check)
moves the payment.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from django.db import transaction

from ..app_settings import app_settings
from ..exceptions import GatewayError, InvoiceNotPayable
from ..gateways import PaymentGateway, get_gateway
from ..gateways.snap import snap_request
from ..models import Invoice, Payment, PaymentStatus
from .gateway_ops import payment_expire
from .payments import new_order_id, payment_create

logger = logging.getLogger(__name__)


def _payable(invoice: Invoice, user, *, lock: bool = False) -> Invoice:
    queryset = Invoice.objects.select_for_update() if lock else Invoice.objects
    invoice = queryset.get(pk=invoice.pk)
    if invoice.user_id != user.pk:
        raise InvoiceNotPayable("This invoice belongs to someone else.")
    if not invoice.is_payable:
        state = (
            "has nothing to pay"
            if invoice.total <= 0
            else f"is {invoice.get_status_display().lower()}"
        )
        raise InvoiceNotPayable(f"Invoice {invoice} {state} and cannot be paid.")
    return invoice


def checkout_expire_earlier_attempts(*, invoice: Invoice) -> int:
    """Expire the invoice's pending gateway attempts; returns how many stopped being pending."""
    stopped = 0
    for attempt in (
        Payment.objects.filter(invoice=invoice, status=PaymentStatus.PENDING)
        .exclude(gateway="")
        .order_by("pk")
    ):
        try:
            gateway = get_gateway(attempt.gateway)
        except GatewayError as error:
            # Taken with a gateway that is no longer configured: nothing can expire it.
            logger.warning("Cannot expire %s: %s", attempt.order_id, error)
            continue
        update = payment_expire(payment=attempt, gateway=gateway)
        stopped += update.payment.status != PaymentStatus.PENDING
    return stopped


def checkout_start(
    *,
    invoice: Invoice,
    user,
    finish_url: Callable[[str], str] | str | None = None,
    gateway: PaymentGateway | None = None,
    now: dt.datetime | None = None,
) -> Payment:
    """Start paying ``invoice``: a new payment attempt with the gateway's payment page.

    ``finish_url`` is where the gateway sends the browser back (a callable receives
    the new order id). Returns the pending ``Payment`` with ``snap_token`` and
    ``redirect_url`` set. Raises ``InvoiceNotPayable`` or ``GatewayError``; when the
    gateway refuses, no payment is recorded.
    """
    gateway = gateway or get_gateway()
    invoice = _payable(invoice, user)
    checkout_expire_earlier_attempts(invoice=invoice)
    invoice = _payable(invoice, user)  # an earlier attempt may have turned out paid

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
    # Outside any transaction: an HTTP call must not hold the invoice row locked.
    session = gateway.create_checkout(request)

    with transaction.atomic():
        invoice = _payable(invoice, user, lock=True)
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
        payment.gateway_response = {**session.response, "item_details": request["item_details"]}
        payment.save(update_fields=["snap_token", "redirect_url", "gateway_response", "updated_at"])
    logger.info("Checkout %s started for invoice %s via %s", order_id, invoice, gateway.name)
    return payment
