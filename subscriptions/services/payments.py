"""Payment attempts: create one. What happens to it afterwards (a gateway status, a
settlement, a refund) is the settlement's business (``settlement.py``)."""

from __future__ import annotations

import secrets
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from ..app_settings import app_settings
from ..exceptions import BillingError
from ..models import Invoice, Payment, Subscription
from ..money import round_money


def new_order_id(prefix: str | None = None) -> str:
    """A fresh order id: letters, digits and dashes, well under Midtrans' 50 characters."""
    prefix = (prefix or app_settings.ORDER_ID_PREFIX)[:36]
    return f"{prefix}-{secrets.token_hex(6)}"


@transaction.atomic(savepoint=False)
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
    transaction_id: str = "",
) -> Payment:
    """A new pending payment attempt with its own order id (no savepoint of its own:
    inside a caller's transaction an error rolls the whole of it back)."""
    amount = round_money(Decimal(amount), currency)
    if amount <= 0:
        raise BillingError(_("A payment amount must be greater than zero."))
    payment = Payment(
        user=user,
        invoice=invoice,
        order_id=order_id or new_order_id(invoice.number if invoice and invoice.number else None),
        gross_amount=amount,
        currency=currency,
        payment_type=payment_type,
        gateway=gateway,
        transaction_id=transaction_id[:64],
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
