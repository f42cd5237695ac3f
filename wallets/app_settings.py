"""Every ``WALLETS_*`` setting with its default (read on access, so tests can override)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings

DEFAULTS = {
    # Smallest and largest top-up (IDR): Rp 10.000 to Rp 50.000.000.
    "TOPUP_MIN": Decimal("10000"),
    "TOPUP_MAX": Decimal("50000000"),
    # Preset amounts offered on the top-up form.
    "TOPUP_PRESETS": (Decimal("50000"), Decimal("100000"), Decimal("250000"), Decimal("500000")),
    # A "wallet balance low" notice is sent when a debit leaves less than this.
    "LOW_BALANCE_THRESHOLD": Decimal("50000"),
    "CURRENCY": "IDR",
}


class _AppSettings:
    prefix = "WALLETS_"

    def __getattr__(self, name: str):
        if name not in DEFAULTS:
            raise AttributeError(name)
        value = getattr(settings, self.prefix + name, DEFAULTS[name])
        if isinstance(DEFAULTS[name], Decimal):
            return Decimal(str(value))
        return value


app_settings = _AppSettings()
