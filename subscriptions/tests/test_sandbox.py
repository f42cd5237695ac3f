"""The offline sandbox gateway: Midtrans' behaviour without Midtrans.

Notifications travel over real HTTP: to a local recording server (pytest-httpserver)
when a test inspects what the sandbox sends, or to our own webhook on ``live_server``
when a test follows the whole path.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from subscriptions import services
from subscriptions.exceptions import AmountMismatch, BillingError, GatewayError
from subscriptions.gateways import active_gateway_name, get_gateway
from subscriptions.gateways.base import signature_is_valid
from subscriptions.gateways.midtrans import MidtransGateway
from subscriptions.gateways.sandbox import (
    SandboxGateway,
    SandboxNotAllowed,
    finish_token,
    finish_url_from,
    sandbox_server_key,
)
from subscriptions.models import Payment, WebhookLog
from subscriptions.tests.factories import PlanFactory

FINISH = "http://testserver/billing/checkout/{order_id}/finish/"


@pytest.fixture
def sandbox(settings):
    settings.MIDTRANS_SERVER_KEY = ""
    settings.SUBSCRIPTIONS_GATEWAY = ""
    settings.SUBSCRIPTIONS_SANDBOX_ALLOWED = True
    settings.MIDTRANS_NOTIFICATION_URL = ""
    settings.MIDTRANS_VERIFY_STATUS = False
    return settings


@pytest.fixture
def recorder(sandbox, httpserver):
    """Notifications go to a local server that records them (and answers 200)."""
    sandbox.MIDTRANS_NOTIFICATION_URL = httpserver.url_for("/notify")
    httpserver.expect_request("/notify", method="POST").respond_with_json({"status": "ok"})
    return httpserver


def sent(httpserver) -> list[dict]:
    return [json.loads(request.get_data()) for request, _ in httpserver.log]


def open_invoice(user, price="150000"):
    plan = PlanFactory(price=Decimal(price), name="Pro")
    return services.subscription_create(user=user, plan=plan).invoices.get()


def start(user, invoice=None) -> Payment:
    invoice = invoice or open_invoice(user)
    return services.checkout_start(
        invoice=invoice, user=user, finish_url=lambda order_id: FINISH.format(order_id=order_id)
    )


def pay_url(payment: Payment) -> str:
    """The path and query of the sandbox redirect URL (the test client needs no host)."""
    parts = urlsplit(payment.redirect_url)
    return f"{parts.path}?{parts.query}"


# --- Choosing and refusing the sandbox ---------------------------------------------------


def test_the_sandbox_is_the_default_without_a_server_key(sandbox):
    assert active_gateway_name() == "sandbox"
    assert isinstance(get_gateway(), SandboxGateway)
    sandbox.MIDTRANS_SERVER_KEY = "SB-Mid-server-x"
    assert active_gateway_name() == "midtrans"
    assert isinstance(get_gateway(), MidtransGateway)
    sandbox.SUBSCRIPTIONS_GATEWAY = "sandbox"
    assert isinstance(get_gateway(), SandboxGateway)


def test_the_sandbox_refuses_to_run_with_debug_off_unless_allowed(sandbox):
    sandbox.DEBUG = False
    sandbox.SUBSCRIPTIONS_SANDBOX_ALLOWED = False
    with pytest.raises(SandboxNotAllowed, match="SUBSCRIPTIONS_SANDBOX_ALLOWED"):
        get_gateway()
    sandbox.DEBUG = True
    assert isinstance(get_gateway(), SandboxGateway)
    sandbox.DEBUG = False
    sandbox.SUBSCRIPTIONS_SANDBOX_ALLOWED = True
    assert isinstance(get_gateway(), SandboxGateway)


def test_an_unknown_gateway_name_is_a_clear_error(sandbox):
    sandbox.SUBSCRIPTIONS_GATEWAY = "paypal"
    with pytest.raises(GatewayError, match="Unknown payment gateway"):
        get_gateway()


# --- Snap-like checkout ----------------------------------------------------------------------


@pytest.mark.django_db
def test_checkout_issues_a_token_and_a_redirect_to_the_local_payment_page(alice, sandbox):
    payment = start(alice)
    assert payment.gateway == "sandbox"
    assert len(payment.snap_token) == 36
    parts = urlsplit(payment.redirect_url)
    assert f"{parts.scheme}://{parts.netloc}" == sandbox.SITE_URL
    assert parts.path == reverse("subscriptions:sandbox_pay", args=[payment.snap_token])
    finish = parse_qs(parts.query)["finish"][0]
    assert finish_url_from(finish) == FINISH.format(order_id=payment.order_id)


@pytest.mark.parametrize(
    ("request_body", "message"),
    [
        (
            {
                "transaction_details": {"order_id": "A-1", "gross_amount": 1000},
                "item_details": [{"id": "x", "name": "x", "price": 999, "quantity": 1}],
            },
            "not equal to the sum of item_details",
        ),
        ({"transaction_details": {"order_id": "A-1", "gross_amount": 10.5}}, "positive integer"),
        (
            {"transaction_details": {"order_id": "bad id!", "gross_amount": 1000}},
            "order_id is invalid",
        ),
    ],
)
@pytest.mark.django_db
def test_the_sandbox_validates_snap_requests_like_midtrans(sandbox, request_body, message):
    with pytest.raises(GatewayError, match=message):
        SandboxGateway().create_checkout(request_body)


@pytest.mark.django_db
def test_an_order_id_cannot_be_used_twice(alice, sandbox):
    payment = start(alice)
    with pytest.raises(GatewayError, match="already been taken"):
        SandboxGateway().create_checkout(
            {"transaction_details": {"order_id": payment.order_id, "gross_amount": 150000}}
        )


def test_a_forged_finish_url_is_never_followed():
    assert finish_url_from("https://evil.example/") == ""
    assert finish_url_from(finish_token("https://shop.example/x")[:-1] + "A") == ""
    assert finish_url_from(finish_token("https://shop.example/x")) == "https://shop.example/x"


# --- The payment page ----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_payment_page_shows_order_amount_and_items_to_its_owner(client, alice, sandbox):
    payment = start(alice)
    client.force_login(alice)
    response = client.get(pay_url(payment))
    assert response.status_code == 200
    page = response.content.decode()
    assert payment.order_id in page
    assert "Rp 150.000" in page
    assert "Pro (" in page  # the invoice line
    assert 'value="settlement"' in page
    assert 'value="capture_challenge"' in page


@pytest.mark.django_db
def test_a_strangers_token_opens_nothing_and_moves_nothing(client, alice, bob, staff, recorder):
    """The token alone is no permission: signed out, another customer, or staff in the
    portal, each gets the 404 of an unknown token, and an outcome sends nothing."""
    payment = start(alice)
    url = pay_url(payment)
    for user in (None, bob, staff):
        if user is None:
            client.logout()
        else:
            client.force_login(user)
        assert client.get(url).status_code == 404
        for outcome in ("cancel", "settlement", "deny", "expire"):
            response = client.post(url, {"outcome": outcome, "payment_type": "gopay"})
            assert response.status_code == 404
            # Nothing of the payment, beyond the address the visitor typed (the page's
            # language switch returns to it; the token holds the order id).
            assert payment.order_id not in response.content.decode().replace(url, "")
    assert sent(recorder) == []
    payment.refresh_from_db()
    assert payment.status == "pending"


@pytest.mark.django_db
def test_an_unknown_or_altered_token_is_404_for_the_owner_too(client, alice, recorder):
    payment = start(alice)
    client.force_login(alice)
    assert client.get("/sandbox/pay/not-a-token/").status_code == 404
    altered = pay_url(payment).replace(payment.snap_token, payment.snap_token[:-1] + "x")
    assert client.post(altered, {"outcome": "settlement"}).status_code == 404
    assert sent(recorder) == []


@pytest.mark.django_db
def test_the_payment_page_is_never_cached(client, alice, sandbox):
    payment = start(alice)
    client.force_login(alice)
    cache_control = client.get(pay_url(payment))["Cache-Control"]
    assert "no-store" in cache_control
    assert "private" in cache_control


@pytest.mark.django_db
def test_the_payment_page_is_404_when_midtrans_is_the_gateway(client, alice, sandbox):
    payment = start(alice)
    sandbox.MIDTRANS_SERVER_KEY = "SB-Mid-server-x"
    client.force_login(alice)
    assert client.get(pay_url(payment)).status_code == 404


@pytest.mark.django_db
def test_the_payment_page_is_404_in_production_without_permission(client, alice, sandbox):
    payment = start(alice)
    sandbox.DEBUG = False
    sandbox.SUBSCRIPTIONS_SANDBOX_ALLOWED = False
    client.force_login(alice)
    assert client.get(pay_url(payment)).status_code == 404


@pytest.mark.django_db
def test_choosing_an_outcome_sends_a_signed_midtrans_notification_and_returns_to_the_shop(
    client, alice, recorder
):
    payment = start(alice)
    client.force_login(alice)
    response = client.post(
        pay_url(payment),
        {
            "outcome": "settlement",
            "payment_type": "bank_transfer",
            "finish": parse_qs(urlsplit(payment.redirect_url).query)["finish"][0],
        },
    )

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == f"/billing/checkout/{payment.order_id}/finish/"
    assert parse_qs(location.query) == {
        "order_id": [payment.order_id],
        "status_code": ["200"],
        "transaction_status": ["settlement"],
    }
    (body,) = sent(recorder)
    assert body["order_id"] == payment.order_id
    assert body["gross_amount"] == "150000.00"
    assert (body["transaction_status"], body["status_code"], body["fraud_status"]) == (
        "settlement",
        "200",
        "accept",
    )
    assert body["payment_type"] == "bank_transfer"
    assert body["va_numbers"][0]["bank"] == "bca"
    assert body["currency"] == "IDR"
    expected = hashlib.sha512(
        f"{payment.order_id}200150000.00{sandbox_server_key()}".encode()
    ).hexdigest()
    assert body["signature_key"] == expected
    request = recorder.log[0][0]
    assert request.headers["Content-Type"] == "application/json"
    # The page only notifies: the payment moves when the webhook says so.
    payment.refresh_from_db()
    assert payment.status == "pending"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "fields"),
    [
        ("echannel", {"biller_code", "bill_key"}),
        ("gopay", set()),
        ("qris", {"acquirer", "issuer", "transaction_type"}),
        ("shopeepay", set()),
        ("cstore", {"store", "payment_code"}),
    ],
)
def test_each_payment_method_carries_midtrans_fields(client, alice, recorder, method, fields):
    payment = start(alice)
    client.force_login(alice)
    client.post(pay_url(payment), {"outcome": "settlement", "payment_type": method})
    (body,) = sent(recorder)
    assert body["payment_type"] == method
    assert fields <= set(body)
    assert signature_is_valid(body, sandbox_server_key())


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("outcome", "status", "fraud", "code"),
    [
        ("capture_accept", "capture", "accept", "200"),
        ("capture_challenge", "capture", "challenge", "201"),
        ("deny", "deny", "deny", "202"),
        ("cancel", "cancel", None, "200"),
        ("expire", "expire", None, "407"),
        ("pending", "pending", "accept", "201"),
    ],
)
def test_every_outcome_has_midtrans_status_codes(
    client, alice, recorder, outcome, status, fraud, code
):
    payment = start(alice)
    client.force_login(alice)
    client.post(pay_url(payment), {"outcome": outcome, "payment_type": "gopay"})
    (body,) = sent(recorder)
    assert (body["transaction_status"], body.get("fraud_status"), body["status_code"]) == (
        status,
        fraud,
        code,
    )
    if outcome.startswith("capture") or outcome == "deny":
        assert body["payment_type"] == "credit_card"
        assert body["masked_card"]


@pytest.mark.django_db
def test_a_failed_delivery_is_shown_on_the_page_and_changes_nothing(client, alice, sandbox):
    sandbox.MIDTRANS_NOTIFICATION_URL = "http://127.0.0.1:9/webhooks/midtrans/"
    payment = start(alice)
    client.force_login(alice)
    response = client.post(pay_url(payment), {"outcome": "settlement", "payment_type": "gopay"})
    assert response.status_code == 502
    assert "could not be delivered" in response.content.decode()
    payment.refresh_from_db()
    assert payment.status == "pending"


@pytest.mark.django_db
def test_a_finished_payment_offers_no_outcomes(client, alice, recorder):
    payment = start(alice)
    services.payment_apply_status(payment=payment, transaction_status="settlement")
    client.force_login(alice)
    page = client.get(pay_url(payment)).content.decode()
    assert 'value="settlement"' not in page
    assert "nothing more to do" in page
    assert client.post(pay_url(payment), {"outcome": "settlement"}).status_code == 409
    assert sent(recorder) == []


# --- Core API against sandbox state ------------------------------------------------------------


@pytest.mark.django_db
def test_status_of_an_unknown_order_is_midtrans_404(sandbox):
    with pytest.raises(GatewayError) as caught:
        SandboxGateway().get_status("NOPE-1")
    assert caught.value.status_code == 404
    assert "doesn't exist" in str(caught.value)


@pytest.mark.django_db
def test_status_reports_the_transaction_in_midtrans_format(alice, sandbox):
    payment = start(alice)
    transaction = SandboxGateway().get_status(payment.order_id)
    assert (transaction.order_id, transaction.transaction_status, transaction.gross_amount) == (
        payment.order_id,
        "pending",
        "150000.00",
    )
    assert services.payment_check_status(payment=payment).outcome == "duplicate"


@pytest.mark.django_db
def test_expire_answers_407_notifies_and_the_service_applies_it(alice, recorder):
    payment = start(alice)
    update = services.payment_expire(payment=payment)
    assert update.payment.status == "expire"
    assert update.payment.gateway_response["status_code"] == "407"
    (body,) = sent(recorder)
    assert (body["transaction_status"], body["status_code"]) == ("expire", "407")
    with pytest.raises(GatewayError, match="cannot modify"):
        SandboxGateway().expire(payment.order_id)


@pytest.mark.django_db
def test_cancel_of_a_settled_payment_is_refused_412(alice, recorder):
    payment = start(alice)
    services.payment_apply_status(payment=payment, transaction_status="settlement")
    with pytest.raises(GatewayError) as caught:
        services.payment_cancel(payment=payment)
    assert caught.value.status_code == 412


@pytest.mark.django_db
def test_challenge_approve_pays_and_deny_fails(alice, bob, recorder):
    approved = start(alice)
    services.payment_apply_status(
        payment=approved, transaction_status="capture", fraud_status="challenge"
    )
    update = services.payment_approve_challenge(payment=approved)
    assert (update.payment.status, update.payment.fraud_status, update.payment.is_paid) == (
        "capture",
        "accept",
        True,
    )
    approved.invoice.refresh_from_db()
    assert approved.invoice.status == "paid"

    denied = start(bob)
    services.payment_apply_status(
        payment=denied, transaction_status="capture", fraud_status="challenge"
    )
    update = services.payment_deny_challenge(payment=denied)
    assert (update.payment.status, update.payment.is_paid) == ("deny", False)
    denied.invoice.refresh_from_db()
    assert denied.invoice.status == "open"
    assert [body["transaction_status"] for body in sent(recorder)] == ["capture", "deny"]

    with pytest.raises(BillingError, match="not a card payment held"):
        services.payment_approve_challenge(payment=denied)


@pytest.mark.django_db
def test_refunds_partial_then_full_with_idempotent_keys(alice, recorder):
    payment = start(alice)
    services.payment_apply_status(
        payment=payment, transaction_status="settlement", payment_type="gopay"
    )

    refund = services.payment_refund(payment=payment, amount=Decimal("50000"), reason="Goodwill")
    payment = refund.payment
    assert (payment.status, payment.refunded_amount) == ("partial_refund", Decimal("50000"))
    first_key = payment.gateway_response["refund_key"]
    assert first_key == refund.refund_key
    assert first_key.startswith(f"{payment.order_id}-refund-")

    # Retrying the same refund (same key) refunds nothing more.
    again = SandboxGateway().refund(
        payment.order_id, amount=50000, refund_key=first_key, reason="Goodwill"
    )
    assert again.refunded_amount == Decimal("50000")

    with pytest.raises(AmountMismatch):
        services.payment_refund(payment=payment, amount=Decimal("100001"), reason="Too much")
    with pytest.raises(BillingError, match="reason"):
        services.payment_refund(payment=payment, reason="  ")

    payment = services.payment_refund(payment=payment, reason="Cancelled by customer").payment
    assert (payment.status, payment.refunded_amount) == ("refund", Decimal("150000"))
    notifications = sent(recorder)
    assert [body["transaction_status"] for body in notifications] == ["partial_refund", "refund"]
    assert notifications[-1]["refund_amount"] == "150000.00"
    assert [r["refund_amount"] for r in notifications[-1]["refunds"]] == ["50000.00", "100000.00"]
    assert all(signature_is_valid(body, sandbox_server_key()) for body in notifications)


@pytest.mark.django_db
def test_the_sandbox_refuses_a_refund_larger_than_what_is_left(alice, recorder):
    payment = start(alice)
    services.payment_apply_status(payment=payment, transaction_status="settlement")
    with pytest.raises(GatewayError) as caught:
        SandboxGateway().refund(payment.order_id, amount=150001, refund_key="k", reason="r")
    assert caught.value.status_code == 414


# --- Through our own webhook, over HTTP ---------------------------------------------------------


@pytest.fixture
def live(sandbox, live_server):
    sandbox.SITE_URL = live_server.url
    return live_server


@pytest.mark.django_db(transaction=True)
def test_paying_on_the_page_reaches_our_webhook_and_activates_the_subscription(client, alice, live):
    payment = start(alice)
    client.force_login(alice)
    response = client.post(pay_url(payment), {"outcome": "settlement", "payment_type": "qris"})
    assert response.status_code == 302
    payment.refresh_from_db()
    assert (payment.status, payment.is_paid, payment.payment_type) == ("settlement", True, "qris")
    assert payment.invoice.status == "paid"
    assert payment.subscription.status == "active"
    log = WebhookLog.objects.get()
    assert (log.status, log.signature_valid, log.remote_addr) == ("processed", True, "127.0.0.1")


@pytest.mark.django_db(transaction=True)
def test_stay_pending_then_settle_later(client, alice, live):
    payment = start(alice)
    client.force_login(alice)
    client.post(pay_url(payment), {"outcome": "pending", "payment_type": "bank_transfer"})
    payment.refresh_from_db()
    assert payment.status == "pending"
    # Still pending, so the page still offers to pay.
    assert 'value="settlement"' in client.get(pay_url(payment)).content.decode()
    client.post(pay_url(payment), {"outcome": "settlement", "payment_type": "bank_transfer"})
    payment.refresh_from_db()
    assert payment.is_paid
    assert list(WebhookLog.objects.order_by("pk").values_list("transaction_status", "status")) == [
        ("pending", "duplicate"),
        ("settlement", "processed"),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_refund_through_the_sandbox_arrives_as_a_notification_too(client, alice, live):
    payment = start(alice)
    client.force_login(alice)
    client.post(pay_url(payment), {"outcome": "capture_accept"})
    refund = services.payment_refund(payment=payment, amount=Decimal("10000"), reason="Sorry")
    payment = Payment.objects.get(pk=payment.pk)
    assert payment.refunded_amount == Decimal("10000")
    # The notification completed the refund in flight (by its key); the answer found it done.
    assert refund.status == "succeeded"
    assert payment.refunds.get().amount == Decimal("10000")
    statuses = list(WebhookLog.objects.order_by("pk").values_list("transaction_status", "status"))
    assert statuses == [("capture", "processed"), ("partial_refund", "processed")]


@pytest.mark.django_db(transaction=True)
def test_a_sandbox_notification_is_rejected_once_midtrans_is_configured(
    client, alice, live, settings
):
    payment = start(alice)
    settings.MIDTRANS_SERVER_KEY = "SB-Mid-server-real"
    body = SandboxGateway().transaction_body(payment, transaction_status="settlement")
    response = client.post(
        "/webhooks/midtrans/", data=json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 401
    payment.refresh_from_db()
    assert not payment.is_paid
