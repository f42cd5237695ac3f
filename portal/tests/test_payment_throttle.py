"""Rate limits on the endpoints that start a payment at the gateway.

Each start creates a transaction at Midtrans (a Snap token, a payment row): checkout
(``POST /billing/invoices/<pk>/pay/``), a wallet top-up (``POST /billing/wallet/top-up/``)
and the hosted invoice's ``POST /i/<token>/pay/``, which needs no sign-in. Past
``PORTAL_PAYMENT_STARTS_PER_USER`` starts for one customer, or
``PORTAL_PAYMENT_STARTS_PER_IP`` from one client address, within
``PORTAL_PAYMENT_STARTS_WINDOW`` seconds, the answer is 429 with a clear message and
nothing is created. The counters live in the shared cache.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from portal import links
from subscriptions import services
from subscriptions.models import Payment
from subscriptions.tests.factories import PlanFactory, UserFactory
from wallets.models import TopUp

MESSAGE = "Too many payment attempts"


@pytest.fixture
def limits(sandbox_settings):
    sandbox_settings.PORTAL_PAYMENT_STARTS_PER_USER = 2
    sandbox_settings.PORTAL_PAYMENT_STARTS_PER_IP = 3
    sandbox_settings.PORTAL_PAYMENT_STARTS_WINDOW = 600
    return sandbox_settings


def open_invoice(user):
    plan = PlanFactory(price=Decimal("150000"))
    return services.subscription_create(user=user, plan=plan).invoices.get()


def signed_in(user, **defaults) -> Client:
    client = Client(**defaults)
    client.force_login(user)
    return client


def assert_refused(response) -> None:
    assert response.status_code == 429
    assert MESSAGE in response.content.decode()
    assert int(response["Retry-After"]) > 0


@pytest.mark.django_db
def test_checkout_starts_past_the_limit_are_refused_with_nothing_created(alice, limits):
    invoice = open_invoice(alice)
    client = signed_in(alice)
    url = reverse("checkout:pay", args=[invoice.pk])

    assert [client.post(url).status_code for _ in range(2)] == [302, 302]
    response = client.post(url)

    assert_refused(response)
    assert Payment.objects.filter(invoice=invoice).count() == 2


@pytest.mark.django_db
def test_top_ups_past_the_limit_are_refused_with_nothing_created(alice, limits):
    client = signed_in(alice)
    url = reverse("portal:wallet_topup")

    for _ in range(2):
        assert client.post(url, {"preset": "100000"}).status_code == 302
    response = client.post(url, {"preset": "100000"})

    assert_refused(response)
    assert 'id="topup-form"' in response.content.decode()  # the wallet page, form kept
    assert TopUp.objects.filter(user=alice).count() == 2


@pytest.mark.django_db
def test_the_hosted_pay_endpoint_counts_against_the_invoices_owner(alice, limits):
    """No sign-in there: the starts count for the invoice's owner, whoever clicks."""
    invoice = open_invoice(alice)
    pay = links.hosted_invoice_path(invoice.pk) + "pay/"

    first = Client(REMOTE_ADDR="192.0.2.1").post(pay)
    second = Client(REMOTE_ADDR="192.0.2.2").post(pay)
    third = Client(REMOTE_ADDR="192.0.2.3").post(pay)

    assert (first.status_code, second.status_code) == (302, 302)
    assert_refused(third)
    assert invoice.number in third.content.decode()  # the invoice page, with the message
    assert Payment.objects.filter(invoice=invoice).count() == 2


@pytest.mark.django_db
def test_one_client_address_is_limited_across_customers(alice, bob, limits):
    carol = UserFactory(email="carol@example.com")
    same_address = {"REMOTE_ADDR": "203.0.113.7"}
    for user in (alice, bob):
        client = signed_in(user, **same_address)
        invoice = open_invoice(user)
        assert client.post(reverse("checkout:pay", args=[invoice.pk])).status_code == 302
    assert (
        signed_in(alice, **same_address)
        .post(reverse("portal:wallet_topup"), {"preset": "100000"})
        .status_code
        == 302
    )

    carol_invoice = open_invoice(carol)
    response = signed_in(carol, **same_address).post(
        reverse("checkout:pay", args=[carol_invoice.pk])
    )
    elsewhere = signed_in(carol, REMOTE_ADDR="198.51.100.9").post(
        reverse("checkout:pay", args=[carol_invoice.pk])
    )

    assert_refused(response)
    assert elsewhere.status_code == 302


@pytest.mark.django_db
def test_behind_a_proxy_the_address_limit_is_per_customer_address(alice, bob, limits):
    limits.TRUSTED_PROXY_COUNT = 1
    limits.PORTAL_PAYMENT_STARTS_PER_IP = 1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    alice_invoice, bob_invoice = open_invoice(alice), open_invoice(bob)

    first = signed_in(alice, HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy).post(
        reverse("checkout:pay", args=[alice_invoice.pk])
    )
    other_customer = signed_in(bob, HTTP_X_FORWARDED_FOR="198.51.100.9", **proxy).post(
        reverse("checkout:pay", args=[bob_invoice.pk])
    )

    assert (first.status_code, other_customer.status_code) == (302, 302)


@pytest.mark.django_db
def test_an_htmx_request_gets_the_message_in_the_notification_region(alice, limits):
    limits.PORTAL_PAYMENT_STARTS_PER_USER = 0  # off: only the address limit applies
    limits.PORTAL_PAYMENT_STARTS_PER_IP = 1
    invoice = open_invoice(alice)
    client = signed_in(alice)
    url = reverse("checkout:pay", args=[invoice.pk])
    client.post(url)

    response = client.post(url, headers={"HX-Request": "true", "HX-Target": "invoice-card"})

    assert_refused(response)
    body = response.content.decode()
    assert 'id="notifications"' in body
    assert 'hx-swap-oob="true"' in body
    assert response["HX-Reswap"] == "none"
    assert Payment.objects.filter(invoice=invoice).count() == 1
