"""Customer checkout pages: pay an invoice, come back, wait for the webhook.

The last tests run the whole sandbox flow over real HTTP against ``live_server``:
invoice, pay, sandbox page, outcome, notification to our webhook, finish page.
"""

from __future__ import annotations

import re
import time
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.urls import reverse

from subscriptions import services
from subscriptions.gateways.sandbox import finish_url_from
from subscriptions.models import Invoice, Payment, WebhookLog
from subscriptions.tests.factories import PlanFactory
from subscriptions.tests.midtrans_samples import SERVER_KEY


def open_invoice(user, price="150000") -> Invoice:
    plan = PlanFactory(price=Decimal(price), name="Pro")
    return services.subscription_create(user=user, plan=plan).invoices.get()


def pay_path(invoice: Invoice) -> str:
    return reverse("checkout:pay", args=[invoice.pk])


def finish_path(payment: Payment) -> str:
    return reverse("checkout:finish", args=[payment.order_id])


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


# --- Pay --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_paying_sends_the_owner_to_the_payment_page(client, alice, sandbox):
    invoice = open_invoice(alice)
    client.force_login(alice)
    response = client.post(pay_path(invoice))
    payment = Payment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == payment.redirect_url
    assert payment.invoice == invoice
    # The gateway will send the browser back to this payment's finish page.
    finish = parse_qs(urlsplit(payment.redirect_url).query)["finish"][0]
    assert finish_url_from(finish) == sandbox.SITE_URL + finish_path(payment)


@pytest.mark.django_db
def test_a_stranger_cannot_pay_someone_elses_invoice(client, alice, bob, sandbox):
    invoice = open_invoice(alice)
    client.force_login(bob)
    assert client.post(pay_path(invoice)).status_code == 404
    assert not Payment.objects.exists()


@pytest.mark.django_db
def test_paying_needs_a_login_and_a_post(client, alice, sandbox):
    invoice = open_invoice(alice)
    response = client.post(pay_path(invoice))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    client.force_login(alice)
    assert client.get(pay_path(invoice)).status_code == 405
    assert not Payment.objects.exists()


@pytest.mark.django_db
def test_a_gateway_refusal_is_a_clear_message_not_a_500(client, alice, midtrans):
    midtrans.expect_request("/snap/v1/transactions").respond_with_json(
        {
            "error_messages": [
                "Access denied due to unauthorized transaction, please check client or server key"
            ]
        },
        status=401,
    )
    invoice = open_invoice(alice)
    client.force_login(alice)
    response = client.post(pay_path(invoice))
    assert response.status_code == 502
    page = response.content.decode()
    assert "We could not start your payment" in page
    assert "Access denied due to unauthorized transaction" in page
    assert "Try again" in page
    assert not Payment.objects.exists()


@pytest.mark.django_db
def test_an_unreachable_gateway_is_a_clear_message(client, alice, settings):
    settings.MIDTRANS_SERVER_KEY = SERVER_KEY
    settings.SUBSCRIPTIONS_GATEWAY = "midtrans"
    settings.MIDTRANS_SNAP_BASE_URL = "http://127.0.0.1:9"
    settings.SUBSCRIPTIONS_GATEWAY_RETRIES = 0
    invoice = open_invoice(alice)
    client.force_login(alice)
    response = client.post(pay_path(invoice))
    assert response.status_code == 503
    assert "could not be reached" in response.content.decode()


@pytest.mark.django_db
def test_a_disabled_sandbox_in_production_is_a_clear_message(client, alice, settings):
    settings.MIDTRANS_SERVER_KEY = ""
    settings.SUBSCRIPTIONS_GATEWAY = ""
    settings.SUBSCRIPTIONS_SANDBOX_ALLOWED = False
    settings.DEBUG = False
    invoice = open_invoice(alice)
    client.force_login(alice)
    response = client.post(pay_path(invoice))
    assert response.status_code == 502
    assert "sandbox is switched off" in response.content.decode()


