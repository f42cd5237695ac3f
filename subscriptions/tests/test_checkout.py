"""Checkout service: one new payment attempt per checkout, earlier attempts expired,
the Snap request built to Midtrans' rules, and no payment recorded when the gateway
refuses."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.utils import timezone

from subscriptions import services
from subscriptions.exceptions import GatewayError, GatewayUnavailable, InvoiceNotPayable
from subscriptions.gateways.snap import snap_request
from subscriptions.models import Payment
from subscriptions.tests.factories import PlanFactory

from .midtrans_samples import SERVER_KEY

FINISH = "https://shop.example/billing/checkout/{order_id}/finish/"


def finish(order_id: str) -> str:
    return FINISH.format(order_id=order_id)


def open_invoice(user, price="150000"):
    plan = PlanFactory(price=Decimal(price), name="Pro")
    return services.subscription_create(user=user, plan=plan).invoices.get()


@pytest.fixture
def sandbox(settings, httpserver):
    settings.MIDTRANS_SERVER_KEY = ""
    settings.SUBSCRIPTIONS_GATEWAY = ""
    settings.SUBSCRIPTIONS_SANDBOX_ALLOWED = True
    # The sandbox's notifications (for expired attempts) go to a recording server.
    settings.MIDTRANS_NOTIFICATION_URL = httpserver.url_for("/notify")
    httpserver.expect_request("/notify", method="POST").respond_with_json({})
    return settings


@pytest.fixture
def midtrans(settings, httpserver):
    settings.MIDTRANS_SERVER_KEY = SERVER_KEY
    settings.SUBSCRIPTIONS_GATEWAY = "midtrans"
    settings.MIDTRANS_API_BASE_URL = httpserver.url_for("").rstrip("/")
    settings.MIDTRANS_SNAP_BASE_URL = httpserver.url_for("").rstrip("/")
    settings.MIDTRANS_NOTIFICATION_URL = ""
    settings.SUBSCRIPTIONS_GATEWAY_RETRY_BACKOFF = 0
    return httpserver


def snap_ok(httpserver):
    httpserver.expect_request("/snap/v1/transactions", method="POST").respond_with_json(
        {
            "token": "tok-1",
            "redirect_url": "https://app.sandbox.midtrans.com/snap/v4/redirection/tok-1",
        },
        status=201,
    )


@pytest.mark.django_db
def test_checkout_creates_a_pending_attempt_with_the_gateways_page(alice, sandbox):
    invoice = open_invoice(alice)
    payment = services.checkout_start(invoice=invoice, user=alice, finish_url=finish)
    assert payment.status == "pending"
    assert payment.invoice == invoice
    assert payment.subscription == invoice.subscription
    assert payment.user == alice
    assert payment.gross_amount == invoice.total
    assert payment.order_id.startswith(f"{invoice.number}-")
    assert payment.gateway == "sandbox"
    assert payment.snap_token
    assert payment.redirect_url
    assert payment.gateway_response == {
        "token": payment.snap_token,
        "redirect_url": payment.redirect_url,
        "item_details": snap_request(
            order_id=payment.order_id,
            amount=invoice.total,
            currency="IDR",
            user=alice,
            invoice=invoice,
            finish_url=finish(payment.order_id),
            expiry_minutes=60,
        )["item_details"],
    }


@pytest.mark.django_db
def test_a_new_checkout_expires_the_earlier_pending_attempt(alice, sandbox, httpserver):
    invoice = open_invoice(alice)
    first = services.checkout_start(invoice=invoice, user=alice, finish_url=finish)
    second = services.checkout_start(invoice=invoice, user=alice, finish_url=finish)

    assert second.order_id != first.order_id
    first.refresh_from_db()
    assert first.status == "expire"
    assert second.status == "pending"
    ((request, _),) = httpserver.log
    assert json.loads(request.get_data())["transaction_status"] == "expire"


@pytest.mark.django_db
def test_the_snap_request_follows_midtrans_rules(alice, midtrans):
    snap_ok(midtrans)
    invoice = open_invoice(alice)
    payment = services.checkout_start(invoice=invoice, user=alice, finish_url=finish)

    ((request, _),) = midtrans.log
    body = json.loads(request.get_data())
    assert body["transaction_details"] == {"order_id": payment.order_id, "gross_amount": 150000}
    assert sum(item["price"] * item["quantity"] for item in body["item_details"]) == 150000
    assert all(
        isinstance(item["price"], int) and len(item["name"]) <= 50 for item in body["item_details"]
    )
    assert body["customer_details"]["email"] == "alice@example.com"
    assert body["callbacks"] == {"finish": finish(payment.order_id)}
    assert body["expiry"]["unit"] == "minutes"
    assert body["expiry"]["duration"] == 24 * 60
    assert payment.snap_token == "tok-1"
    assert payment.gateway == "midtrans"


@pytest.mark.django_db
def test_discount_tax_and_rounding_become_items_that_add_up(alice):
    invoice = services.invoice_create(
        user=alice,
        lines=[
            services.LineSpec(description="Seats", unit_amount=Decimal("33333.33"), quantity=3),
            services.LineSpec(
                description="Proration credit",
                unit_amount=Decimal("-5000"),
                amount=Decimal("-5000"),
            ),
        ],
        discount=Decimal("10000"),
        tax=Decimal("8800"),
    )
    request = snap_request(
        order_id="X-1", amount=invoice.total, currency="IDR", user=alice, invoice=invoice
    )
    gross = request["transaction_details"]["gross_amount"]
    assert gross == int(invoice.total)
    items = request["item_details"]
    assert sum(item["price"] * item["quantity"] for item in items) == gross
    names = [item["name"] for item in items]
    assert "Discount" in names
    assert "Tax" in names
    assert next(i for i in items if i["name"] == "Discount")["price"] == -10000


@pytest.mark.django_db
def test_a_currency_midtrans_cannot_charge_is_a_gateway_error(alice):
    with pytest.raises(GatewayError, match="not supported"):
        snap_request(order_id="X-1", amount=Decimal("10.50"), currency="USD", user=alice)


@pytest.mark.django_db
def test_when_the_gateway_refuses_no_payment_is_recorded(alice, midtrans):
    midtrans.expect_request("/snap/v1/transactions").respond_with_json(
        {
            "error_messages": [
                "Access denied due to unauthorized transaction, please check client or server key"
            ]
        },
        status=401,
    )
    invoice = open_invoice(alice)
    with pytest.raises(GatewayError, match="Access denied"):
        services.checkout_start(invoice=invoice, user=alice, finish_url=finish)
    assert not Payment.objects.exists()


@pytest.mark.django_db
def test_when_the_gateway_is_down_no_payment_is_recorded(alice, midtrans):
    midtrans.expect_request("/snap/v1/transactions").respond_with_data("Bad gateway", status=502)
    with pytest.raises(GatewayUnavailable):
        services.checkout_start(invoice=open_invoice(alice), user=alice, finish_url=finish)
    assert not Payment.objects.exists()


@pytest.mark.django_db
def test_an_earlier_attempt_midtrans_never_saw_stays_pending(alice, midtrans):
    """A Snap page on which no method was chosen is unknown to the Core API (404) but
    can still be paid, so it is not marked expired here."""
    snap_ok(midtrans)
    invoice = open_invoice(alice)
    first = services.checkout_start(invoice=invoice, user=alice, finish_url=finish)
    midtrans.expect_request(f"/v2/{first.order_id}/expire", method="POST").respond_with_json(
        {"status_code": "404", "status_message": "Transaction doesn't exist."}
    )
    second = services.checkout_start(invoice=invoice, user=alice, finish_url=finish)
    first.refresh_from_db()
    assert first.status == "pending"
    assert second.status == "pending"


@pytest.mark.django_db
def test_an_earlier_attempt_that_was_paid_meanwhile_pays_the_invoice_and_stops_the_checkout(
    alice, midtrans
):
    snap_ok(midtrans)
    invoice = open_invoice(alice)
    first = services.checkout_start(invoice=invoice, user=alice, finish_url=finish)
    midtrans.expect_request(f"/v2/{first.order_id}/expire", method="POST").respond_with_json(
        {
            "status_code": "412",
            "status_message": "Merchant cannot modify the status of the transaction",
        }
    )
    midtrans.expect_request(f"/v2/{first.order_id}/status", method="GET").respond_with_json(
        {
            "status_code": "200",
            "order_id": first.order_id,
            "transaction_status": "settlement",
            "fraud_status": "accept",
            "payment_type": "bank_transfer",
            "gross_amount": "150000.00",
            "currency": "IDR",
        }
    )
    with pytest.raises(InvoiceNotPayable, match="paid"):
        services.checkout_start(invoice=invoice, user=alice, finish_url=finish)
    first.refresh_from_db()
    assert first.is_paid
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert Payment.objects.count() == 1


@pytest.mark.django_db
def test_only_open_invoices_of_the_user_can_be_paid(alice, bob, sandbox):
    invoice = open_invoice(alice)
    with pytest.raises(InvoiceNotPayable, match="someone else"):
        services.checkout_start(invoice=invoice, user=bob)
    services.invoice_void(invoice=invoice, reason="test")
    with pytest.raises(InvoiceNotPayable, match="void"):
        services.checkout_start(invoice=invoice, user=alice)
    assert not Payment.objects.exists()


@pytest.mark.django_db
def test_an_expired_checkout_page_offers_nothing(client, alice, sandbox):
    payment = services.checkout_start(invoice=open_invoice(alice), user=alice, finish_url=finish)
    Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - dt.timedelta(days=2))
    client.force_login(alice)
    response = client.get(payment.redirect_url.removeprefix(sandbox.SITE_URL))
    assert "has expired" in response.content.decode()
    assert 'value="settlement"' not in response.content.decode()
