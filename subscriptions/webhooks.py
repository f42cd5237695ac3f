"""The Midtrans notification webhook: ``POST /webhooks/midtrans/``.

Modelled on dj-stripe's ``WebhookEventTrigger``:

1. The raw request (body, headers, remote address) is stored as a ``WebhookLog``
   before anything else, in its own commit, so that even a notification we fail to
   process is on record and can be reprocessed from the admin.
2. The body must be a JSON object with Midtrans' fields as strings (else 400).
3. ``signature_key`` must equal SHA512(order_id + status_code + gross_amount +
   server key), computed on the strings exactly as received and compared in
   constant time (else 401). It is checked before we look anything up, so an
   unsigned request cannot even learn which order ids exist.
4. An unknown order id is ``ignored`` (200): the Midtrans account may serve others.
5. ``gross_amount`` and ``currency`` must match our payment, and ``status_code`` must
   go with ``transaction_status`` (the signature does not cover the latter) (else 403).
6. With ``MIDTRANS_VERIFY_STATUS`` the status is re-fetched from the Core API (outside
   any transaction) and that answer is applied instead of the notification's fields.
7. The change is applied inside one transaction by the settlement
   (``services/settlement.py``: it locks the invoice, then the payment); the log's
   outcome is saved in the same transaction. A repeated status is a
   ``duplicate`` and an out-of-order one is ``ignored``: neither changes anything.

Answers: 200 processed / duplicate / ignored; 400 malformed; 401 bad signature;
403 amount or currency mismatch; 503 when processing failed (a database hiccup, the
gateway unreachable for verification, anything unexpected) so that Midtrans retries
(it retries a 503 four times, a 500 only once). Nothing here answers 500.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any

from django.db import DatabaseError, transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .app_settings import midtrans_settings
from .exceptions import AmountMismatch, BillingError, GatewayError
from .gateways import GatewayTransaction, PaymentGateway, get_gateway
from .gateways.base import parse_amount
from .models import Payment, PaymentStatus, WebhookLog, WebhookStatus
from .money import round_money
from .services.settlement import check_transaction_matches, payment_apply_gateway_transaction

logger = logging.getLogger(__name__)

REQUIRED_FIELDS = ("order_id", "status_code", "gross_amount", "signature_key", "transaction_status")
# Never keep credentials that a proxy or browser might add to the request.
SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-csrftoken"})
MAX_STORED_BODY = 1_000_000
SUCCESS_STATUSES = frozenset(
    {
        PaymentStatus.SETTLEMENT,
        PaymentStatus.CAPTURE,
        PaymentStatus.REFUND,
        PaymentStatus.PARTIAL_REFUND,
    }
)


@dataclass(frozen=True)
class WebhookResult:
    status: str  # a WebhookStatus value
    http_status: int
    detail: str = ""


class Rejected(Exception):
    def __init__(self, status: str, http_status: int, detail: str, *, signature_valid=None):
        super().__init__(detail)
        self.result = WebhookResult(status, http_status, detail)
        self.signature_valid = signature_valid


def _clean(text: str, limit: int | None = None) -> str:
    # PostgreSQL text and jsonb cannot hold NUL characters.
    text = text.replace("\x00", "\ufffd")
    return text[:limit] if limit else text


def _remote_addr(request: HttpRequest) -> str | None:
    value = request.META.get("REMOTE_ADDR") or ""
    try:
        return str(ip_address(value))
    except ValueError:
        return None


def webhook_log_store(
    *, body: bytes, headers: dict[str, str], remote_addr: str | None
) -> WebhookLog:
    """Store the raw notification (its own commit; nothing is parsed yet)."""
    return WebhookLog.objects.create(
        provider="midtrans",
        body=_clean(body.decode("utf-8", errors="replace"), MAX_STORED_BODY),
        headers={
            _clean(str(name), 200): _clean(str(value), 2000)
            for name, value in headers.items()
            if str(name).lower() not in SECRET_HEADERS
        },
        remote_addr=remote_addr,
    )


def _parse(raw: str) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise Rejected(WebhookStatus.INVALID, 400, "The body is not JSON.") from None
    if not isinstance(body, dict):
        raise Rejected(WebhookStatus.INVALID, 400, "The body is not a JSON object.")
    missing = [name for name in REQUIRED_FIELDS if not isinstance(body.get(name), str)]
    if missing:
        raise Rejected(
            WebhookStatus.INVALID, 400, f"Missing or non-string fields: {', '.join(missing)}."
        )
    # Malformed, not transient: on PostgreSQL the order id lookup would fail (text cannot
    # hold NUL) and answer 503, and Midtrans would retry it in vain.
    if any("\x00" in body[name] for name in REQUIRED_FIELDS):
        raise Rejected(WebhookStatus.INVALID, 400, "A field holds a NUL character.")
    return body


def _check_amount(payment: Payment, body: dict[str, Any]) -> None:
    amount = parse_amount(body["gross_amount"])
    if amount is None:
        raise Rejected(WebhookStatus.INVALID, 400, "gross_amount is not a number.")
    if round_money(amount, payment.currency) != round_money(payment.gross_amount, payment.currency):
        raise Rejected(
            WebhookStatus.INVALID,
            403,
            f"gross_amount {body['gross_amount']} does not match the payment's {payment.gross_amount}.",
            signature_valid=True,
        )
    currency = body.get("currency")
    if currency is not None and (
        not isinstance(currency, str) or currency.upper() != payment.currency.upper()
    ):
        raise Rejected(
            WebhookStatus.INVALID,
            403,
            f"currency {currency!r} does not match the payment's {payment.currency}.",
            signature_valid=True,
        )


def _check_status_code(transaction_: GatewayTransaction) -> None:
    """The signature covers status_code but not transaction_status, so the two must
    agree: Midtrans confirms money (settlement, accepted capture, refund) with 200, and
    201 belongs to pending or a challenged capture only. Without this, a genuine
    "pending" notification relabelled "settlement" would still carry a valid signature.
    """
    status, code = transaction_.transaction_status, transaction_.status_code
    challenged = status == PaymentStatus.CAPTURE and transaction_.fraud_status == "challenge"
    if status == PaymentStatus.CAPTURE:
        # A capture the fraud check challenged (201) or denied (202) moved no money.
        money_moved = transaction_.fraud_status in ("accept", "")
    else:
        money_moved = status in SUCCESS_STATUSES
    if (money_moved and code != "200") or (
        code == "201"
        and status not in (PaymentStatus.PENDING, PaymentStatus.AUTHORIZE)
        and not challenged
    ):
        raise Rejected(
            WebhookStatus.INVALID,
            403,
            f"status_code {code} does not go with transaction_status {status}.",
            signature_valid=True,
        )


# What processing learns about a stored notification (its order id and status, whether
# the signature held, its payment): set on the log as it goes and written with the
# outcome in one UPDATE (inside the transaction that applies it), not one autocommit
# UPDATE (and one WAL flush) each.
LEARNED_FIELDS = ("order_id", "transaction_status", "signature_valid", "payment")


def _save(
    log: WebhookLog, result: WebhookResult, *, learned: tuple = LEARNED_FIELDS, **fields
) -> None:
    log.status = result.status
    log.error = _clean(result.detail if result.status != WebhookStatus.PROCESSED else "")
    log.processed_at = timezone.now()
    for name, value in fields.items():
        setattr(log, name, value)
    log.save(update_fields={"status", "error", "processed_at", *learned, *fields})


def webhook_process(*, log: WebhookLog, gateway: PaymentGateway | None = None) -> WebhookResult:
    """Process a stored notification (a fresh one, or one reprocessed from the admin)."""
    try:
        return _process(log, gateway)
    except Rejected as rejection:
        result = rejection.result
        extra = {}
        if rejection.signature_valid is not None:
            extra["signature_valid"] = rejection.signature_valid
        _save_quietly(log, result, **extra)
        return result
    except (DatabaseError, GatewayError) as error:
        # Transient (a lock timeout, a lost connection, Midtrans unreachable while
        # verifying): 503 makes Midtrans retry; the raw log stays for reprocessing.
        logger.warning("Webhook %s failed: %s", log.pk, error)
        result = WebhookResult(WebhookStatus.FAILED, 503, f"{type(error).__name__}: {error}")
    except Exception as error:
        # A bug or a billing rule refusing the change: keep the notification, tell
        # Midtrans to come back, and let staff reprocess it once it is fixed.
        logger.exception("Webhook %s could not be processed", log.pk)
        result = WebhookResult(WebhookStatus.FAILED, 503, f"{type(error).__name__}: {error}")
    _save_quietly(log, result)
    return result


def _save_quietly(log: WebhookLog, result: WebhookResult, **fields) -> None:
    try:
        _save(log, result, **fields)
    except DatabaseError:
        # Linking the log to its payment checks the foreign key, which waits on a
        # lock someone else holds on the payment row (the very failure being recorded,
        # often): record the outcome without the link rather than not at all.
        try:
            _save(
                log,
                result,
                learned=("order_id", "transaction_status", "signature_valid"),
                **fields,
            )
        except DatabaseError:
            logger.exception("Could not record the outcome of webhook %s", log.pk)


def _process(log: WebhookLog, gateway: PaymentGateway | None) -> WebhookResult:
    body = _parse(log.body)
    log.order_id = _clean(body["order_id"], 100)
    log.transaction_status = _clean(body["transaction_status"], 30)

    gateway = gateway or get_gateway()
    if not gateway.verify_notification(body):
        raise Rejected(
            WebhookStatus.INVALID, 401, "The signature does not match.", signature_valid=False
        )
    log.signature_valid = True

    if midtrans_settings.VERIFY_STATUS and gateway.verifies_status:
        return _process_verified(log, body, gateway)
    # The notification's own fields are applied, with the outcome saved in the same
    # transaction. The payment is read without a lock (only its order id, amount and
    # invoice are checked here, which never change); the settlement then locks its
    # invoice and the payment, in its lock order.
    with transaction.atomic():
        payment = Payment.objects.filter(order_id=body["order_id"]).first()
        transaction_ = _checked(log, payment, body)
        if transaction_ is None:
            result = _ignored(payment, body)
        else:
            update = payment_apply_gateway_transaction(payment=payment, transaction=transaction_)
            result = _result(update, transaction_)
        _save(log, result)
    return result


def _process_verified(
    log: WebhookLog, body: dict[str, Any], gateway: PaymentGateway
) -> WebhookResult:
    """``MIDTRANS_VERIFY_STATUS``: the status is asked of the Core API (outside any
    transaction: no row is locked during the call) and that answer is applied."""
    payment = Payment.objects.filter(order_id=body["order_id"]).first()
    notified = _checked(log, payment, body)
    if notified is None:
        result = _ignored(payment, body)
        _save(log, result)
        return result
    # The notification is authentic; this also makes sure it is the latest word.
    transaction_ = gateway.get_status(payment.order_id)
    try:
        check_transaction_matches(payment, transaction_)
    except (AmountMismatch, GatewayError) as error:
        raise Rejected(WebhookStatus.INVALID, 403, str(error)) from error

    with transaction.atomic():
        update = payment_apply_gateway_transaction(payment=payment, transaction=transaction_)
        result = _result(update, transaction_)
        _save(log, result)
    return result


def _checked(
    log: WebhookLog, payment: Payment | None, body: dict[str, Any]
) -> GatewayTransaction | None:
    """The notification, checked against its payment (amount, currency, status code);
    ``None`` when it is not ours to apply (no such payment, an unknown status)."""
    if payment is None:
        return None
    log.payment = payment
    _check_amount(payment, body)
    notified = GatewayTransaction.from_body(body)
    if notified.transaction_status not in PaymentStatus.values:
        return None
    _check_status_code(notified)
    return notified


def _ignored(payment: Payment | None, body: dict[str, Any]) -> WebhookResult:
    if payment is None:
        return WebhookResult(WebhookStatus.IGNORED, 200, "No payment has this order id.")
    return WebhookResult(
        WebhookStatus.IGNORED,
        200,
        f"Unknown transaction status {body['transaction_status']!r}.",
    )


def _result(update, transaction_: GatewayTransaction) -> WebhookResult:
    if update.outcome == "applied":
        return WebhookResult(WebhookStatus.PROCESSED, 200)
    if update.outcome == "duplicate":
        return WebhookResult(
            WebhookStatus.DUPLICATE, 200, f"The payment is already {update.payment.status}."
        )
    return WebhookResult(
        WebhookStatus.IGNORED,
        200,
        f"Out of order: the payment is already {update.payment.status}; "
        f"{transaction_.transaction_status} is not applied.",
    )


def webhook_reprocess(*, log: WebhookLog) -> WebhookResult:
    """Run a stored notification through the webhook again (admin action)."""
    log = WebhookLog.objects.get(pk=log.pk)
    if log.status in (WebhookStatus.PROCESSED, WebhookStatus.DUPLICATE):
        raise BillingError(f"Webhook {log.pk} was already applied ({log.status}).")
    return webhook_process(log=log)


@csrf_exempt  # the only CSRF-exempt view: Midtrans cannot send our token; the signature stands in
@require_POST
def midtrans_webhook(request: HttpRequest) -> JsonResponse:
    try:
        log = webhook_log_store(
            body=request.body, headers=dict(request.headers), remote_addr=_remote_addr(request)
        )
    except DatabaseError:
        logger.exception("Could not store a webhook")
        return JsonResponse(
            {"status": WebhookStatus.FAILED, "detail": "Try again later."}, status=503
        )
    result = webhook_process(log=log)
    return JsonResponse(
        {"status": result.status, "detail": result.detail}, status=result.http_status
    )