@pytest.mark.django_db
def test_a_paid_invoice_cannot_be_paid_again(client, alice, sandbox):
    invoice = open_invoice(alice)
    services.invoice_mark_paid_offline(invoice=invoice, reference="BANK-1")
    client.force_login(alice)
    response = client.post(pay_path(invoice))
    assert response.status_code == 409
    assert "cannot be paid" in response.content.decode()
    assert "Try again" not in response.content.decode()


@pytest.mark.django_db
def test_a_draft_invoice_is_not_found(client, alice, sandbox):
    draft = services.invoice_create(
        user=alice,
        lines=[services.LineSpec(description="x", unit_amount=Decimal("1000"))],
        issue=False,
    )
    client.force_login(alice)
    assert client.post(pay_path(draft)).status_code == 404


# --- Finish -------------------------------------------------------------------------------


@pytest.fixture
def pending_payment(alice, sandbox) -> Payment:
    return services.checkout_start(invoice=open_invoice(alice), user=alice)


@pytest.mark.django_db
def test_the_finish_page_belongs_to_the_payer(client, pending_payment, alice, bob):
    anonymous = client.get(finish_path(pending_payment))
    assert anonymous.status_code == 302
    client.force_login(bob)
    assert client.get(finish_path(pending_payment)).status_code == 404
    assert client.get(reverse("checkout:finish", args=["NO-SUCH-ORDER"])).status_code == 404
    client.force_login(alice)
    assert client.get(finish_path(pending_payment)).status_code == 200


@pytest.mark.django_db
def test_the_finish_page_polls_while_pending_and_ignores_the_query_string(
    client, pending_payment, alice
):
    client.force_login(alice)
    url = finish_path(pending_payment) + "?order_id=x&status_code=200&transaction_status=settlement"
    page = client.get(url).content.decode()
    assert "Waiting for confirmation" in page
    assert "Payment received" not in page
    assert 'hx-trigger="every 2s"' in page
    assert re.search(r'hx-get="[^"]*/finish/\?t=\d+"', page)
    assert "Continue to the payment page" in page
    pending_payment.refresh_from_db()
    assert not pending_payment.is_paid


