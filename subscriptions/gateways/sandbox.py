"""The offline sandbox: a stand-in for Midtrans that behaves like it from the outside.

- ``create_checkout`` validates the Snap request as Midtrans does (integer amount,
  items that add up, a fresh order id) and answers a token and a redirect URL to our
  own payment page, ``/sandbox/pay/<token>/``.
- The page is for the payment's owner, signed in, or for the browser that started
  the payment without signing in from the invoice's signed hosted link (the portal
  calls ``sandbox_payer_remember``, which keeps the order id in that browser's
  session). Unlike Snap's, the token alone is no permission: anyone else gets a 404.
- On that page a person picks the outcome (settlement, card capture accepted or
  challenged, deny, cancel, expire, stay pending); the sandbox then POSTs a correctly
  signed, Midtrans-format notification over HTTP to our webhook (``SITE_URL`` + its
  path, or ``MIDTRANS_NOTIFICATION_URL``), so the real webhook code runs end to end,
  and sends the browser to the finish URL as Snap does.
- ``get_status``, ``cancel``, ``expire``, ``approve``, ``deny`` and ``refund`` answer in
  Midtrans' format and deliver the matching notification too.

The sandbox keeps no state of its own: what "Midtrans" knows about an order is read
from the ``Payment`` row (kept up to date by the webhook), its refunds from the last
notification stored on it, and its ids are derived from the order id. Because its
status therefore *is* our record, it cannot serve ``MIDTRANS_VERIFY_STATUS``
(``verifies_status = False``); its notifications are verified by signature only.

Notifications are signed with a key derived from ``SECRET_KEY``, never with a real
Midtrans key, and the sandbox refuses to exist with ``DEBUG`` off unless
``SUBSCRIPTIONS_SANDBOX_ALLOWED`` says otherwise.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import requests
from django.conf import settings
from django.core import signing
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from ..app_settings import app_settings, midtrans_settings
from ..exceptions import GatewayError
from ..models import ORDER_ID_RE, Payment, PaymentStatus
from .base import CheckoutSession, GatewayTransaction, PaymentGateway, notification_signature

logger = logging.getLogger(__name__)

P = PaymentStatus
JAKARTA = ZoneInfo("Asia/Jakarta")
FINISH_SALT = "subscriptions.sandbox.finish"

# Midtrans' status_code for each transaction status, as its notifications carry them.
STATUS_CODES = {
    P.PENDING: "201",
    P.AUTHORIZE: "200",
    P.CAPTURE: "200",
    P.SETTLEMENT: "200",
    P.DENY: "202",
    P.CANCEL: "200",
    P.EXPIRE: "407",
    P.FAILURE: "202",
    P.REFUND: "200",
    P.PARTIAL_REFUND: "200",
}


class SandboxNotAllowed(GatewayError):
    default_message = (
        "The payment sandbox is switched off: DEBUG is off and SUBSCRIPTIONS_SANDBOX_ALLOWED "
        "is not set. Configure MIDTRANS_SERVER_KEY to take real payments."
    )


def sandbox_allowed() -> bool:
    return bool(settings.DEBUG or app_settings.SANDBOX_ALLOWED)


# The session key holding the order ids this browser started from a hosted invoice link,
# the latest PAYER_SESSION_LIMIT of them.
PAYER_SESSION_KEY = "subscriptions.sandbox.payer"
PAYER_SESSION_LIMIT = 20


def sandbox_payer_remember(request: HttpRequest, payment: Payment) -> None:
    """This browser started ``payment`` without being its owner's session (a hosted
    invoice link): let it open the payment's sandbox page."""
    kept = [o for o in request.session.get(PAYER_SESSION_KEY, []) if o != payment.order_id]
    request.session[PAYER_SESSION_KEY] = [*kept[-(PAYER_SESSION_LIMIT - 1) :], payment.order_id]


def sandbox_page_allowed(request: HttpRequest, payment: Payment) -> bool:
    """The owner signed in, or the browser that started the payment from a hosted link."""
    user = request.user
    if user.is_authenticated and payment.user_id == user.pk:
        return True
    return payment.order_id in request.session.get(PAYER_SESSION_KEY, [])


def sandbox_server_key() -> str:
    digest = hmac.new(
        settings.SECRET_KEY.encode(), b"subscriptions.sandbox.server-key", hashlib.sha256
    ).hexdigest()
    return f"SB-Sandbox-server-{digest[:32]}"


def webhook_url() -> str:
    """Where notifications go: MIDTRANS_NOTIFICATION_URL's first URL, or our webhook."""
    override = [url.strip() for url in midtrans_settings.NOTIFICATION_URL.split(",") if url.strip()]
    if override:
        return override[0]
    return settings.SITE_URL.rstrip("/") + reverse("subscriptions:midtrans_webhook")


