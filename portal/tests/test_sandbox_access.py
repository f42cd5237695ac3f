"""Who may use the sandbox's payment page (``/sandbox/pay/<token>/``).

Its owner, signed in; or the browser that started the payment from the invoice's
signed hosted link (that browser's session remembers the payment), signed in or not.
Anyone else holding the token gets a 404 and moves nothing.
"""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.test import Client

from portal import links
from subscriptions import services
from subscriptions.models import Payment
from subscriptions.tests.factories import PlanFactory


@pytest.fixture
def recorder(sandbox_settings, httpserver):
    """The sandbox's notifications go to a local server that records them."""
    sandbox_settings.MIDTRANS_NOTIFICATION_URL = httpserver.url_for("/notify")
    httpserver.expect_request("/notify", method="POST").respond_with_json({"status": "ok"})
    return httpserver


@pytest.fixture
def invoice(alice):
    plan = PlanFactory(name="Pro", price=Decimal("150000"))
    return services.subscription_create(user=alice, plan=plan).invoices.get()


def start_from_hosted_link(client: Client, invoice) -> tuple[Payment, str]:
    response = client.post(links.hosted_invoice_path(invoice.pk) + "pay/")
    assert response.status_code == 302
    payment = Payment.objects.get(invoice=invoice)
    parts = urlsplit(response["Location"])
    return payment, f"{parts.path}?{parts.query}"


@pytest.mark.django_db
def test_the_browser_that_paid_from_the_hosted_link_uses_the_page_signed_out(
    client, invoice, recorder
):
    _payment, page = start_from_hosted_link(client, invoice)

    assert client.get(page).status_code == 200
    response = client.post(page, {"outcome": "settlement", "payment_type": "qris"})

    assert response.status_code == 302
    assert len(recorder.log) == 1


@pytest.mark.django_db
def test_another_browser_with_the_same_link_and_token_gets_404_and_moves_nothing(
    client, invoice, recorder
):
    payment, page = start_from_hosted_link(client, invoice)
    # Someone else who has the invoice link too, and saw the payment page's address.
    other = Client()
    other.get(links.hosted_invoice_path(invoice.pk))

    assert other.get(page).status_code == 404
    assert other.post(page, {"outcome": "cancel"}).status_code == 404

    assert recorder.log == []
    payment.refresh_from_db()
    assert payment.status == "pending"


@pytest.mark.django_db
def test_the_owner_signed_in_elsewhere_may_use_the_page(client, invoice, alice, recorder):
    _payment, page = start_from_hosted_link(client, invoice)
    owner = Client()
    owner.force_login(alice)

    assert owner.get(page).status_code == 200
