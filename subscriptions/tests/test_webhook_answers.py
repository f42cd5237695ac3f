"""Which HTTP answer each webhook outcome gets (issue 13, item 5).

Midtrans retries a 503 four times and stops only on a 2xx. So 503 is kept for what a
retry can fix (the database unreachable or a lock timeout, Midtrans unreachable while
verifying, the gateway not configured here yet); a validly signed notification that can
never be applied is recorded as ``rejected`` with its reason and answered 200, so that
Midtrans stops and staff see it; a request that is not an acceptable notification is a
4xx (``invalid``). Nothing answers 500.
"""

from __future__ import annotations

import decimal

import pytest

from subscriptions import signals
from subscriptions.models import WebhookLog

from . import test_webhook
from .midtrans_samples import as_json, notification
from .test_webhook import post, settle
from .test_webhook_hardening import refund, snapshot

midtrans = test_webhook.midtrans
payment = test_webhook.payment
verify = test_webhook.verify
recorder = test_webhook.recorder


def outcome(response) -> tuple[int, str]:
    return response.status_code, response.json()["status"]


def the_log() -> WebhookLog:
    return WebhookLog.objects.order_by("-pk").first()


# --- Validly signed, never applicable: rejected, 200 ---------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "gross_amount", ["1e999999999", "NaN", "Infinity", "-Infinity", "sNaN", "lots", ""]
)
def test_a_signed_notification_whose_amount_is_not_an_amount_is_rejected_with_200(
    client, payment, gross_amount
):
    before = snapshot(payment)
    body = notification("gopay", order_id=payment.order_id, gross_amount=gross_amount)

    response = post(client, body)

    assert outcome(response) == (200, "rejected")
    assert snapshot(payment) == before
    log = the_log()
    assert (log.status, log.signature_valid, log.payment) == ("rejected", True, payment)
    assert "gross_amount" in log.error
    assert log.body == as_json(body)  # authentic: kept in full for staff


@pytest.mark.django_db
def test_a_refund_larger_than_the_payment_is_rejected_with_200(client, payment, recorder):
    assert outcome(post(client, settle(payment, "gopay"))) == (200, "processed")
    paid = snapshot(payment)

    response = post(client, refund(payment, "200000.00"))

    assert outcome(response) == (200, "rejected")
    assert snapshot(payment) == paid
    assert recorder.count("payment_refunded") == 0
    log = the_log()
    assert (log.status, log.signature_valid) == ("rejected", True)
    assert "Refunded more than" in log.error


@pytest.mark.django_db
def test_a_rejected_notification_is_found_by_staff_in_the_admin_list(client, payment, staff):
    post(client, notification("gopay", order_id=payment.order_id, gross_amount="NaN"))
    client.force_login(staff)

    page = client.get("/admin/subscriptions/webhooklog/", {"status__exact": "rejected"})

    assert page.status_code == 200
    assert payment.order_id in page.content.decode()


@pytest.mark.django_db
def test_with_verify_status_a_refusal_from_midtrans_is_rejected_not_retried(
    client, payment, verify
):
    # Midtrans' Core API answers 200 with a 404 status body for a transaction it does not
    # know: asking again will not change that.
    verify.expect_request(f"/v2/{payment.order_id}/status").respond_with_json(
        {"status_code": "404", "status_message": "Transaction doesn't exist."}
    )

    response = post(client, settle(payment, "gopay"))

    assert outcome(response) == (200, "rejected")
    assert "doesn't exist" in the_log().error
    payment.refresh_from_db()
    assert not payment.is_paid


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_value_the_database_cannot_hold_is_rejected_not_retried(client, payment):
    """PostgreSQL refuses a transaction_id longer than the column (DataError): the same
    body fails the same way on every retry."""
    body = settle(payment, "gopay", transaction_id="T" * 200)

    response = post(client, body)

    assert outcome(response) == (200, "rejected")
    assert "DataError" in the_log().error
    payment.refresh_from_db()
    assert not payment.is_paid


# --- The currency must be the payment's ----------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("currency", [None, 360, "", ["IDR"], "USD"])
def test_a_signed_notification_whose_currency_is_not_the_payments_is_refused_403(
    client, payment, currency
):
    body = settle(payment, "gopay")
    body["currency"] = currency  # not covered by the signature

    response = post(client, body)

    assert outcome(response) == (403, "invalid")
    payment.refresh_from_db()
    assert not payment.is_paid
    assert "currency" in the_log().error


@pytest.mark.django_db
def test_a_notification_without_a_currency_is_taken_as_the_payments(client, payment):
    body = settle(payment, "gopay")
    del body["currency"]
    assert outcome(post(client, body)) == (200, "processed")


# --- Transient: 503, and the retry goes through --------------------------------------------


# (A lock timeout: test_webhook.py and test_webhook_hardening.py hold the payment row from
# another connection on PostgreSQL and see 503, then the retry processed.)


@pytest.mark.django_db
def test_midtrans_unreachable_while_verifying_is_503(client, payment, verify):
    verify.expect_request(f"/v2/{payment.order_id}/status").respond_with_json(
        {"status_code": "503", "status_message": "try later"}, status=503
    )
    assert outcome(post(client, settle(payment, "gopay"))) == (503, "failed")


# --- Exceptions nobody planned for ---------------------------------------------------------


class Raising:
    """A project's receiver of ``payment_success`` that raises ``error`` once."""

    def __init__(self, error: Exception):
        self.error = error
        self.calls = 0

    def __call__(self, sender, instance, **kwargs):
        self.calls += 1
        if self.calls == 1:
            raise self.error


@pytest.fixture
def raising():
    connected = []

    def connect(error: Exception) -> Raising:
        receiver = Raising(error)
        signals.payment_success.connect(
            receiver, weak=False, dispatch_uid=f"answers-raising-{len(connected)}"
        )
        connected.append(f"answers-raising-{len(connected)}")
        return receiver

    yield connect
    for uid in connected:
        signals.payment_success.disconnect(dispatch_uid=uid)


@pytest.mark.django_db
def test_an_unexpected_error_is_failed_503_kept_for_reprocessing_never_500(
    client, payment, raising
):
    raising(RuntimeError("the cache is down"))
    body = settle(payment, "qris")

    first = post(client, body)

    assert outcome(first) == (503, "failed")
    log = the_log()
    assert "RuntimeError: the cache is down" in log.error
    assert log.body == as_json(body)
    payment.refresh_from_db()
    assert not payment.is_paid
    assert outcome(post(client, body)) == (200, "processed")  # Midtrans' retry


@pytest.mark.django_db
def test_arithmetic_on_a_notifications_numbers_failing_is_rejected_not_retried(
    client, payment, raising
):
    raising(decimal.InvalidOperation([decimal.InvalidOperation]))

    response = post(client, settle(payment, "qris"))

    assert outcome(response) == (200, "rejected")
    assert "InvalidOperation" in the_log().error
    payment.refresh_from_db()
    assert not payment.is_paid


@pytest.mark.django_db
def test_the_gateway_not_configured_here_is_503_and_the_body_is_kept_in_full(client, settings):
    settings.MIDTRANS_SERVER_KEY = ""
    settings.SUBSCRIPTIONS_GATEWAY = "midtrans"
    body = notification("gopay", order_id="X-1", gross_amount="1000.00")

    response = post(client, body)

    assert outcome(response) == (503, "failed")
    log = the_log()
    assert log.signature_valid is None
    assert log.body == as_json(body)  # reprocessable once the key is configured
