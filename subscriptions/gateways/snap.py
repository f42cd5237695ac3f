"""Build the Snap request for a payment: Midtrans' format, used by both gateways.

Midtrans checks that ``gross_amount`` is an integer (whole rupiah) and that the
``item_details`` add up to it exactly (``sum(price * quantity)``). Invoice lines,
discount and tax are turned into items; what rounding leaves over becomes one more
item, so the sum always matches.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from ..exceptions import GatewayError
from ..money import round_money, to_gateway_amount

NAME_MAX = 50  # Midtrans truncates or refuses longer item names and ids


def gateway_amount(amount: Decimal, currency: str) -> int:
    try:
        return to_gateway_amount(amount, currency)
    except ValueError as exc:
        raise GatewayError(
            _("Payments in %(currency)s are not supported.") % {"currency": currency}
        ) from exc


def _item(item_id: str, name: str, price: int, quantity: int = 1) -> dict[str, Any]:
    return {"id": item_id[:NAME_MAX], "name": name[:NAME_MAX], "price": price, "quantity": quantity}


def item_details(
    *, invoice, order_id: str, gross_amount: int, currency: str
) -> list[dict[str, Any]]:
    """Items for the payment page that sum to ``gross_amount`` exactly."""
    items: list[dict[str, Any]] = []
    if invoice is not None:
        for line in invoice.lines.all():
            unit = round_money(line.unit_amount, currency)
            if line.quantity > 0 and round_money(unit * line.quantity, currency) == round_money(
                line.amount, currency
            ):
                price, quantity = gateway_amount(unit, currency), line.quantity
            else:
                price, quantity = gateway_amount(line.amount, currency), 1
            items.append(_item(f"line-{line.pk}", line.description, price, quantity))
        if invoice.discount:
            items.append(_item("discount", "Discount", -gateway_amount(invoice.discount, currency)))
        if invoice.tax:
            items.append(_item("tax", "Tax", gateway_amount(invoice.tax, currency)))
    if not items:
        return [_item(order_id, f"Payment {order_id}", gross_amount)]
    remainder = gross_amount - sum(item["price"] * item["quantity"] for item in items)
    if remainder:
        items.append(_item("adjustment", "Rounding adjustment", remainder))
    return items


def customer_details(user) -> dict[str, str]:
    email = getattr(user, "email", "") or ""
    first = (getattr(user, "first_name", "") or "").strip() or email.split("@")[0] or "Customer"
    details = {"first_name": first[:255], "email": email}
    last = (getattr(user, "last_name", "") or "").strip()
    if last:
        details["last_name"] = last[:255]
    return details


def snap_request(
    *,
    order_id: str,
    amount: Decimal,
    currency: str,
    user,
    invoice=None,
    finish_url: str = "",
    expiry_minutes: int = 24 * 60,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The ``POST /snap/v1/transactions`` body for one payment attempt."""
    now = now or timezone.now()
    gross = gateway_amount(amount, currency)
    request: dict[str, Any] = {
        "transaction_details": {"order_id": order_id, "gross_amount": gross},
        "item_details": item_details(
            invoice=invoice, order_id=order_id, gross_amount=gross, currency=currency
        ),
        "customer_details": customer_details(user),
        "expiry": {
            # Midtrans' format: "2026-11-26 18:11:08 +0700", in the merchant's time zone.
            "start_time": timezone.localtime(now).strftime("%Y-%m-%d %H:%M:%S %z"),
            "unit": "minutes",
            "duration": int(expiry_minutes),
        },
    }
    if finish_url:
        request["callbacks"] = {"finish": finish_url}
    return request
