"""The Midtrans webhook under attack and under failure (extends ``test_webhook.py``).

- Fuzzing: random headers, content types, encodings, unicode, NUL bytes and bodies far
  larger than any notification never give a 5xx, and nothing that lacks a valid
  signature changes a payment; every request is on record (a bounded prefix of those
  never validly signed: ``test_webhook_limits.py``).
- Replay: an old notification delivered again (a settlement after a later refund, a
  settlement for a payment already settled) changes nothing.
- Failure: a real database error in the middle of processing (a receiver's query
  failing; on PostgreSQL, the payment row held by another connection past
  ``lock_timeout``) answers 503, keeps nothing of the attempt, and Midtrans' retry
  then has exactly one effect: one payment, one invoice paid, one receipt, one credit.

Nothing of ours is mocked: notifications are signed with the configured key as
Midtrans signs them, and the database errors are raised by the database.
"""

from __future__ import annotations

import json
import threading
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection, connections, transaction
from django.test import Client
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from subscriptions import signals
from subscriptions.models import Payment, WebhookLog
from subscriptions.tests.factories import PaymentFactory
from subscriptions.webhooks import KEPT_UNVERIFIED_BYTES
from wallets.models import TopUp, WalletTransaction
from wallets.services import wallet_get_or_create

from . import test_webhook
from .midtrans_samples import as_json, notification
from .test_webhook import URL, make_payment, post, settle

# The webhook tests' fixtures: Midtrans configured with the test key, alice's pending
# payment for a 150,000 invoice, and a recorder of the payment and invoice signals.
midtrans = test_webhook.midtrans
payment = test_webhook.payment
recorder = test_webhook.recorder


def snapshot(payment: Payment) -> tuple:
    payment.refresh_from_db()
    invoice = payment.invoice
    return (
        payment.status,
        payment.is_paid,
        payment.refunded_amount,
        payment.fraud_status,
        invoice and invoice.status,
        payment.subscription and payment.subscription.status,
    )


def refund(payment: Payment, amount: str, status: str = "refund") -> dict:
    return notification(
        "gopay",
        order_id=payment.order_id,
        gross_amount="150000.00",
        transaction_status=status,
        refund_amount=amount,
        refunds=[{"refund_chargeback_id": 1, "refund_amount": amount, "refund_key": "k1"}],
    )


def topup_payment(user, amount: str = "100000") -> Payment:
    """A pending Midtrans payment for a wallet top-up (as topup_checkout_start leaves it)."""
    payment = PaymentFactory(user=user, gross_amount=Decimal(amount), gateway="midtrans")
    TopUp.objects.create(
        wallet=wallet_get_or_create(user=user),
        user=user,
        amount=Decimal(amount),
        order_id=payment.order_id,
        payment=payment,
    )
    return payment


# --- Fuzzing: headers, content types, encodings, sizes --------------------------------------

CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=utf-16",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=----x",
    "application/xml",
    "",
    "application/json; charset=no-such-charset",
    "ü/ñ; charset=\u202e",
]
header_names = st.text(
    alphabet=st.characters(codec="ascii", categories=["L", "N"]) | st.sampled_from("-_"),
    min_size=1,
    max_size=20,
)
header_values = st.text(max_size=60).filter(lambda s: "\n" not in s and "\r" not in s)


