"""The Midtrans webhook, fed full Midtrans-format notifications through the test client.

No part of our code is faked: notifications are signed with the configured server
key exactly as Midtrans signs them, and the effects (paid invoice, active
subscription, signals) come from the real services.
"""

from __future__ import annotations

import json
import threading
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from subscriptions import services, signals
from subscriptions.models import Payment, WebhookLog
from subscriptions.tests.factories import PlanFactory, UserFactory

from .midtrans_samples import SERVER_KEY, as_json, notification, resign

URL = "/webhooks/midtrans/"


@pytest.fixture
def midtrans(settings):
    settings.MIDTRANS_SERVER_KEY = SERVER_KEY
    settings.SUBSCRIPTIONS_GATEWAY = "midtrans"
    settings.MIDTRANS_VERIFY_STATUS = False
    settings.MIDTRANS_NOTIFICATION_URL = ""


def make_payment(user, price="150000") -> Payment:
    plan = PlanFactory(price=Decimal(price))
    subscription = services.subscription_create(user=user, plan=plan)
    invoice = subscription.invoices.get()
    return services.payment_create(
        user=user, amount=invoice.total, invoice=invoice, gateway="midtrans"
    )


@pytest.fixture
def payment(alice, midtrans) -> Payment:
    return make_payment(alice)


def post(client, body, **extra):
    data = body if isinstance(body, str | bytes) else as_json(body)
    return client.post(URL, data=data, content_type="application/json", **extra)


def settle(payment, method="bank_transfer", **kwargs):
    status = "capture" if method == "credit_card" else "settlement"
    kwargs.setdefault("transaction_status", status)
    return notification(method, order_id=payment.order_id, gross_amount="150000.00", **kwargs)


class Recorder:
    """Counts the lifecycle signals a test cares about (thread-safe)."""

    names = (
        "payment_success",
        "payment_failed",
        "payment_refunded",
        "invoice_paid",
        "webhook_processed",
    )

    def __init__(self):
        self.lock = threading.Lock()
        self.events: list[str] = []
        self.receivers = {}
        for name in self.names:

            def receiver(sender, instance, _name=name, **kwargs):
                with self.lock:
                    self.events.append(_name)

            self.receivers[name] = receiver
            getattr(signals, name).connect(receiver, weak=False)

    def count(self, name):
        return self.events.count(name)

    def close(self):
        for name, receiver in self.receivers.items():
            getattr(signals, name).disconnect(receiver)


@pytest.fixture
def recorder():
    recorder = Recorder()
    yield recorder
    recorder.close()


METHODS = [
    ("credit_card", "capture"),
    ("bank_transfer", "settlement"),
    ("permata", "settlement"),
    ("echannel", "settlement"),
    ("gopay", "settlement"),
    ("qris", "settlement"),
    ("shopeepay", "settlement"),
    ("cstore", "settlement"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "status"), METHODS)
def test_a_successful_notification_of_each_payment_method_pays_the_invoice(
    client, payment, recorder, method, status
):
    fraud = None if method == "cstore" else "accept"  # Indomaret carries no fraud_status
    body = settle(payment, method, transaction_status=status, fraud_status=fraud)

    response = post(client, body, REMOTE_ADDR="103.208.23.6")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "processed"
    payment.refresh_from_db()
    assert payment.status == status
    assert payment.is_paid
    assert payment.payment_type == body["payment_type"]
    assert payment.transaction_id == body["transaction_id"]
    assert payment.gateway_response == body
    assert payment.invoice.status == "paid"
    assert payment.subscription.status == "active"
    log = WebhookLog.objects.get()
    assert json.loads(log.body) == body
    assert log.remote_addr == "103.208.23.6"
    assert log.headers["Content-Type"] == "application/json"
    assert (log.status, log.signature_valid, log.payment, log.order_id) == (
        "processed",
        True,
        payment,
        payment.order_id,
    )
    assert recorder.count("payment_success") == 1
    assert recorder.count("invoice_paid") == 1
    assert recorder.count("webhook_processed") == 1


