"""Money: Decimal amounts with a currency, rounded the way the gateway takes them.

Midtrans takes ``gross_amount`` as an integer for IDR, so IDR amounts are whole
rupiah everywhere we compute them; other currencies keep two decimals.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal("0")

# Decimal places a currency is charged in (ISO 4217 minor units as Midtrans uses them).
CURRENCY_EXPONENT = {"IDR": 0, "JPY": 0, "KRW": 0, "VND": 0}


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-CURRENCY_EXPONENT.get(currency.upper(), 2))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round to what the currency can be charged in (half up, as receipts do)."""
    return Decimal(amount).quantize(quantum(currency), rounding=ROUND_HALF_UP)


def to_gateway_amount(amount: Decimal, currency: str) -> int:
    """The integer ``gross_amount`` Midtrans expects (whole rupiah for IDR)."""
    rounded = round_money(amount, currency)
    if CURRENCY_EXPONENT.get(currency.upper(), 2) == 0:
        return int(rounded)
    raise ValueError(f"Midtrans charges only whole units; {currency} is not supported")


def format_money(amount: Decimal | None, currency: str = "IDR") -> str:
    """``Rp 150.000`` for IDR (Indonesian grouping), ``USD 12.50`` otherwise."""
    if amount is None:
        return ""
    amount = round_money(Decimal(amount), currency)
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if currency.upper() == "IDR":
        return f"{sign}Rp {int(amount):,}".replace(",", ".")
    return f"{sign}{currency.upper()} {amount:,.2f}"
