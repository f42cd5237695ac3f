"""Every ``SUBSCRIPTIONS_*`` setting with its default, in one place (allauth's pattern).

Read them as ``app_settings.INVOICE_DUE_DAYS``; each is looked up in Django's
settings on access, so ``override_settings`` in tests works.
"""

from __future__ import annotations

from django.conf import settings

DEFAULTS = {
    # Currency of new plans and invoices.
    "CURRENCY": "IDR",
    # Prefix of invoice numbers: INV-2026-000042.
    "INVOICE_PREFIX": "INV",
    # Days between an invoice being issued and its due date.
    "INVOICE_DUE_DAYS": 7,
    # Minutes a proration quote stays valid for confirmation.
    "QUOTE_VALID_MINUTES": 30,
    # Days a past_due subscription keeps access before it expires.
    "GRACE_PERIOD_DAYS": 14,
    # Prefix of gateway order ids (letters, digits, - _ ~ . only).
    "ORDER_ID_PREFIX": "SUB",
}


class _AppSettings:
    prefix = "SUBSCRIPTIONS_"

    def __getattr__(self, name: str):
        if name not in DEFAULTS:
            raise AttributeError(name)
        return getattr(settings, self.prefix + name, DEFAULTS[name])


app_settings = _AppSettings()