@pytest.mark.django_db
def test_the_raw_request_is_stored_before_anything_even_when_it_is_garbage(client, midtrans):
    response = client.post(
        URL,
        data=b"\xff\xfe not json \x00",
        content_type="text/plain",
        HTTP_COOKIE="sessionid=secret",
    )
    assert response.status_code == 400
    log = WebhookLog.objects.get()
    assert "not json" in log.body
    assert "\x00" not in log.body
    assert log.status == "invalid"
    assert "Cookie" not in log.headers


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        "[1, 2, 3]",
        '"settlement"',
        '{"order_id": "x"}',
        '{"order_id": 1, "status_code": "200", "gross_amount": "1.00", "signature_key": "a", "transaction_status": "settlement"}',
        "{" * 5000,
    ],
)
def test_malformed_bodies_are_400(client, payment, body):
    response = post(client, body)
    assert response.status_code == 400
    assert WebhookLog.objects.get().status == "invalid"
    payment.refresh_from_db()
    assert payment.status == "pending"


@pytest.mark.django_db
def test_get_is_not_allowed(client, midtrans):
    assert client.get(URL).status_code == 405


@pytest.mark.django_db
def test_the_webhook_needs_no_csrf_token(payment):
    csrf_client = Client(enforce_csrf_checks=True)
    assert post(csrf_client, settle(payment)).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("signature_key", "0" * 128),
        ("gross_amount", "1.00"),
        ("gross_amount", "150000"),  # the same number, written differently: not what was signed
        ("status_code", "201"),
        ("order_id", "SOMEONE-ELSES-ORDER"),
    ],
)
def test_a_tampered_notification_is_rejected_401_and_changes_nothing(
    client, payment, field, value, recorder
):
    body = settle(payment)
    body[field] = value

    response = post(client, body)

    assert response.status_code == 401
    payment.refresh_from_db()
    assert (payment.status, payment.is_paid) == ("pending", False)
    assert payment.invoice.status == "open"
    log = WebhookLog.objects.get()
    assert (log.status, log.signature_valid) == ("invalid", False)
    assert recorder.events == []


@pytest.mark.django_db
def test_a_notification_signed_with_another_key_is_rejected(client, payment):
    body = resign(settle(payment), server_key="SB-Mid-server-someone-else")
    assert post(client, body).status_code == 401


@pytest.mark.django_db
def test_a_validly_signed_notification_for_another_amount_is_403(client, payment):
    body = notification("gopay", order_id=payment.order_id, gross_amount="1000.00")
    response = post(client, body)
    assert response.status_code == 403
    payment.refresh_from_db()
    assert not payment.is_paid
    log = WebhookLog.objects.get()
    assert (log.status, log.signature_valid) == ("invalid", True)
    assert "does not match" in log.error


@pytest.mark.django_db
def test_a_validly_signed_notification_in_another_currency_is_403(client, payment):
    body = notification(
        "gopay", order_id=payment.order_id, gross_amount="150000.00", currency="USD"
    )
    assert post(client, body).status_code == 403
    payment.refresh_from_db()
    assert not payment.is_paid


@pytest.mark.django_db
def test_a_pending_notification_relabelled_settlement_keeps_its_signature_but_is_refused(
    client, payment
):
    pending = notification(
        "bank_transfer",
        order_id=payment.order_id,
        gross_amount="150000.00",
        transaction_status="pending",
    )
    forged = dict(pending, transaction_status="settlement")  # status_code 201 still signed

    response = post(client, forged)

    assert response.status_code == 403
    payment.refresh_from_db()
    assert not payment.is_paid


@pytest.mark.django_db
def test_an_unknown_order_is_logged_as_ignored_with_200(client, midtrans):
    body = notification("gopay", order_id="OTHER-SHOP-123", gross_amount="5000.00")
    response = post(client, body)
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    log = WebhookLog.objects.get()
    assert (log.status, log.signature_valid, log.payment) == ("ignored", True, None)


@pytest.mark.django_db
def test_an_unknown_transaction_status_is_ignored(client, payment):
    body = notification(
        "gopay", order_id=payment.order_id, gross_amount="150000.00", transaction_status="pending"
    )
    body["transaction_status"] = "chargeback"
    response = post(client, body)
    assert (response.status_code, response.json()["status"]) == (200, "ignored")


