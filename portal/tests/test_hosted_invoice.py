"""The hosted invoice page (``/i/<token>/``): one invoice, payable without signing in.

Paying goes through ``checkout_start`` with the gateway of the day: Midtrans' Snap API
is a local HTTP server here (pytest-httpserver), the sandbox is the offline one.
"""

from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import reset_queries
from django.urls import reverse

from conftest import local, local_day
from portal import links
from portal.tests.test_invoice_refunds import (
    LATE,
    history,
    insert,
    one,
    paid_invoice,
    queries,
    refund,
    settled,
    texts,
    void,
)
from subscriptions import services
from subscriptions.gateways.sandbox import finish_url_from
from subscriptions.models import Payment
from subscriptions.tests.factories import InvoiceFactory, PlanFactory
from subscriptions.tests.midtrans_samples import SERVER_KEY

SNAP_REDIRECT = "https://app.sandbox.midtrans.com/snap/v4/redirection/3f9a1c"


@pytest.fixture
def sandbox(settings):
    settings.MIDTRANS_SERVER_KEY = ""
    settings.SUBSCRIPTIONS_GATEWAY = ""
    settings.SUBSCRIPTIONS_SANDBOX_ALLOWED = True
    # Nothing listens here: notifications of expired attempts fail fast and are logged.
    settings.MIDTRANS_NOTIFICATION_URL = "http://127.0.0.1:9/webhooks/midtrans/"
    return settings


@pytest.fixture
def midtrans(settings, httpserver):
    settings.MIDTRANS_SERVER_KEY = SERVER_KEY
    settings.SUBSCRIPTIONS_GATEWAY = "midtrans"
    settings.MIDTRANS_SNAP_BASE_URL = httpserver.url_for("").rstrip("/")
    settings.MIDTRANS_API_BASE_URL = httpserver.url_for("").rstrip("/")
    return httpserver


@pytest.fixture
def invoice(alice):
    plan = PlanFactory(name="Pro", price=Decimal("150000"))
    return services.subscription_create(user=alice, plan=plan).invoices.get()


def page(invoice) -> str:
    return links.hosted_invoice_path(invoice.pk)


def pay(invoice) -> str:
    return page(invoice) + "pay/"


@pytest.mark.clock_sensitive
def test_the_page_shows_the_invoice_and_nothing_else(client, invoice):
    response = client.get(page(invoice))

    assert response.status_code == 200
    body = response.content.decode()
    assert invoice.number in body
    assert "Rp 150.000" in body
    assert f"Due on {local_day(invoice.due_date)}" in body.replace("\u00a0", " ")
    line = invoice.lines.get()
    start, end = local(line.period_start), local(line.period_end)
    assert line.description == f"Pro ({start:%d %b %Y} – {end:%d %b %Y})"  # as stored
    # shown with the pages' one date format
    assert f"Pro ({local_day(line.period_start)} – {local_day(line.period_end)})" in body
    assert 'aria-label="Main"' not in body  # no portal navigation
    assert reverse("account_login") not in body
    assert reverse("portal:dashboard") not in body
    assert 'name="robots" content="noindex' in body
    assert "no-cache" in response["Cache-Control"]


def test_paying_with_snap_sends_the_reader_to_midtrans_and_back_to_this_page(
    client, invoice, midtrans
):
    midtrans.expect_request("/snap/v1/transactions", method="POST").respond_with_json(
        {"token": "3f9a1c", "redirect_url": SNAP_REDIRECT}, status=201
    )

    hosted = page(invoice)

    response = client.post(hosted + "pay/")

    assert response.status_code == 302
    assert response["Location"] == SNAP_REDIRECT
    payment = Payment.objects.get()
    assert (payment.invoice, payment.user, payment.gateway) == (invoice, invoice.user, "midtrans")
    request_body = json.loads(midtrans.log[0][0].get_data())
    finish = request_body["callbacks"]["finish"]
    assert finish == f"http://testserver{hosted}?order={payment.order_id}"


def test_paying_with_the_sandbox_sends_the_reader_to_its_payment_page(client, invoice, sandbox):
    hosted = page(invoice)

    response = client.post(hosted + "pay/")

    payment = Payment.objects.get()
    assert response["Location"] == payment.redirect_url
    signed_finish = parse_qs(urlsplit(payment.redirect_url).query)["finish"][0]
    assert finish_url_from(signed_finish).endswith(f"{hosted}?order={payment.order_id}")


def test_back_from_the_gateway_the_page_waits_for_the_webhook_then_says_paid(
    client, invoice, sandbox
):
    client.post(pay(invoice))
    payment = Payment.objects.get()
    back = f"{page(invoice)}?order={payment.order_id}"

    waiting = client.get(back).content.decode()
    assert 'data-state="pending"' in waiting
    assert 'hx-trigger="every' in waiting

    services.payment_apply_status(payment=payment, transaction_status="settlement")
    fragment = client.get(back, headers={"HX-Request": "true"}).content.decode()

    assert fragment.lstrip().startswith('<div id="hosted-status"')
    assert 'data-state="paid"' in fragment
    assert "Paid. Thank you!" in fragment
    assert "hx-trigger" not in fragment  # the poll stops


