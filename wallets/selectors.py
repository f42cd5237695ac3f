"""Wallet reads for the portal's pages, each a QuerySet with what its page shows joined
in, so a page runs the same number of queries whatever the size of the ledger."""

from __future__ import annotations

from django.db.models import QuerySet

from .app_settings import app_settings
from .models import TopUp, Wallet, WalletTransaction


def wallet_for_user(user) -> Wallet:
    """The user's wallet, or an unsaved empty one: looking at a wallet creates nothing
    (``services.wallet_get_or_create`` does, when money first moves)."""
    wallet = Wallet.objects.filter(user=user).first()
    if wallet is None:
        wallet = Wallet(user=user, currency=app_settings.CURRENCY)
    return wallet


def wallet_transaction_list(wallet: Wallet) -> QuerySet[WalletTransaction]:
    """The ledger, newest first, with the invoice each row paid or refunded (and the
    wallet, whose currency formats each amount)."""
    if wallet.pk is None:
        return WalletTransaction.objects.none()
    return (
        WalletTransaction.objects.filter(wallet=wallet)
        .select_related("wallet", "invoice")
        .order_by("-created_at", "-pk")
    )


def topup_list_for_user(user) -> QuerySet[TopUp]:
    """The user's top-ups, newest first, with the payment ``TopUp.is_abandoned`` reads."""
    return (
        TopUp.objects.filter(user=user)
        .select_related("wallet", "payment")
        .order_by("-created_at", "-pk")
    )


def topup_for_user(user, order_id: str) -> QuerySet[TopUp]:
    """One top-up, looked up through its owner (anyone else's is simply not found)."""
    return TopUp.objects.filter(user=user, order_id=order_id).select_related("wallet", "payment")