@pytest.mark.django_db
def test_the_same_notification_twice_is_a_duplicate_with_one_effect(client, payment, recorder):
    body = settle(payment, "gopay")
    first, second = post(client, body), post(client, body)
    assert (first.status_code, first.json()["status"]) == (200, "processed")
    assert (second.status_code, second.json()["status"]) == (200, "duplicate")
    assert recorder.count("payment_success") == 1
    assert recorder.count("invoice_paid") == 1
    assert list(WebhookLog.objects.order_by("pk").values_list("status", flat=True)) == [
        "processed",
        "duplicate",
    ]


@pytest.mark.django_db
def test_a_late_pending_after_settlement_never_moves_the_payment_back(client, payment):
    assert post(client, settle(payment, "bank_transfer")).json()["status"] == "processed"
    late = notification(
        "bank_transfer",
        order_id=payment.order_id,
        gross_amount="150000.00",
        transaction_status="pending",
    )
    response = post(client, late)
    assert (response.status_code, response.json()["status"]) == (200, "ignored")
    expire = notification(
        "bank_transfer",
        order_id=payment.order_id,
        gross_amount="150000.00",
        transaction_status="expire",
        fraud_status=None,
    )
    assert post(client, expire).json()["status"] == "ignored"
    payment.refresh_from_db()
    assert (payment.status, payment.is_paid) == ("settlement", True)
    assert "Out of order" in WebhookLog.objects.order_by("-pk").first().error


@pytest.mark.django_db
def test_pending_then_settlement_in_order_pays(client, payment):
    pending = notification(
        "echannel",
        order_id=payment.order_id,
        gross_amount="150000.00",
        transaction_status="pending",
    )
    assert post(client, pending).json()["status"] in ("duplicate", "processed")
    assert post(client, settle(payment, "echannel")).json()["status"] == "processed"
    payment.refresh_from_db()
    assert payment.is_paid


@pytest.mark.django_db
def test_a_challenged_capture_holds_the_payment_until_accepted(client, payment, recorder):
    challenged = settle(payment, "credit_card", fraud_status="challenge")
    assert challenged["status_code"] == "201"
    assert post(client, challenged).json()["status"] == "processed"
    payment.refresh_from_db()
    assert (payment.status, payment.fraud_status, payment.is_paid) == (
        "capture",
        "challenge",
        False,
    )
    assert payment.invoice.status == "open"

    accepted = settle(payment, "credit_card", fraud_status="accept")
    assert post(client, accepted).json()["status"] == "processed"
    payment.refresh_from_db()
    assert payment.is_paid
    assert payment.invoice.status == "paid"
    assert recorder.count("payment_success") == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "fraud"), [("deny", "accept"), ("cancel", None), ("expire", None), ("failure", None)]
)
def test_failures_fail_the_payment_and_leave_the_invoice_open(
    client, payment, recorder, status, fraud
):
    method = "credit_card" if status == "deny" else "bank_transfer"
    body = notification(
        method,
        order_id=payment.order_id,
        gross_amount="150000.00",
        transaction_status=status,
        fraud_status=fraud,
    )
    assert post(client, body).json()["status"] == "processed"
    payment.refresh_from_db()
    assert payment.status == status
    assert not payment.is_paid
    assert payment.invoice.status == "open"
    assert payment.subscription.status == "pending"
    assert recorder.count("payment_failed") == 1


@pytest.mark.django_db
def test_a_capture_denied_by_the_fraud_check_fails_the_payment(client, payment):
    body = settle(payment, "credit_card", fraud_status="deny", status_code="202")
    assert post(client, body).json()["status"] == "processed"
    payment.refresh_from_db()
    assert (payment.status, payment.is_paid) == ("deny", False)


@pytest.mark.django_db
def test_a_failed_renewal_makes_the_subscription_past_due(client, alice, midtrans):
    from .factories import SubscriptionFactory

    subscription = SubscriptionFactory(user=alice, plan=PlanFactory(price=Decimal("150000")))
    invoice = services.subscription_create_renewal_invoice(subscription=subscription)
    payment = services.payment_create(
        user=alice, amount=invoice.total, invoice=invoice, gateway="midtrans"
    )
    body = notification(
        "gopay",
        order_id=payment.order_id,
        gross_amount="150000.00",
        transaction_status="expire",
        fraud_status=None,
    )
    assert post(client, body).json()["status"] == "processed"
    subscription.refresh_from_db()
    assert subscription.status == "past_due"