def midtrans_time(moment: dt.datetime | None = None) -> str:
    return (moment or timezone.now()).astimezone(JAKARTA).strftime("%Y-%m-%d %H:%M:%S")


def transaction_id_for(order_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox-transaction:{order_id}"))


def _digits(order_id: str, length: int) -> str:
    number = int(hashlib.sha256(order_id.encode()).hexdigest(), 16)
    return str(number)[:length].rjust(length, "0")


# --- Payment methods and outcomes offered on the payment page -----------------------

PAYMENT_METHODS = {
    "bank_transfer": "BCA virtual account",
    "echannel": "Mandiri bill payment",
    "gopay": "GoPay",
    "qris": "QRIS",
    "shopeepay": "ShopeePay",
    "cstore": "Indomaret",
    "credit_card": "Credit card",
}


def payment_method_fields(payment_type: str, order_id: str, status: str) -> dict[str, Any]:
    """The fields Midtrans adds to a notification for each payment method."""
    if payment_type == "bank_transfer":
        return {
            "va_numbers": [{"bank": "bca", "va_number": _digits(order_id, 11)}],
            "payment_amounts": [],
        }
    if payment_type == "echannel":
        return {"biller_code": "70012", "bill_key": _digits(order_id, 12)}
    if payment_type == "qris":
        return {"transaction_type": "on-us", "issuer": "gopay", "acquirer": "gopay"}
    if payment_type == "cstore":
        return {"store": "indomaret", "payment_code": _digits(order_id, 16)}
    if payment_type == "credit_card":
        fields = {
            "masked_card": "48111111-1114",
            "bank": "bni",
            "card_type": "credit",
            "eci": "05",
            "channel_response_code": "00" if status != P.DENY else "05",
            "channel_response_message": "Approved" if status != P.DENY else "Do not honor",
        }
        if status != P.DENY:
            fields["approval_code"] = _digits(order_id, 13)
        return fields
    return {}


@dataclass(frozen=True)
class Outcome:
    label: str
    help: str
    transaction_status: str
    fraud_status: str
    card_only: bool = False


OUTCOMES: dict[str, Outcome] = {
    "settlement": Outcome("Pay", "The payment succeeds (settlement).", P.SETTLEMENT, "accept"),
    "capture_accept": Outcome(
        "Card captured", "Card capture, fraud check accepts.", P.CAPTURE, "accept", True
    ),
    "capture_challenge": Outcome(
        "Card challenged",
        "Card capture that the fraud check challenges: staff approve or deny it.",
        P.CAPTURE,
        "challenge",
        True,
    ),
    "deny": Outcome("Deny", "The bank or fraud check refuses the card.", P.DENY, "deny", True),
    "cancel": Outcome("Cancel", "The payment is cancelled.", P.CANCEL, ""),
    "expire": Outcome("Expire", "The payment window runs out.", P.EXPIRE, ""),
    "pending": Outcome(
        "Pay later",
        "Stay pending (a virtual account waiting for the transfer); settle it later here.",
        P.PENDING,
        "accept",
    ),
}


@dataclass(frozen=True)
class Delivery:
    url: str
    status_code: int | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def finish_token(finish_url: str) -> str:
    return signing.Signer(salt=FINISH_SALT).sign(finish_url)


def finish_url_from(token: str) -> str:
    """The finish URL a signed token names, or "" (never an unsigned, open redirect)."""
    try:
        return signing.Signer(salt=FINISH_SALT).unsign(token or "")
    except signing.BadSignature:
        return ""


def finish_redirect(finish_url: str, body: dict[str, Any]) -> str:
    """Snap appends order_id, status_code and transaction_status to the finish URL."""
    query = urlencode(
        {
            "order_id": body.get("order_id", ""),
            "status_code": body.get("status_code", ""),
            "transaction_status": body.get("transaction_status", ""),
        }
    )
    return f"{finish_url}{'&' if '?' in finish_url else '?'}{query}"


def checkout_expires_at(payment: Payment) -> dt.datetime:
    return payment.created_at + dt.timedelta(minutes=app_settings.CHECKOUT_EXPIRY_MINUTES)


class SandboxGateway(PaymentGateway):
    name = "sandbox"
    verifies_status = False

    def __init__(self) -> None:
        if not sandbox_allowed():
            raise SandboxNotAllowed()

    @property
    def server_key(self) -> str:
        return sandbox_server_key()

    # --- Snap -----------------------------------------------------------------------

    def create_checkout(self, request: dict[str, Any]) -> CheckoutSession:
        details = request.get("transaction_details") or {}
        order_id, gross = details.get("order_id"), details.get("gross_amount")
        errors = []
        if not isinstance(order_id, str) or not re.match(ORDER_ID_RE, order_id):
            errors.append("transaction_details.order_id is invalid")
        elif Payment.objects.filter(order_id=order_id).exclude(snap_token="").exists():
            errors.append("transaction_details.order_id has already been taken")
        if not isinstance(gross, int) or isinstance(gross, bool) or gross < 1:
            errors.append("transaction_details.gross_amount must be a positive integer")
        items = request.get("item_details") or []
        try:
            total = sum(int(item["price"]) * int(item["quantity"]) for item in items)
        except (KeyError, TypeError, ValueError):
            errors.append("item_details are invalid")
        else:
            if items and total != gross:
                errors.append(
                    "transaction_details.gross_amount is not equal to the sum of item_details"
                )
        if errors:
            raise GatewayError(
                f"Sandbox: {'; '.join(errors)}", status_code=400, body={"error_messages": errors}
            )
        token = str(uuid.uuid4())
        redirect_url = settings.SITE_URL.rstrip("/") + reverse(
            "subscriptions:sandbox_pay", args=[token]
        )
        finish = (request.get("callbacks") or {}).get("finish") or ""
        if finish:
            redirect_url += "?" + urlencode({"finish": finish_token(finish)})
        return CheckoutSession(
            token=token,
            redirect_url=redirect_url,
            response={"token": token, "redirect_url": redirect_url},
        )

    # --- What "Midtrans" knows ---------------------------------------------------------

    def _payment(self, order_id: str) -> Payment:
        payment = Payment.objects.filter(order_id=order_id, gateway=self.name).first()
        if payment is None:
            raise GatewayError(
                "Sandbox: Transaction doesn't exist.",
                status_code=404,
                body={"status_code": "404", "status_message": "Transaction doesn't exist."},
            )
        return payment

    def transaction_body(
        self,
        payment: Payment,
        *,
        transaction_status: str | None = None,
        fraud_status: str | None = None,
        payment_type: str | None = None,
        status_code: str | None = None,
        status_message: str = "midtrans payment notification",
        extra: dict[str, Any] | None = None,
        signed: bool = True,
    ) -> dict[str, Any]:
        """A Midtrans-format transaction: a notification (signed) or an API answer."""
        status = transaction_status or payment.status
        fraud = payment.fraud_status if fraud_status is None else fraud_status
        method = payment_type or payment.payment_type or "bank_transfer"
        if status_code is None:
            status_code = (
                "201" if status == P.CAPTURE and fraud == "challenge" else STATUS_CODES[status]
            )
        gross_amount = f"{payment.gross_amount:.2f}"
        body: dict[str, Any] = {
            "transaction_time": midtrans_time(payment.created_at),
            "transaction_status": status,
            "transaction_id": payment.transaction_id or transaction_id_for(payment.order_id),
            "status_message": status_message,
            "status_code": status_code,
            "payment_type": method,
            "order_id": payment.order_id,
            "merchant_id": midtrans_settings.MERCHANT_ID or "G000SANDBOX",
            "gross_amount": gross_amount,
            "currency": payment.currency,
        }
        if fraud:
            body["fraud_status"] = fraud
        if status == P.SETTLEMENT:
            body["settlement_time"] = midtrans_time()
        if status == P.EXPIRE:
            body["expiry_time"] = midtrans_time(checkout_expires_at(payment))
        body.update(payment_method_fields(method, payment.order_id, status))
        refunds = (payment.gateway_response or {}).get("refunds")
        if isinstance(refunds, list) and refunds and status in (P.REFUND, P.PARTIAL_REFUND):
            body["refunds"] = refunds
            body["refund_amount"] = f"{payment.refunded_amount:.2f}"
        if extra:
            body.update(extra)
        if signed:
            body["signature_key"] = notification_signature(
                payment.order_id, status_code, gross_amount, self.server_key
            )
        return body

    def notify(self, body: dict[str, Any]) -> Delivery:
        """POST a notification to our webhook over real HTTP, as Midtrans would."""
        url = webhook_url()
        try:
            # bandit B113 misses the timeout: it is SANDBOX_NOTIFY_TIMEOUT (connect, read).
            response = requests.post(  # nosec B113
                url,
                data=json.dumps(body),
                headers={
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                    "User-Agent": "Midtrans-Sandbox/1.0 (billing-portal)",
                },
                timeout=tuple(app_settings.SANDBOX_NOTIFY_TIMEOUT),
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            logger.warning("Sandbox notification to %s failed: %s", url, exc)
            return Delivery(url=url, error=str(exc))
        if not 200 <= response.status_code < 300:
            logger.warning("Sandbox notification to %s answered HTTP %s", url, response.status_code)
        return Delivery(url=url, status_code=response.status_code)

    def complete(
        self, payment: Payment, *, outcome: str, payment_type: str
    ) -> tuple[dict, Delivery]:
        """The person's choice on the payment page: notify it and return what was sent."""
        choice = OUTCOMES[outcome]
        if choice.card_only:
            payment_type = "credit_card"
        body = self.transaction_body(
            payment,
            transaction_status=choice.transaction_status,
            fraud_status=choice.fraud_status,
            payment_type=payment_type,
        )
        return body, self.notify(body)

    # --- Core API ----------------------------------------------------------------------

    def get_status(self, order_id: str) -> GatewayTransaction:
        payment = self._payment(order_id)
        body = self.transaction_body(
            payment, status_message="Success, transaction is found", signed=False
        )
        return GatewayTransaction.from_body(body)

    def _refuse(self, message: str, code: int = 412) -> GatewayError:
        return GatewayError(
            f"Sandbox: {message}",
            status_code=code,
            body={"status_code": str(code), "status_message": message},
        )

    def _act(self, payment: Payment, *, status: str, fraud: str | None, message: str, code=None):
        notification = self.transaction_body(payment, transaction_status=status, fraud_status=fraud)
        self.notify(notification)
        answer = self.transaction_body(
            payment,
            transaction_status=status,
            fraud_status=fraud,
            status_code=code,
            status_message=message,
            signed=False,
        )
        return GatewayTransaction.from_body(answer)

    def cancel(self, order_id: str) -> GatewayTransaction:
        payment = self._payment(order_id)
        if payment.status not in (P.PENDING, P.AUTHORIZE, P.CAPTURE):
            raise self._refuse("Merchant cannot modify the status of the transaction")
        return self._act(
            payment, status=P.CANCEL, fraud=None, message="Success, transaction is canceled"
        )

    def expire(self, order_id: str) -> GatewayTransaction:
        payment = self._payment(order_id)
        if payment.status != P.PENDING:
            raise self._refuse("Merchant cannot modify the status of the transaction")
        return self._act(
            payment,
            status=P.EXPIRE,
            fraud=None,
            message="Success, transaction has expired",
            code="407",
        )

    def _challenged(self, order_id: str) -> Payment:
        payment = self._payment(order_id)
        if payment.status != P.CAPTURE or payment.fraud_status != "challenge":
            raise self._refuse("Only a challenged card payment can be approved or denied")
        return payment

    def approve(self, order_id: str) -> GatewayTransaction:
        payment = self._challenged(order_id)
        return self._act(
            payment, status=P.CAPTURE, fraud="accept", message="Success, transaction is approved"
        )

    def deny(self, order_id: str) -> GatewayTransaction:
        payment = self._challenged(order_id)
        return self._act(
            payment, status=P.DENY, fraud="deny", message="Success, transaction is denied"
        )

    def refund(
        self, order_id: str, *, amount: int, refund_key: str, reason: str
    ) -> GatewayTransaction:
        payment = self._payment(order_id)
        if payment.status not in (P.SETTLEMENT, P.CAPTURE, P.PARTIAL_REFUND) or not payment.is_paid:
            raise self._refuse("Merchant cannot modify the status of the transaction")
        refunds = list((payment.gateway_response or {}).get("refunds") or [])
        previous = next((r for r in refunds if r.get("refund_key") == refund_key), None)
        if previous is not None:
            # The same refund_key is a retry of the same refund: answer it again.
            return GatewayTransaction.from_body(
                self.transaction_body(
                    payment,
                    status_message="Success, refund request is approved",
                    extra={**previous, "refunds": refunds},
                    signed=False,
                )
            )
        refunded = payment.refunded_amount + Decimal(amount)
        if amount < 1 or refunded > payment.gross_amount:
            raise self._refuse("Refund request is rejected due to invalid amount", 414)
        refund = {
            "refund_chargeback_id": len(refunds) + 1,
            "refund_amount": f"{Decimal(amount):.2f}",
            "created_at": midtrans_time(),
            "reason": reason,
            "refund_key": refund_key,
            "refund_method": "online",
        }
        refunds.append(refund)
        status = P.REFUND if refunded == payment.gross_amount else P.PARTIAL_REFUND
        notification = self.transaction_body(
            payment,
            transaction_status=status,
            extra={"refunds": refunds, "refund_amount": f"{refunded:.2f}"},
        )
        self.notify(notification)
        answer = self.transaction_body(
            payment,
            transaction_status=status,
            status_message="Success, refund request is approved",
            extra={
                "refund_chargeback_id": refund["refund_chargeback_id"],
                "refund_amount": refund["refund_amount"],
                "refund_key": refund_key,
                # Not in Midtrans' answer; kept so the refund history survives on the
                # payment row even when the notification could not be delivered.
                "refunds": refunds,
            },
            signed=False,
        )
        return GatewayTransaction.from_body(answer)
