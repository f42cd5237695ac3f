"""The payment-gateway interface, and the Midtrans formats both gateways speak.

A gateway creates a checkout for a Snap-format request (a token and a redirect URL),
reports, cancels, expires, approves, denies and refunds transactions by order id,
and verifies the signature of a notification. Both implementations speak Midtrans'
JSON: ``midtrans`` over HTTP, ``sandbox`` offline. Every call either returns the
gateway's answer as a ``GatewayTransaction`` or raises ``GatewayError`` with the
gateway's message (``GatewayUnavailable`` when retrying later may help).

Gateway calls never run inside a database transaction that holds billing rows
locked: the sandbox delivers its notification to our own webhook while the call is
still running, and a real gateway may take seconds to answer.
"""

from __future__ import annotations

import hashlib
import hmac
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any


def notification_signature(
    order_id: str, status_code: str, gross_amount: str, server_key: str
) -> str:
    """Midtrans' ``signature_key``: SHA512(order_id + status_code + gross_amount + server key)."""
    raw = f"{order_id}{status_code}{gross_amount}{server_key}"
    return hashlib.sha512(raw.encode("utf-8")).hexdigest()


def signature_is_valid(body: dict[str, Any], server_key: str) -> bool:
    """Check a notification's ``signature_key`` in constant time.

    The hash is computed on the strings exactly as received (``gross_amount`` arrives
    as ``"150000.00"``; re-formatting it would break a genuine signature). Anything
    that is not a string fails closed, and so does an empty server key.
    """
    fields = [body.get(name) for name in ("order_id", "status_code", "gross_amount")]
    given = body.get("signature_key")
    if not server_key or not all(isinstance(value, str) for value in [*fields, given]):
        return False
    expected = notification_signature(*fields, server_key)
    # Bytes, not str: compare_digest refuses non-ASCII strings with a TypeError.
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def parse_amount(value: Any) -> Decimal | None:
    """A Midtrans amount (``"150000.00"`` or ``150000``) as Decimal, or None."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class GatewayTransaction:
    """A transaction as the gateway reports it (status response, action response or
    notification), with the fields our services act on pulled out of ``raw``."""

    order_id: str
    transaction_status: str
    fraud_status: str = ""
    payment_type: str = ""
    transaction_id: str = ""
    gross_amount: str = ""
    currency: str = ""
    status_code: str = ""
    status_message: str = ""
    # Total refunded so far, when the body says (a ``refunds`` list or ``refund_amount``).
    refunded_amount: Decimal | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> GatewayTransaction:
        return cls(
            order_id=_text(body.get("order_id")),
            transaction_status=_text(body.get("transaction_status")),
            fraud_status=_text(body.get("fraud_status")),
            payment_type=_text(body.get("payment_type")),
            transaction_id=_text(body.get("transaction_id")),
            gross_amount=_text(body.get("gross_amount")) or str(body.get("gross_amount") or ""),
            currency=_text(body.get("currency")),
            status_code=_text(body.get("status_code")) or str(body.get("status_code") or ""),
            status_message=_text(body.get("status_message")),
            refunded_amount=total_refunded(body),
            raw=body,
        )


def total_refunded(body: dict[str, Any]) -> Decimal | None:
    """The cumulative refunded amount a status body or notification reports.

    Notifications and status responses list every refund in ``refunds``; their sum is
    the total. Without the list, ``refund_amount`` is taken as the total.
    """
    if body.get("transaction_status") not in ("refund", "partial_refund"):
        return None
    refunds = body.get("refunds")
    if isinstance(refunds, list) and refunds:
        amounts = [
            parse_amount(item.get("refund_amount")) for item in refunds if isinstance(item, dict)
        ]
        if amounts and all(amount is not None for amount in amounts):
            return sum(amounts, Decimal("0"))
    return parse_amount(body.get("refund_amount"))


@dataclass(frozen=True)
class CheckoutSession:
    """What a gateway answers to a checkout request: Snap's token and redirect URL."""

    token: str
    redirect_url: str
    response: dict[str, Any] = field(default_factory=dict)


class PaymentGateway(ABC):
    """One payment gateway. Instances are cheap; ``registry.get_gateway()`` builds one."""

    #: Stored in ``Payment.gateway``.
    name: str = ""
    #: Whether ``get_status`` reports the gateway's own record independently of our
    #: database, so that a notification can be re-checked against it.
    verifies_status: bool = True

    @property
    @abstractmethod
    def server_key(self) -> str:
        """The key notifications are signed with."""

    def verify_notification(self, body: dict[str, Any]) -> bool:
        return signature_is_valid(body, self.server_key)

    @abstractmethod
    def create_checkout(self, request: dict[str, Any]) -> CheckoutSession:
        """Create a payment page for a Snap-format ``request``."""

    @abstractmethod
    def get_status(self, order_id: str) -> GatewayTransaction: ...

    @abstractmethod
    def cancel(self, order_id: str) -> GatewayTransaction: ...

    @abstractmethod
    def expire(self, order_id: str) -> GatewayTransaction: ...

    @abstractmethod
    def approve(self, order_id: str) -> GatewayTransaction:
        """Accept a card payment that the fraud check challenged."""

    @abstractmethod
    def deny(self, order_id: str) -> GatewayTransaction:
        """Refuse a card payment that the fraud check challenged."""

    @abstractmethod
    def refund(
        self, order_id: str, *, amount: int, refund_key: str, reason: str
    ) -> GatewayTransaction:
        """Refund ``amount`` (whole units); the same ``refund_key`` is the same refund."""