@pytest.mark.django_db
def test_refund_notifications_update_the_refunded_amount(client, payment, recorder):
    post(client, settle(payment, "gopay"))
    refunds = [
        {
            "refund_chargeback_id": 1,
            "refund_amount": "50000.00",
            "created_at": "2026-11-27 00:14:20",
            "reason": "partial",
            "refund_key": "k1",
            "refund_method": "online",
        },
    ]
    partial = notification(
        "gopay",
        order_id=payment.order_id,
        gross_amount="150000.00",
        transaction_status="partial_refund",
        refund_amount="50000.00",
        refunds=refunds,
    )
    assert post(client, partial).json()["status"] == "processed"
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == ("partial_refund", Decimal("50000"))

    refunds.append(
        {
            "refund_chargeback_id": 2,
            "refund_amount": "100000.00",
            "created_at": "2026-11-28 01:23:15",
            "reason": "",
            "refund_key": "k2",
            "refund_method": "online",
        }
    )
    full = notification(
        "gopay",
        order_id=payment.order_id,
        gross_amount="150000.00",
        transaction_status="refund",
        refund_amount="150000.00",
        refunds=refunds,
    )
    assert post(client, full).json()["status"] == "processed"
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == ("refund", Decimal("150000"))
    assert recorder.count("payment_refunded") == 2
    assert post(client, full).json()["status"] == "duplicate"


# --- MIDTRANS_VERIFY_STATUS -------------------------------------------------------------


@pytest.fixture
def verify(settings, midtrans, httpserver):
    settings.MIDTRANS_VERIFY_STATUS = True
    settings.MIDTRANS_API_BASE_URL = httpserver.url_for("").rstrip("/")
    settings.SUBSCRIPTIONS_GATEWAY_RETRY_BACKOFF = 0
    return httpserver


def status_body(payment, status, **extra):
    return {
        "status_code": "200" if status == "settlement" else "201",
        "status_message": "Success, transaction is found",
        "transaction_id": "513f1f01-c9da-474c-9fc9-d5c64364b709",
        "order_id": payment.order_id,
        "payment_type": "gopay",
        "transaction_status": status,
        "fraud_status": "accept",
        "gross_amount": "150000.00",
        "currency": "IDR",
        **extra,
    }


@pytest.mark.django_db
def test_with_verify_status_the_core_api_answer_is_applied(client, payment, verify):
    verify.expect_oneshot_request(f"/v2/{payment.order_id}/status", method="GET").respond_with_json(
        status_body(payment, "settlement")
    )
    assert post(client, settle(payment, "gopay")).json()["status"] == "processed"
    payment.refresh_from_db()
    assert payment.is_paid
    verify.check_assertions()


@pytest.mark.django_db
def test_with_verify_status_a_notification_midtrans_does_not_confirm_changes_nothing(
    client, payment, verify
):
    verify.expect_request(f"/v2/{payment.order_id}/status").respond_with_json(
        status_body(payment, "pending")
    )
    response = post(client, settle(payment, "gopay"))
    assert (response.status_code, response.json()["status"]) == (200, "duplicate")
    payment.refresh_from_db()
    assert not payment.is_paid


@pytest.mark.django_db
def test_with_verify_status_midtrans_down_is_503_so_midtrans_retries(client, payment, verify):
    verify.expect_request(f"/v2/{payment.order_id}/status").respond_with_json(
        {"status_code": "500", "status_message": "internal error"}, status=500
    )
    response = post(client, settle(payment, "gopay"))
    assert response.status_code == 503
    log = WebhookLog.objects.get()
    assert log.status == "failed"
    payment.refresh_from_db()
    assert not payment.is_paid

    # Once Midtrans answers again, staff reprocess the stored notification.
    verify.clear()
    verify.expect_request(f"/v2/{payment.order_id}/status").respond_with_json(
        status_body(payment, "settlement")
    )
    from subscriptions.webhooks import webhook_reprocess

    assert webhook_reprocess(log=log).status == "processed"
    payment.refresh_from_db()
    assert payment.is_paid