def unsigned_variants(body: dict) -> st.SearchStrategy[dict]:
    """A real notification for our payment, changed so that its signature no longer fits
    (or was never made with our key)."""
    field = st.sampled_from(["order_id", "status_code", "gross_amount", "signature_key"])
    noise = st.text(min_size=1, max_size=30) | st.sampled_from(["\x00", "é", "🙂", "\u202e"])
    return st.builds(
        lambda name, extra: {**body, name: str(body[name]) + extra}, field, noise
    ) | st.builds(lambda key: {**body, "signature_key": key}, st.text(max_size=140))


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_no_header_content_type_or_encoding_causes_a_500_or_a_change_without_a_signature(
    client, payment, data
):
    body = data.draw(unsigned_variants(settle(payment, "gopay")))
    encoding = data.draw(st.sampled_from(["utf-8", "utf-16", "latin-1", "utf-8-sig"]))
    raw = json.dumps(body, ensure_ascii=data.draw(st.booleans())).encode(encoding, "replace")
    raw = data.draw(st.sampled_from([raw, raw + b"\x00", b"\x00" + raw, raw[: len(raw) // 2]]))
    headers = data.draw(st.dictionaries(header_names, header_values, max_size=4))
    extra = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    before, logs = snapshot(payment), WebhookLog.objects.count()

    # generic(): the bytes go out as they are, whatever charset the header claims.
    response = client.generic(
        "POST", URL, data=raw, content_type=data.draw(st.sampled_from(CONTENT_TYPES)), **extra
    )

    assert response.status_code in (400, 401), response.content
    assert snapshot(payment) == before
    assert WebhookLog.objects.count() == logs + 1  # on record, however bad


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    order_id=st.text(max_size=60),
    status_code=st.sampled_from(["200", "201", "202", "407", "500", "", "２００", "200\x00"]),
    gross_amount=st.sampled_from(["150000.00", "150000", "-150000.00", "1e999", "NaN", "０"])
    | st.text(max_size=12),
    transaction_status=st.sampled_from(["settlement", "refund", "chargeback", "", "SETTLEMENT"])
    | st.text(max_size=12),
)
@example(
    order_id="A\x00B", status_code="200", gross_amount="150000.00", transaction_status="settlement"
)
def test_validly_signed_nonsense_never_causes_a_500(
    client, payment, order_id, status_code, gross_amount, transaction_status
):
    """Fields only Midtrans could sign, in shapes it never sends: still no 5xx."""
    body = notification(
        "gopay",
        order_id=order_id,
        gross_amount=gross_amount,
        status_code=status_code,
        transaction_status="settlement",
    )
    body["transaction_status"] = transaction_status  # not covered by the signature
    before = snapshot(payment)

    response = post(client, body)

    # 503 is for transient failures (Midtrans retries it): none of these is one.
    assert response.status_code in (200, 400, 401, 403), response.content
    if order_id != payment.order_id:
        assert snapshot(payment) == before


@pytest.mark.django_db
@pytest.mark.parametrize("padding", [1_500_000, 3_000_000], ids=["under Django's", "over Django's"])
def test_a_signed_notification_padded_past_the_limit_is_413_not_half_read(client, payment, padding):
    # Over SUBSCRIPTIONS_WEBHOOK_MAX_BODY_BYTES, under and over Django's own limit on
    # request.body (DATA_UPLOAD_MAX_MEMORY_SIZE, 2.5 MB): refused as a whole, never a
    # prefix processed as if it were the notification.
    body = settle(payment, "gopay")
    body["padding"] = "x" * padding
    before = snapshot(payment)

    response = post(client, body)

    assert response.status_code == 413
    assert snapshot(payment) == before
    assert len(WebhookLog.objects.get().body) <= KEPT_UNVERIFIED_BYTES


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw",
    [
        "[" * 60_000,
        '{"a": ' * 10_000,
        "\ufeff" + "{}",
        '{"order_id": "\\u0000", "status_code": "\\u0000", "gross_amount": "\\u0000", '
        '"signature_key": "\\u0000", "transaction_status": "\\u0000"}',
        '{"order_id": "\\ud800", "status_code": "200", "gross_amount": "1", '
        '"signature_key": "s", "transaction_status": "\\udfff"}',
        json.dumps({"order_id": "X" * 60_000, "status_code": "200", "gross_amount": "1",
                    "signature_key": "s", "transaction_status": "settlement"}),
    ],
    ids=["deep array", "deep object", "byte order mark", "NUL fields", "unpaired surrogates",
         "huge order id"],
)  # fmt: skip
def test_pathological_json_is_a_clean_4xx(client, payment, raw):
    before = snapshot(payment)
    response = post(client, raw)
    assert response.status_code in (400, 401)
    assert snapshot(payment) == before
    log = WebhookLog.objects.get()
    assert "\x00" not in log.body
    assert "\x00" not in log.order_id


@pytest.mark.django_db
def test_a_signed_notification_with_a_nul_in_its_order_id_is_400_not_a_retry(client, payment):
    """On PostgreSQL the order id lookup failed (text cannot hold NUL): a 503, which
    Midtrans would have retried in vain. It is malformed: 400, on every database."""
    body = notification("gopay", order_id=payment.order_id + "\x00", gross_amount="150000.00")

    response = post(client, body)

    assert (response.status_code, response.json()["status"]) == (400, "invalid")
    assert snapshot(payment)[:2] == ("pending", False)


# --- Replay ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_settlement_replayed_after_a_full_refund_changes_nothing(client, payment, recorder):
    settlement = settle(payment, "gopay")
    assert post(client, settlement).json()["status"] == "processed"
    assert post(client, refund(payment, "150000.00")).json()["status"] == "processed"
    after_refund = snapshot(payment)
    emails = len(mail.outbox)

    response = post(client, settlement)  # captured weeks ago, delivered again

    assert response.status_code == 200
    assert response.json()["status"] in ("ignored", "duplicate")
    assert snapshot(payment) == after_refund
    assert after_refund[:3] == ("refund", True, Decimal("150000"))
    assert recorder.count("payment_success") == 1
    assert recorder.count("invoice_paid") == 1
    assert recorder.count("payment_refunded") == 1
    assert len(mail.outbox) == emails


@pytest.mark.django_db
def test_an_old_partial_refund_replayed_after_the_full_refund_changes_nothing(
    client, payment, recorder
):
    post(client, settle(payment, "gopay"))
    partial = refund(payment, "50000.00", status="partial_refund")
    assert post(client, partial).json()["status"] == "processed"
    assert post(client, refund(payment, "150000.00")).json()["status"] == "processed"
    after_refund = snapshot(payment)

    for old in (partial, settle(payment, "gopay")):
        response = post(client, old)
        assert (response.status_code, response.json()["status"]) in (
            (200, "ignored"),
            (200, "duplicate"),
        )

    assert snapshot(payment) == after_refund
    assert after_refund[2] == Decimal("150000")  # the refunded amount never shrinks
    assert recorder.count("payment_refunded") == 2


@pytest.mark.django_db
def test_a_new_settlement_notice_for_a_settled_payment_is_a_duplicate(client, payment, recorder):
    assert post(client, settle(payment, "gopay")).json()["status"] == "processed"
    settled = snapshot(payment)

    # Midtrans sends the same status again with another timestamp (and so another body).
    again = settle(payment, "gopay", settlement_time="2026-11-26 19:00:00")
    response = post(client, again)

    assert (response.status_code, response.json()["status"]) == (200, "duplicate")
    assert snapshot(payment) == settled
    assert recorder.count("payment_success") == 1
    assert recorder.count("invoice_paid") == 1


@pytest.mark.django_db
def test_a_top_up_notification_replayed_credits_the_wallet_once(client, alice, midtrans):
    payment = topup_payment(alice)
    body = notification("gopay", order_id=payment.order_id, gross_amount="100000.00")

    statuses = [post(client, body).json()["status"] for _ in range(3)]

    assert statuses == ["processed", "duplicate", "duplicate"]
    wallet = wallet_get_or_create(user=alice)
    assert wallet.balance == Decimal("100000")
    assert WalletTransaction.objects.filter(wallet=wallet).count() == 1


# --- A database error in the middle of processing -------------------------------------------


class FailingOnce:
    """A receiver of ``payment_success`` connected the way a project connects one, whose
    first query fails in the database (a missing table: a deploy half way through a
    migration). It runs after the billing and wallet receivers, inside the webhook's
    transaction, so the invoice is already marked paid and the wallet credited when it
    fails: all of that must roll back."""

    def __init__(self):
        self.calls = 0

    def __call__(self, sender, instance, **kwargs):
        self.calls += 1
        if self.calls == 1:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM table_of_a_migration_not_yet_run")


@pytest.fixture
def failing_receiver():
    receiver = FailingOnce()
    signals.payment_success.connect(receiver, dispatch_uid="hardening-failing-once")
    yield receiver
    signals.payment_success.disconnect(dispatch_uid="hardening-failing-once")


def deliver(client, body, capture):
    with capture(execute=True):  # on-commit work (emails) runs as after a real commit
        return post(client, body)


@pytest.mark.django_db
def test_a_database_error_mid_processing_is_503_and_the_retry_pays_exactly_once(
    client, payment, recorder, failing_receiver, django_capture_on_commit_callbacks
):
    body = settle(payment, "qris")

    first = deliver(client, body, django_capture_on_commit_callbacks)

    assert first.status_code == 503
    assert first.json()["status"] == "failed"
    assert snapshot(payment)[:2] == ("pending", False)
    assert payment.invoice.status == "open"
    assert mail.outbox == []  # the receipt of a rolled-back payment is never sent
    log = WebhookLog.objects.get()
    assert (log.status, log.signature_valid) == ("failed", True)
    assert "table_of_a_migration_not_yet_run" in log.error

    retry = deliver(client, body, django_capture_on_commit_callbacks)  # Midtrans retries

    assert (retry.status_code, retry.json()["status"]) == (200, "processed")
    assert snapshot(payment)[:2] == ("settlement", True)
    assert payment.invoice.status == "paid"
    receipts = payment.invoice.sent_emails.filter(kind="payment_receipt")
    assert receipts.count() == 1
    assert list(WebhookLog.objects.order_by("pk").values_list("status", flat=True)) == [
        "failed",
        "processed",
    ]
    # Once more, as Midtrans may: a duplicate with no further effect.
    assert deliver(client, body, django_capture_on_commit_callbacks).json()["status"] == (
        "duplicate"
    )
    assert receipts.count() == 1


@pytest.mark.django_db
def test_a_database_error_mid_top_up_credits_nothing_and_the_retry_credits_once(
    client, alice, midtrans, failing_receiver
):
    payment = topup_payment(alice)
    body = notification("gopay", order_id=payment.order_id, gross_amount="100000.00")
    wallet = wallet_get_or_create(user=alice)

    assert post(client, body).status_code == 503
    wallet.refresh_from_db()
    assert wallet.balance == 0
    assert not WalletTransaction.objects.exists()
    assert TopUp.objects.get(payment=payment).status == "pending"

    assert post(client, body).json()["status"] == "processed"
    assert post(client, body).json()["status"] == "duplicate"
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("100000")
    assert WalletTransaction.objects.filter(wallet=wallet).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_payment_row_locked_past_lock_timeout_is_503_and_the_redelivery_pays_once(
    alice, midtrans, recorder
):
    """Another connection (a staff refund, the billing run) holds the payment row; the
    webhook's SELECT ... FOR UPDATE gives up after lock_timeout. Midtrans retries."""
    payment = make_payment(alice)
    body = as_json(settle(payment, "gopay"))
    locked, release = threading.Event(), threading.Event()

    def hold_the_row():
        try:
            with transaction.atomic():
                Payment.objects.select_for_update().get(pk=payment.pk)
                locked.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    try:
        assert locked.wait(timeout=10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '200ms'")
        first = Client().post(URL, data=body, content_type="application/json")
    finally:
        release.set()
        holder.join(timeout=30)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")

    assert first.status_code == 503
    payment.refresh_from_db()
    assert not payment.is_paid
    assert recorder.count("payment_success") == 0

    retry = Client().post(URL, data=body, content_type="application/json")

    assert (retry.status_code, retry.json()["status"]) == (200, "processed")
    payment.refresh_from_db()
    assert payment.is_paid
    assert payment.invoice.status == "paid"
    assert recorder.count("payment_success") == 1
    assert recorder.count("invoice_paid") == 1
    assert payment.invoice.sent_emails.filter(kind="payment_receipt").count() == 1
    assert list(WebhookLog.objects.order_by("pk").values_list("status", flat=True)) == [
        "failed",
        "processed",
    ]
