"""The Midtrans notification webhook: ``POST /webhooks/midtrans/``.

Modelled on dj-stripe's ``WebhookEventTrigger``, with what an unauthenticated request
can cost us bounded:

1. At most ``SUBSCRIPTIONS_WEBHOOK_MAX_BODY_BYTES`` (64 KiB; Midtrans' notifications are
   a few KB) of the body is read, from the request stream (``request.body`` would first
   read up to ``DATA_UPLOAD_MAX_MEMORY_SIZE`` into memory). A larger body, by its declared
   Content-Length or by what arrives, is refused 413 after reading only the prefix we keep.
2. The body must be a JSON object with Midtrans' fields as strings (else 400).
3. ``signature_key`` must equal SHA512(order_id + status_code + gross_amount +
   server key), computed on the strings exactly as received and compared in
   constant time (else 401). Steps 1-3 touch no database, so an unsigned request
   cannot even learn which order ids exist.
4. Every request is kept as a ``WebhookLog`` with its size, remote address and a few
   selected headers (``KEPT_HEADERS``; never a credential). A validly signed notification
   is stored whole, in its own commit, before anything is looked up, so that even one we
   fail to process is on record and can be reprocessed from the admin. A request refused
   in steps 1-3 is written once, with its outcome, keeping only the first
   ``KEPT_UNVERIFIED_BYTES`` of its body: enough for staff to see an attack, no way to
   fill the database. ``manage.py prune_webhook_logs`` (run at the end of
   ``manage.py run_billing``) deletes old logs, never a processed one.
5. An unknown order id is ``ignored`` (200): the Midtrans account may serve others.
6. ``gross_amount`` must be an amount (else ``rejected``) equal to our payment's, the
   ``currency`` (when present, a string) our payment's, and ``status_code`` must go
   with ``transaction_status`` (the signature does not cover the latter) (else 403).
7. With ``MIDTRANS_VERIFY_STATUS`` the status is re-fetched from the Core API (outside
   any transaction) and that answer is applied instead of the notification's fields.
8. The change is applied inside one transaction by the settlement
   (``services/settlement.py``: it locks the invoice, then the payment); the log's
   outcome is saved in the same transaction. A repeated status is a
   ``duplicate`` and an out-of-order one is ``ignored``: neither changes anything.

Answers. Midtrans stops only on a 2xx, and retries a 503 four times (a 500 once), so 503
is kept for what a retry can fix:

=========  ====  ======================================================================
status     HTTP  when
=========  ====  ======================================================================
processed  200   the notification changed the payment
duplicate  200   the payment already has that status
ignored    200   not ours (unknown order id or transaction status), or out of order
rejected   200   authentic but never applicable: ``gross_amount`` is not an amount
                 (NaN, Infinity, 1e999999999), a billing rule refuses it (a refund larger
                 than the payment; Midtrans' status query refusing), a value the database
                 cannot hold (``DataError``), arithmetic on its numbers failing. The same
                 body fails the same way every time, so Midtrans is told to stop; staff
                 find it under status "rejected" and can reprocess it.
invalid    400   not a JSON object with Midtrans' fields as strings
invalid    401   the signature does not match
invalid    403   signed, but its amount, currency or status code is not our payment's
invalid    413   the body is over ``SUBSCRIPTIONS_WEBHOOK_MAX_BODY_BYTES``
failed     503   a retry may fix it: any database error but ``DataError`` (unreachable,
                 a lock timeout, a deadlock, a migration half applied), Midtrans
                 unreachable while verifying (``GatewayUnavailable``), the gateway not
                 configured here yet; and any exception nobody planned for, because we
                 cannot tell a bug from an outside service being down (it is logged with
                 its traceback, and the stored notification can be reprocessed)
=========  ====  ======================================================================

Nothing here answers 500.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import DatabaseError, DataError, transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse, UnreadablePostError
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .app_settings import app_settings, midtrans_settings
from .client_ip import client_ip
from .exceptions import AmountMismatch, BillingError, GatewayError, GatewayUnavailable
from .gateways import GatewayTransaction, PaymentGateway, get_gateway
from .gateways.base import parse_amount
from .models import Payment, PaymentStatus, WebhookLog, WebhookStatus
from .money import round_money
from .services.settlement import check_transaction_matches, payment_apply_gateway_transaction

logger = logging.getLogger(__name__)

REQUIRED_FIELDS = ("order_id", "status_code", "gross_amount", "signature_key", "transaction_status")
# The request headers kept with a log: enough to trace where a request came from, and
# never a credential (no Authorization, no Cookie). Each value is cut at KEPT_HEADER_CHARS.
KEPT_HEADERS = (
    "Content-Type",
    "Content-Length",
    "User-Agent",
    "X-Forwarded-For",
    "X-Real-IP",
    "Forwarded",
    "Host",
    "Origin",
    "Referer",
)
KEPT_HEADER_CHARS = 500
# Of a request that was never validly signed, only this much of the body is kept.
KEPT_UNVERIFIED_BYTES = 2048
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
    """Processing stops here with ``result``: a refusal, or a failure decided on the spot."""

    def __init__(self, status: str, http_status: int, detail: str, *, signature_valid=None):
        super().__init__(detail)
        self.result = WebhookResult(status, http_status, detail)
        self.signature_valid = signature_valid


def _clean(text: str, limit: int | None = None) -> str:
    # PostgreSQL text and jsonb cannot hold NUL characters.
    text = text.replace("\x00", "\ufffd")
    return text[:limit] if limit else text


def _read_body(request: HttpRequest, limit: int) -> tuple[bytes, int]:
    """The body and its size in bytes: all of it up to ``limit``; of a larger one only
    the prefix that is kept (with the declared size) or ``limit + 1`` bytes (when more
    arrives than was declared), never the rest."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return request.read(KEPT_UNVERIFIED_BYTES), declared
    raw = request.read(limit + 1)
    return raw, len(raw)