@pytest.mark.django_db
def test_with_the_sandbox_misconfigured_in_production_the_webhook_answers_503(
    client, settings, alice
):
    settings.MIDTRANS_SERVER_KEY = ""
    settings.SUBSCRIPTIONS_GATEWAY = ""
    settings.SUBSCRIPTIONS_SANDBOX_ALLOWED = False
    settings.DEBUG = False
    body = notification("gopay", order_id="X-1", gross_amount="1000.00")
    response = post(client, body)
    assert response.status_code == 503
    assert WebhookLog.objects.get().status == "failed"


# --- Concurrency and transient failures (PostgreSQL) --------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_settlement_fifty_times_at_once_has_exactly_one_effect(alice, midtrans, recorder):
    payment = make_payment(alice)
    body = as_json(settle(payment, "qris"))
    barrier = threading.Barrier(50)
    statuses: list[tuple[int, str]] = []
    lock = threading.Lock()

    def deliver():
        try:
            barrier.wait(timeout=30)
            response = Client().post(URL, data=body, content_type="application/json")
            with lock:
                statuses.append((response.status_code, response.json()["status"]))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(statuses) == 50
    assert {code for code, _ in statuses} == {200}
    assert sorted(status for _, status in statuses) == ["duplicate"] * 49 + ["processed"]
    assert recorder.count("payment_success") == 1
    assert recorder.count("invoice_paid") == 1
    payment.refresh_from_db()
    assert payment.is_paid
    assert payment.invoice.status == "paid"
    assert payment.subscription.status == "active"
    assert WebhookLog.objects.count() == 50


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_locked_payment_row_is_a_transient_failure_answered_503(alice, midtrans):
    payment = make_payment(alice)
    locked = threading.Event()
    release = threading.Event()

    def hold_the_row():
        from django.db import transaction

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
            cursor.execute("SET lock_timeout = '300ms'")
        response = Client().post(
            URL, data=as_json(settle(payment, "gopay")), content_type="application/json"
        )
    finally:
        release.set()
        holder.join(timeout=30)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")

    assert response.status_code == 503
    log = WebhookLog.objects.get()
    assert log.status == "failed"
    assert "OperationalError" in log.error
    payment.refresh_from_db()
    assert not payment.is_paid

    # Midtrans' retry (or the admin's reprocess) then goes through.
    from subscriptions.webhooks import webhook_reprocess

    assert webhook_reprocess(log=log).status == "processed"


# --- Property: nothing random gets through ------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=8,
)
header_names = st.sampled_from(
    ["X-Signature", "User-Agent", "X-Forwarded-For", "Authorization", "X-Callback-Token"]
)


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.data(),
    raw=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)),
    headers=st.dictionaries(
        header_names,
        st.text(max_size=40).filter(lambda s: "\n" not in s and "\r" not in s),
        max_size=3,
    ),
)
def test_no_random_body_or_headers_cause_a_500_or_a_change_without_a_valid_signature(
    client, payment, data, raw, headers
):
    # Mix raw bytes with plausible notifications that use our real order id and amount
    # but random statuses and a signature that was never made with our key.
    plausible = data.draw(
        st.fixed_dictionaries(
            {
                "order_id": st.sampled_from([payment.order_id, "nope"]),
                "status_code": st.sampled_from(["200", "201", "202", "407", ""]),
                "gross_amount": st.sampled_from(["150000.00", "150000", "0", "-1", "NaN", "1e9"]),
                "transaction_status": st.sampled_from(
                    ["settlement", "capture", "refund", "pending", "deny", "x"]
                ),
                "signature_key": st.text(max_size=130),
                "fraud_status": st.sampled_from(["accept", "challenge", "deny", ""]),
            },
            optional={"currency": st.sampled_from(["IDR", "USD"]), "extra": json_values},
        )
    )
    body = data.draw(st.sampled_from([raw, json.dumps(plausible).encode()]))
    extra = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}

    response = client.post(URL, data=body, content_type="application/json", **extra)

    assert response.status_code in (200, 400, 401, 403)
    payment.refresh_from_db()
    assert (payment.status, payment.is_paid, payment.refunded_amount) == (
        "pending",
        False,
        Decimal("0"),
    )


@pytest.mark.django_db
def test_users_other_than_the_notification_target_are_untouched(client, payment):
    bob_payment = make_payment(UserFactory(email="bob@example.com"))
    post(client, settle(payment, "gopay"))
    bob_payment.refresh_from_db()
    assert not bob_payment.is_paid
