"""Automatic collection: ways to pay an invoice without the customer at the keyboard.

The billing app does not know the wallet (or any other stored means of payment);
such apps register a collector here from their ``AppConfig.ready()``::

    from subscriptions.collectors import register_collector
    register_collector("wallet", pay_from_wallet_if_enabled)

A collector gets an open invoice and returns the settled ``Payment`` if it paid the
invoice, or ``None`` if it does not apply (auto-pay off, balance too low). It must pay
through the normal payment path so that every signal fires as for a gateway payment.
``collect_invoice`` tries them in registration order and stops at the first success.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction

from .exceptions import BillingError
from .models import Invoice, Payment

logger = logging.getLogger(__name__)

Collector = Callable[[Invoice], Payment | None]
_collectors: dict[str, Collector] = {}


def register_collector(name: str, collector: Collector) -> None:
    _collectors[name] = collector


def unregister_collector(name: str) -> None:
    _collectors.pop(name, None)


def collect_invoice(invoice: Invoice) -> Payment | None:
    """Try each registered collector; a collector's refusal is logged, never raised."""
    for name, collector in list(_collectors.items()):
        try:
            with transaction.atomic():
                payment = collector(invoice)
        except BillingError as error:
            logger.info("Collector %s did not pay %s: %s", name, invoice, error)
            continue
        if payment is not None:
            return payment
    return None