def _kept_headers(request: HttpRequest) -> dict[str, str]:
    return {
        name: _clean(value, KEPT_HEADER_CHARS)
        for name in KEPT_HEADERS
        if (value := request.headers.get(name)) is not None
    }


def _prefix(text: str) -> str:
    """The first ``KEPT_UNVERIFIED_BYTES`` of ``text`` in UTF-8 (no character split)."""
    return text.encode("utf-8")[:KEPT_UNVERIFIED_BYTES].decode("utf-8", errors="ignore")


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
    # Malformed, not transient: PostgreSQL text cannot hold NUL and UTF-8 has no unpaired
    # surrogate ("\ud800" in the JSON), so the signature, the order id lookup or the log
    # would fail on them, and Midtrans would retry in vain.
    if not all(_is_text(body[name]) for name in REQUIRED_FIELDS):
        raise Rejected(
            WebhookStatus.INVALID, 400, "A field holds a NUL character or an unpaired surrogate."
        )
    return body


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in value


def _amount(value: str, currency: str) -> Decimal | None:
    """``value`` rounded as ``currency`` is charged, or None when it is no amount at all:
    not a number, NaN, Infinity, or too large to round ("1e999999999" raises
    InvalidOperation in ``quantize``)."""
    amount = parse_amount(value)
    if amount is None:
        return None
    try:
        return round_money(amount, currency)
    except ArithmeticError:
        return None


def _shown(value: Any) -> str:
    return _clean(repr(value), 60)