@pytest.mark.django_db
def test_an_htmx_poll_gets_only_the_status_fragment(client, pending_payment, alice):
    client.force_login(alice)
    response = client.get(finish_path(pending_payment), HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert page.lstrip().startswith("<section")
    assert "<html" not in page
    assert 'id="checkout-status"' in page
    assert response["Vary"]
    assert "HX-Request" in response["Vary"]


@pytest.mark.django_db
def test_polling_stops_after_the_timeout_with_a_clear_message(client, pending_payment, alice):
    client.force_login(alice)
    long_ago = int(time.time()) - 600
    response = client.get(f"{finish_path(pending_payment)}?t={long_ago}", HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert "hx-trigger" not in page
    assert "Still waiting for the payment provider" in page
    assert "Check again" in page


@pytest.mark.django_db
def test_the_finish_page_shows_what_the_webhook_decided(client, pending_payment, alice):
    client.force_login(alice)
    services.payment_apply_status(payment=pending_payment, transaction_status="settlement")
    page = client.get(finish_path(pending_payment)).content.decode()
    assert "Payment received" in page
    assert "hx-trigger" not in page


@pytest.mark.django_db
def test_a_failed_payment_offers_to_try_again(client, pending_payment, alice):
    client.force_login(alice)
    services.payment_apply_status(payment=pending_payment, transaction_status="deny")
    page = client.get(finish_path(pending_payment)).content.decode()
    assert "did not go through" in page
    assert f'action="{reverse("checkout:pay", args=[pending_payment.invoice_id])}"' in page


@pytest.mark.django_db
def test_a_challenged_card_payment_is_under_review(client, pending_payment, alice):
    client.force_login(alice)
    services.payment_apply_status(
        payment=pending_payment, transaction_status="capture", fraud_status="challenge"
    )
    page = client.get(finish_path(pending_payment)).content.decode()
    assert "being reviewed" in page
    assert "hx-trigger" in page


# --- The whole flow over HTTP -----------------------------------------------------------------


def http_session(client, user) -> requests.Session:
    """A real HTTP client logged in as ``user`` (the session cookie of force_login) with a
    CSRF cookie and header of its own, as a browser has."""
    client.force_login(user)
    session = requests.Session()
    session.cookies.set("sessionid", client.cookies["sessionid"].value)
    token = "a" * 32
    session.cookies.set("csrftoken", token)
    session.headers["X-CSRFToken"] = token
    return session


@pytest.mark.django_db(transaction=True)
def test_the_whole_sandbox_flow_over_http(client, alice, settings, live_server):
    settings.MIDTRANS_SERVER_KEY = ""
    settings.SUBSCRIPTIONS_GATEWAY = ""
    settings.SUBSCRIPTIONS_SANDBOX_ALLOWED = True
    settings.MIDTRANS_NOTIFICATION_URL = ""
    settings.SITE_URL = live_server.url
    invoice = open_invoice(alice)
    assert invoice.subscription.status == "pending"
    browser = http_session(client, alice)

    # 1. Pay: the shop sends the browser to the gateway's page.
    started = browser.post(live_server.url + pay_path(invoice), allow_redirects=False)
    assert started.status_code == 302, started.text
    payment_page_url = started.headers["Location"]
    assert payment_page_url.startswith(f"{live_server.url}/sandbox/pay/")

    # 2. The sandbox page shows what is being paid.
    page = browser.get(payment_page_url)
    assert page.status_code == 200
    assert "Rp 150.000" in page.text
    finish_token = re.search(r'name="finish" value="([^"]+)"', page.text).group(1)

    # 3. The person pays; the sandbox notifies our webhook over HTTP, then returns them.
    paid = browser.post(
        payment_page_url,
        data={"outcome": "settlement", "payment_type": "bank_transfer", "finish": finish_token},
        allow_redirects=False,
    )
    assert paid.status_code == 302, paid.text
    finish_url = paid.headers["Location"]
    payment = Payment.objects.get()
    assert urlsplit(finish_url).path == finish_path(payment)

    # 4. The finish page shows what the webhook recorded.
    finished = browser.get(finish_url)
    assert "Payment received" in finished.text

    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert (payment.status, payment.is_paid) == ("settlement", True)
    assert invoice.status == "paid"
    assert invoice.subscription.status == "active"
    log = WebhookLog.objects.get()
    assert (log.status, log.signature_valid, log.payment_id) == ("processed", True, payment.pk)


@pytest.mark.django_db(transaction=True)
def test_a_second_attempt_after_a_denied_card_pays(client, alice, settings, live_server):
    settings.MIDTRANS_SERVER_KEY = ""
    settings.SUBSCRIPTIONS_GATEWAY = ""
    settings.SUBSCRIPTIONS_SANDBOX_ALLOWED = True
    settings.MIDTRANS_NOTIFICATION_URL = ""
    settings.SITE_URL = live_server.url
    invoice = open_invoice(alice)
    browser = http_session(client, alice)

    first = browser.post(live_server.url + pay_path(invoice), allow_redirects=False).headers[
        "Location"
    ]
    denied = browser.post(first, data={"outcome": "deny"}, allow_redirects=True)
    assert "did not go through" in denied.text

    second = browser.post(live_server.url + pay_path(invoice), allow_redirects=False).headers[
        "Location"
    ]
    assert second != first
    done = browser.post(second, data={"outcome": "capture_accept"}, allow_redirects=True)
    assert "Payment received" in done.text
    assert list(Payment.objects.order_by("pk").values_list("status", "is_paid")) == [
        ("deny", False),
        ("capture", True),
    ]
    invoice.refresh_from_db()
    assert invoice.status == "paid"