def test_a_denied_payment_offers_to_try_again(client, invoice, sandbox):
    hosted = page(invoice)
    client.post(hosted + "pay/")
    payment = Payment.objects.get()
    services.payment_apply_status(payment=payment, transaction_status="deny")

    body = client.get(f"{hosted}?order={payment.order_id}").content.decode()

    assert "did not go through" in body
    assert f'action="{hosted}pay/"' in body


def test_a_paid_invoice_has_nothing_to_pay_and_paying_again_is_refused(client, invoice, sandbox):
    services.invoice_mark_paid_offline(invoice=invoice, reference="BANK-1")
    hosted = page(invoice)

    body = client.get(hosted).content.decode()
    response = client.post(hosted + "pay/")

    assert "Paid. Thank you!" in body
    assert f'action="{hosted}pay/"' not in body
    assert response.status_code == 409
    assert "cannot be paid" in response.content.decode()
    assert not Payment.objects.filter(invoice=invoice).exclude(gateway__in=["", "offline"]).exists()


def test_a_gateway_that_cannot_start_a_payment_is_a_clear_message(client, invoice, midtrans):
    midtrans.expect_request("/snap/v1/transactions").respond_with_json(
        {"error_messages": ["Access denied due to unauthorized transaction"]}, status=401
    )

    response = client.post(pay(invoice))

    assert response.status_code == 502
    assert "Access denied due to unauthorized transaction" in response.content.decode()
    assert not Payment.objects.exists()


def test_a_void_invoice_shows_that_there_is_nothing_to_pay(client, invoice):
    services.invoice_void(invoice=invoice, reason="Customer left")

    body = client.get(page(invoice)).content.decode()

    assert "This invoice is void; there is nothing to pay." in body


def test_a_draft_invoice_has_no_hosted_page(client, alice):
    draft = InvoiceFactory(user=alice, status="draft")

    assert client.get(page(draft)).status_code == 404


def test_paying_needs_a_post_with_the_csrf_token(alice, invoice, sandbox):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)

    assert strict.get(pay(invoice)).status_code == 405
    assert strict.post(pay(invoice)).status_code == 403
    assert not Payment.objects.exists()


# --- After a refund, an overpayment or a void (issue 12) -----------------------------------


def test_the_page_shows_a_refund_to_the_wallet_with_paid_refunded_and_net(client, alice):
    invoice, payment = paid_invoice(alice)
    refund(payment, 50000, destination="wallet", reason="Two weeks of downtime")

    html = client.get(page(invoice)).content.decode()

    assert one(html, "amount-paid") == "Amount paid Rp 233.301"
    assert one(html, "amount-refunded") == "Refunded -Rp 50.000"
    assert one(html, "net-paid") == "Net paid Rp 183.301"
    (line,) = texts(html, "refund-line")
    assert "1 Jan 2027" in line  # 31 Dec 18:30 UTC is 1 Jan in Jakarta
    assert "Wallet" in line
    assert "Two weeks of downtime" in line
    assert "-Rp 50.000" in line
    assert one(html, "payment-refunded") == "Rp 50.000 of Rp 233.301 refunded"


def test_the_page_shows_a_refund_in_progress_and_an_overpayment_returned(client, alice):
    invoice, payment = paid_invoice(alice, "150000")
    refund(payment, 20000, destination="gateway", status="pending")
    late = settled(invoice, "150000", at=LATE, overpaid=True)
    refund(late, 150000, destination="gateway", kind="overpayment")

    html = client.get(page(invoice)).content.decode()

    (line,) = texts(html, "refund-line")
    assert "In progress" in line
    assert "Card or account" in line
    assert texts(html, "amount-refunded") == []
    assert one(html, "amount-paid") == "Amount paid Rp 150.000"
    assert one(html, "overpayment") == (
        "Rp 150.000 arrived after the invoice was paid — returned to your card or account."
    )


def test_a_voided_invoice_says_when_and_why(client, alice):
    invoice = void(insert(InvoiceFactory.build(user=alice, status="open")), "Plan withdrawn")

    html = client.get(page(invoice)).content.decode()

    assert one(html, "void-note") == "Voided on 5 Dec 2026: Plan withdrawn"
    assert f'action="{pay(invoice)}"' not in html


def test_the_page_runs_the_same_queries_with_many_refunds(
    client, alice, django_assert_max_num_queries
):
    plan = PlanFactory(name="Pro")
    (small,) = history(alice, plan, 1, refunds_each=1)
    (large,) = history(alice, plan, 1, refunds_each=20)

    one_refund = queries(lambda: client.get(page(small)))
    reset_queries()
    with django_assert_max_num_queries(len(one_refund)):
        html = client.get(page(large)).content.decode()

    assert len(texts(html, "refund-line")) == 40
    assert len(one_refund) <= 6, one_refund