def _check_amount(payment: Payment, body: dict[str, Any]) -> None:
    amount = _amount(body["gross_amount"], payment.currency)
    if amount is None:
        # Signed by Midtrans, so not a forgery, and no retry will make it a number.
        raise Rejected(
            WebhookStatus.REJECTED,
            200,
            f"gross_amount {_shown(body['gross_amount'])} is not an amount.",
            signature_valid=True,
        )
    if amount != round_money(payment.gross_amount, payment.currency):
        raise Rejected(
            WebhookStatus.INVALID,
            403,
            f"gross_amount {_shown(body['gross_amount'])} does not match the payment's "
            f"{payment.gross_amount}.",
            signature_valid=True,
        )
    # Absent is taken as the payment's own; anything else (null, a number) must be it.
    currency = body.get("currency", payment.currency)
    if not isinstance(currency, str) or currency.upper() != payment.currency.upper():
        raise Rejected(
            WebhookStatus.INVALID,
            403,
            f"currency {_shown(currency)} does not match the payment's {payment.currency}.",
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
    if log.pk is not None:
        log.save(update_fields={"status", "error", "processed_at", *learned, *fields})
        return
    # Not stored yet: refused before its signature was found valid (or storing it
    # failed). A request never validly signed keeps only a prefix of its body.
    if result.status == WebhookStatus.INVALID and not log.signature_valid:
        log.body = _prefix(log.body)
    log.save()


def webhook_process(*, log: WebhookLog, gateway: PaymentGateway | None = None) -> WebhookResult:
    """Process a notification: a fresh one (not stored yet; see the module docstring for
    what is kept of it) or a stored one reprocessed from the admin."""
    try:
        return _process(log, gateway)
    except Rejected as rejection:
        result = rejection.result
        extra = {}
        if rejection.signature_valid is not None:
            extra["signature_valid"] = rejection.signature_valid
        _save_quietly(log, result, **extra)
        return result
    except GatewayUnavailable as error:
        # Midtrans unreachable while verifying: it may answer on the retry.
        result = _failed(log, error)
    except BillingError as error:
        # A billing rule refuses the change (a refund larger than the payment, Midtrans'
        # status query refusing): the same body is refused the same way every time.
        logger.warning("Webhook %s rejected: %s", log.pk, error)
        result = WebhookResult(WebhookStatus.REJECTED, 200, f"{type(error).__name__}: {error}")
    except (DataError, ArithmeticError) as error:
        # A value the database cannot hold (a field longer than its column) or numbers our
        # arithmetic cannot handle: as permanent as the body itself.
        logger.warning("Webhook %s rejected", log.pk, exc_info=True)
        result = WebhookResult(WebhookStatus.REJECTED, 200, f"{type(error).__name__}: {error}")
    except DatabaseError as error:
        # A lost connection, a lock timeout, a deadlock, a migration half applied.
        result = _failed(log, error)
    except Exception as error:
        # Nobody planned for it: a bug, or an outside service a receiver uses being down.
        # We cannot tell which, so Midtrans is asked to retry; staff can reprocess the
        # stored notification once it is fixed.
        logger.exception("Webhook %s could not be processed", log.pk)
        result = WebhookResult(WebhookStatus.FAILED, 503, f"{type(error).__name__}: {error}")
    _save_quietly(log, result)
    return result


def _failed(log: WebhookLog, error: Exception) -> WebhookResult:
    """A transient failure: 503 makes Midtrans retry; the notification stays on record."""
    logger.warning("Webhook %s failed: %s", log.pk, error)
    return WebhookResult(WebhookStatus.FAILED, 503, f"{type(error).__name__}: {error}")


def _save_quietly(log: WebhookLog, result: WebhookResult, **fields) -> None:
    """Record the outcome; failing to is logged, never raised (the answer stands)."""
    try:
        try:
            _save(log, result, **fields)
        except DatabaseError:
            # Linking the log to its payment checks the foreign key, which waits on a
            # lock someone else holds on the payment row (the very failure being
            # recorded, often): record the outcome without the link rather than not at all.
            _save(
                log,
                result,
                learned=("order_id", "transaction_status", "signature_valid"),
                **fields,
            )
    except Exception:
        logger.exception("Could not record the outcome of webhook %s", log.pk)


def _gateway() -> PaymentGateway:
    try:
        return get_gateway()
    except GatewayError as error:
        # Not usable here (no server key; the sandbox refused in production): fixed by
        # configuring it, and Midtrans' retry then goes through.
        raise Rejected(WebhookStatus.FAILED, 503, f"The gateway cannot be used: {error}") from error


def _process(log: WebhookLog, gateway: PaymentGateway | None) -> WebhookResult:
    body = _parse(log.body)
    log.order_id = _clean(body["order_id"], 100)
    log.transaction_status = _clean(body["transaction_status"], 30)

    gateway = gateway or _gateway()
    if not gateway.verify_notification(body):
        raise Rejected(
            WebhookStatus.INVALID, 401, "The signature does not match.", signature_valid=False
        )
    log.signature_valid = True
    if log.pk is None:
        # Authentic: on record, whole and in its own commit, before anything is looked up.
        log.save()

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
    if log.body_size is not None and len(log.body.encode("utf-8")) < log.body_size:
        raise BillingError(
            f"Only the first {KEPT_UNVERIFIED_BYTES} bytes of webhook {log.pk} were kept "
            f"(of {log.body_size}): it was never validly signed and cannot be reprocessed."
        )
    return webhook_process(log=log)


def _prunable_logs(
    *, now: dt.datetime, days: int | None = None, unverified_days: int | None = None
) -> QuerySet[WebhookLog]:
    """The logs past their age: every log but a ``processed`` one (the record of a change
    to a payment, kept for good) after ``days``; a request never validly signed
    (``invalid`` without a valid signature: malformed, unsigned, too large) after
    ``unverified_days``. The ages default to their settings and must be at least a day."""
    if days is None:
        days = app_settings.WEBHOOK_LOG_RETENTION_DAYS
    if unverified_days is None:
        unverified_days = app_settings.WEBHOOK_UNVERIFIED_LOG_RETENTION_DAYS
    if days < 1 or unverified_days < 1:
        raise ValueError("Webhook logs are kept for at least a day.")
    never_signed = Q(status=WebhookStatus.INVALID) & (
        Q(signature_valid=False) | Q(signature_valid__isnull=True)
    )
    return WebhookLog.objects.exclude(status=WebhookStatus.PROCESSED).filter(
        Q(created_at__lt=now - dt.timedelta(days=days))
        | (never_signed & Q(created_at__lt=now - dt.timedelta(days=unverified_days)))
    )


def webhook_logs_prune(
    *,
    now: dt.datetime | None = None,
    days: int | None = None,
    unverified_days: int | None = None,
    batch_size: int | None = None,
    dry_run: bool = False,
) -> int:
    """Delete the logs past their age (``_prunable_logs``), ``batch_size`` at a time (memory
    stays flat however many there are); returns how many went (or would, ``dry_run``)."""
    prunable = _prunable_logs(now=now or timezone.now(), days=days, unverified_days=unverified_days)
    if dry_run:
        return prunable.count()
    batch_size = batch_size or app_settings.BILLING_BATCH_SIZE
    deleted, last = 0, 0
    while batch := list(
        prunable.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch_size]
    ):
        last = batch[-1]
        # The conditions are repeated: a log reprocessed into "processed" meanwhile stays.
        deleted += prunable.filter(pk__in=batch).delete()[0]
    return deleted


@csrf_exempt  # the only CSRF-exempt view: Midtrans cannot send our token; the signature stands in
@require_POST
def midtrans_webhook(request: HttpRequest) -> HttpResponse:
    limit = app_settings.WEBHOOK_MAX_BODY_BYTES
    try:
        raw, size = _read_body(request, limit)
    except UnreadablePostError:
        # The sender went away mid-body: nobody is left to answer, nothing worth keeping.
        return HttpResponse(status=400)
    log = WebhookLog(
        provider="midtrans",
        body=_clean(raw.decode("utf-8", errors="replace")),
        body_size=size,
        headers=_kept_headers(request),
        remote_addr=client_ip(request),
    )
    if size > limit:
        result = WebhookResult(
            WebhookStatus.INVALID, 413, f"The body ({size} bytes) is over the {limit}-byte limit."
        )
        _save_quietly(log, result)
    else:
        result = webhook_process(log=log)
    return JsonResponse(
        {"status": result.status, "detail": result.detail}, status=result.http_status
    )
