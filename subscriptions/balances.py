"""The customer's stored balance, as the settlement sees it.

The billing app does not know the wallet. An app that keeps a balance for each
customer (``wallets``) registers one object here from its ``AppConfig.ready()``::

    from subscriptions.balances import register_customer_balance
    register_customer_balance(WalletBalance())

The settlement calls it inside its own transaction (the wallet row is the last lock
in the settlement's lock order, see ``services/settlement.py``):

- ``credit(refund=...)``: a refund (or a returned overpayment) goes to the balance.
- ``topup_balance(payment=...)``: for a payment that bought balance (a top-up), how
  much of that balance is there now; ``None`` when the payment bought something else.
- ``reclaim(refund=..., amount=..., partial=...)``: a refunded top-up takes its credit
  back; ``partial=True`` takes what is there (a refund made outside the portal) and
  returns the amount taken, otherwise it takes all or raises ``InsufficientFunds``.
- ``release(refund=...)``: a refund that failed gives back what ``reclaim`` took.

Without a registered balance, refunds go through the gateway only.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from .models import Payment, Refund


class CustomerBalance(Protocol):
    def credit(self, *, refund: Refund) -> None: ...

    def topup_balance(self, *, payment: Payment) -> Decimal | None: ...

    def reclaim(self, *, refund: Refund, amount: Decimal, partial: bool = False) -> Decimal: ...

    def release(self, *, refund: Refund) -> None: ...


_balance: CustomerBalance | None = None


def register_customer_balance(balance: CustomerBalance | None) -> None:
    global _balance
    _balance = balance


def customer_balance() -> CustomerBalance | None:
    return _balance
