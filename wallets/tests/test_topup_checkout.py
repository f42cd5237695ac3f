"""Starting a top-up through the gateway: the payment page first, then the pending
top-up and its payment together; a refusal leaves nothing behind; the wallet is
credited only when the payment settles, once.

Midtrans is a local HTTP server (pytest-httpserver), never a mock of our code.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from subscriptions import services
from subscriptions.exceptions import BillingError, GatewayError, GatewayUnavailable
from subscriptions.models import Payment
from subscriptions.tests.midtrans_samples import SERVER_KEY
from wallets.models import TopUp, Wallet, WalletTransaction
from wallets.services import topup_checkout_start

FINISH = "https://shop.example/billing/wallet/top-ups/{order_id}/"


def finish(order_id: str) -> str:
    return FINISH.format(order_id=order_id)


@pytest.fixture
def sandbox(settings):
    settings.MIDTRANS_SERVER_KEY = ""
    settings.SUBSCRIPTIONS_GATEWAY = ""
    settings.SUBSCRIPTIONS_SANDBOX_ALLOWED = True
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


def nothing_was_created() -> bool:
    return not (
        TopUp.objects.exists()
        or Payment.objects.exists()
        or Wallet.objects.exists()
        or WalletTransaction.objects.exists()
    )


@pytest.mark.django_db
def test_a_top_up_starts_pending_with_the_gateways_payment_page(alice, sandbox):
    topup = topup_checkout_start(user=alice, amount=Decimal("100000"), finish_url=finish)

    payment = topup.payment
    assert topup.status == "pending"
    assert topup.amount == Decimal("100000")
    assert topup.user == alice
    assert topup.wallet.user == alice
    assert topup.order_id.startswith("TOPUP-")
    assert payment.order_id == topup.order_id
    assert payment.invoice is None
    assert payment.gross_amount == Decimal("100000")
    assert (payment.gateway, payment.status, payment.is_paid) == ("sandbox", "pending", False)
    assert payment.snap_token
    assert payment.redirect_url.startswith("http://testserver/sandbox/pay/")
    assert topup.wallet.balance == 0
    assert not WalletTransaction.objects.exists()


@pytest.mark.django_db
def test_every_top_up_gets_a_fresh_order_id(alice, sandbox):
    first = topup_checkout_start(user=alice, amount=Decimal("50000"), finish_url=finish)
    second = topup_checkout_start(user=alice, amount=Decimal("50000"), finish_url=finish)

    assert first.order_id != second.order_id
    assert Wallet.objects.count() == 1


@pytest.mark.django_db
def test_the_snap_request_is_midtrans_format_with_one_top_up_item(alice, midtrans):
    midtrans.expect_request("/snap/v1/transactions", method="POST").respond_with_json(
        {"token": "tok-9", "redirect_url": "https://app.sandbox.midtrans.com/snap/v4/tok-9"},
        status=201,
    )

    topup = topup_checkout_start(user=alice, amount=Decimal("150000"), finish_url=finish)

    body = json.loads(midtrans.log[0][0].get_data())
    assert body["transaction_details"] == {"order_id": topup.order_id, "gross_amount": 150000}
    assert body["item_details"] == [
        {"id": "wallet-topup", "name": "Wallet top-up", "price": 150000, "quantity": 1}
    ]
    assert body["callbacks"] == {"finish": finish(topup.order_id)}
    assert body["customer_details"]["email"] == alice.email
    assert (topup.payment.snap_token, topup.payment.gateway) == ("tok-9", "midtrans")
    assert topup.payment.redirect_url == "https://app.sandbox.midtrans.com/snap/v4/tok-9"


@pytest.mark.django_db
def test_a_gateway_refusal_creates_nothing_and_says_why(alice, midtrans):
    midtrans.expect_request("/snap/v1/transactions").respond_with_json(
        {"error_messages": ["Access denied due to unauthorized transaction"]}, status=401
    )

    with pytest.raises(GatewayError, match="Access denied"):
        topup_checkout_start(user=alice, amount=Decimal("100000"), finish_url=finish)

    assert nothing_was_created()


@pytest.mark.django_db
def test_an_unreachable_gateway_creates_nothing(alice, settings):
    settings.MIDTRANS_SERVER_KEY = SERVER_KEY
    settings.SUBSCRIPTIONS_GATEWAY = "midtrans"
    settings.MIDTRANS_SNAP_BASE_URL = "http://127.0.0.1:9"
    settings.SUBSCRIPTIONS_GATEWAY_RETRIES = 0

    with pytest.raises(GatewayUnavailable):
        topup_checkout_start(user=alice, amount=Decimal("100000"), finish_url=finish)

    assert nothing_was_created()


@pytest.mark.django_db
@pytest.mark.parametrize("amount", ["9999", "50000001", "0", "-10000"])
def test_an_amount_outside_the_limits_never_reaches_the_gateway(alice, midtrans, amount):
    with pytest.raises(BillingError, match=re.escape("between Rp 10.000 and Rp 50.000.000")):
        topup_checkout_start(user=alice, amount=Decimal(amount), finish_url=finish)

    assert midtrans.log == []
    assert nothing_was_created()


@pytest.mark.django_db
def test_the_wallet_is_credited_once_when_the_payment_settles(alice, sandbox):
    topup = topup_checkout_start(user=alice, amount=Decimal("100000"), finish_url=finish)

    for _ in range(3):  # Midtrans repeats notifications
        services.payment_apply_status(payment=topup.payment, transaction_status="settlement")

    topup.refresh_from_db()
    wallet = Wallet.objects.get(user=alice)
    assert topup.status == "success"
    assert wallet.balance == Decimal("100000")
    assert list(wallet.transactions.values_list("kind", "amount")) == [
        ("top_up", Decimal("100000"))
    ]


@pytest.mark.django_db
def test_an_expired_top_up_is_marked_so_and_credits_nothing(alice, sandbox):
    topup = topup_checkout_start(user=alice, amount=Decimal("100000"), finish_url=finish)

    services.payment_apply_status(payment=topup.payment, transaction_status="expire")

    topup.refresh_from_db()
    assert topup.status == "expired"
    assert topup.wallet.balance == 0
    assert not WalletTransaction.objects.exists()


@pytest.mark.django_db
def test_the_sandbox_payment_page_names_a_top_up_as_such(client, alice, sandbox):
    topup = topup_checkout_start(user=alice, amount=Decimal("100000"), finish_url=finish)
    client.force_login(alice)
    response = client.get(topup.payment.redirect_url)
    page = response.content.decode()
    assert response.status_code == 200
    assert "Wallet top-up" in page
    assert f"Payment {topup.order_id}" not in page
