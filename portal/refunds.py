"""How money sent back to a subscriber is described: the same words in the banner and
in the email. ``HEADLINES`` are the sentences (msgids: a banner stores one and is
translated when it is shown, ``receivers.py``); ``describe_refund`` gives an email
(``emails.py``) the same sentence already in the active language."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext, gettext_lazy, gettext_noop

from subscriptions.models import Payment, Refund, RefundDestination, RefundKind
from subscriptions.money import format_money

# Where returned money goes (a Refund's ``destination``, a ``payment_overpaid``'s
# ``return_to``).
# (A banner stores the msgid; an email shows the translation.)
DESTINATION_MSGIDS = {
    RefundDestination.GATEWAY: gettext_noop("your card or account"),
    RefundDestination.WALLET: gettext_noop("your wallet"),
}
DESTINATIONS = {code: gettext_lazy(msgid) for code, msgid in DESTINATION_MSGIDS.items()}
# Money back on a card was refunded to it; money put in the wallet was returned to it;
# "" when nobody said where.
HEADLINES = {
    RefundDestination.GATEWAY: gettext_noop("{amount} was refunded to your card or account"),
    RefundDestination.WALLET: gettext_noop("{amount} was returned to your wallet"),
    "": gettext_noop("{amount} was refunded"),
}


@dataclass(frozen=True)
class RefundFacts:
    amount: str  # "Rp 50.000"
    destination: str  # "gateway", "wallet", or "" when nobody said where
    to_wallet: bool
    topup: bool  # the refunded payment paid a wallet top-up
    overpayment: bool  # the return of money that arrived for an invoice already paid/void
    taken: str  # for a refunded top-up: what was taken back out of the wallet ("Rp 30.000")
    reason: str

    @property
    def headline(self) -> str:
        """ "Rp 50.000 was returned to your wallet", in the active language."""
        return gettext(HEADLINES[self.destination]).format(amount=self.amount)


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
        destination=destination if destination in HEADLINES else "",
        to_wallet=destination == RefundDestination.WALLET,
        topup=topup,
        overpayment=refund is not None and refund.kind == RefundKind.OVERPAYMENT,
        taken=taken,
        reason=(refund.reason.strip().rstrip(".") if refund is not None else ""),
    )
