"""Billing signals the wallet listens to: a top-up's payment settled or failed.

They run inside the transaction that changed the payment, so the credit commits or
rolls back together with the payment's new status.
"""

from __future__ import annotations

from .models import TopUp
from .services import topup_complete, topup_fail


def on_payment_success(sender, instance, **kwargs) -> None:
    if instance.invoice_id is not None:  # top-ups are paid by payments without an invoice
        return
    topup = TopUp.objects.filter(payment=instance).first()
    if topup is not None:
        topup_complete(topup=topup)


def on_payment_failed(sender, instance, **kwargs) -> None:
    if instance.invoice_id is not None:
        return
    topup = TopUp.objects.filter(payment=instance).first()
    if topup is not None:
        topup_fail(topup=topup, expired=instance.status == "expire")
