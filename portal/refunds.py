"""How money sent back to a subscriber is described: the same words in the banner and
in the email (``receivers.py`` and ``emails.py`` both use ``describe_refund``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from subscriptions.models import Payment, Refund, RefundDestination, RefundKind
from subscriptions.money import format_money

# Where returned money goes (a Refund's ``destination``, a ``payment_overpaid``'s
# ``return_to``).
DESTINATIONS = {
    RefundDestination.GATEWAY: "your card or account",
    RefundDestination.WALLET: "your wallet",
}
# Money back on a card was refunded to it; money put in the wallet was returned to it.
VERBS = {RefundDestination.GATEWAY: "refunded to", RefundDestination.WALLET: "returned to"}


@dataclass(frozen=True)
class RefundFacts:
    amount: str  # "Rp 50.000"
    went: str  # "was returned to your wallet", or "was refunded" when nobody said where
    to_wallet: bool
    topup: bool  # the refunded payment paid a wallet top-up
    overpayment: bool  # the return of money that arrived for an invoice already paid/void
    taken: str  # for a refunded top-up: what was taken back out of the wallet ("Rp 30.000")
    reason: str

    @property
    def because(self) -> str:
        return f" Reason: {self.reason}." if self.reason else ""


def describe_refund(
    payment: Payment, refund: Refund | None, amount: Decimal | None = None
) -> RefundFacts:
    """``amount``: this refund (``payment_refunded``'s ``refund_amount``), else the
    refund row's, else all that was refunded. No query."""
    if amount is None:
        amount = refund.amount if refund is not None else payment.refunded_amount
    destination = refund.destination if refund is not None else ""
    topup = payment.invoice_id is None
    # A refunded top-up takes its credit back, all but the shortfall the balance
    # could no longer cover (known from the refund row only).
    taken = (
        format_money(refund.amount - refund.shortfall, payment.currency)
        if topup and refund is not None
        else ""
    )
    return RefundFacts(
        amount=format_money(amount, payment.currency),
        went=(
            f"was {VERBS[destination]} {DESTINATIONS[destination]}"
            if destination in DESTINATIONS
            else "was refunded"
        ),
        to_wallet=destination == RefundDestination.WALLET,
        topup=topup,
        overpayment=refund is not None and refund.kind == RefundKind.OVERPAYMENT,
        taken=taken,
        reason=(refund.reason.strip().rstrip(".") if refund is not None else ""),
    )
