from __future__ import annotations

from decimal import Decimal

from wallets.models import TransactionKind, Wallet
from wallets.services import wallet_credit, wallet_get_or_create


def funded_wallet(user, amount: Decimal | int | str = 0) -> Wallet:
    """A user's wallet with ``amount`` credited through the ledger (never set by hand)."""
    wallet = wallet_get_or_create(user=user)
    if Decimal(amount) > 0:
        wallet_credit(
            wallet=wallet,
            amount=Decimal(amount),
            kind=TransactionKind.ADJUSTMENT,
            idempotency_key=f"seed:{wallet.pk}:{wallet.transactions.count()}",
            description="Opening balance",
        )
    return wallet
