"""A top-up left on the gateway's payment page stops "Waiting for payment".

Once its payment page has expired (``SUBSCRIPTIONS_CHECKOUT_EXPIRY_MINUTES``, the
expiry sent to the gateway with the attempt) the wallet page shows it as "Not
completed" with a link to try again, and the billing run asks the gateway what became
of it: expired there, it is expired here; paid there after all, the wallet is credited.

Midtrans is a local HTTP server (pytest-httpserver); the sandbox is the offline one.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from subscriptions.models import Payment
from subscriptions.services.billing_run import STEPS, run_billing
from subscriptions.tests.midtrans_samples import SERVER_KEY, notification
from wallets.models import TopUp, WalletTransaction
from wallets.services import ABANDONED_TOPUPS_STEP, topup_checkout_start, topup_create

EXPIRY_MINUTES = 60
WALLET = "/billing/wallet/"


@pytest.fixture
def short_checkout(settings):
    settings.SUBSCRIPTIONS_CHECKOUT_EXPIRY_MINUTES = EXPIRY_MINUTES
    return settings


@pytest.fixture
def sandbox(short_checkout):
    short_checkout.MIDTRANS_SERVER_KEY = ""
    short_checkout.SUBSCRIPTIONS_GATEWAY = ""
    short_checkout.SUBSCRIPTIONS_SANDBOX_ALLOWED = True
    return short_checkout


@pytest.fixture
def midtrans(short_checkout, httpserver):
    short_checkout.MIDTRANS_SERVER_KEY = SERVER_KEY
    short_checkout.SUBSCRIPTIONS_GATEWAY = "midtrans"
    short_checkout.MIDTRANS_API_BASE_URL = httpserver.url_for("").rstrip("/")
    short_checkout.MIDTRANS_SNAP_BASE_URL = httpserver.url_for("").rstrip("/")
    short_checkout.MIDTRANS_NOTIFICATION_URL = ""
    short_checkout.SUBSCRIPTIONS_GATEWAY_RETRY_BACKOFF = 0
    return httpserver


def started(topup: TopUp, minutes_ago: int) -> TopUp:
    """The top-up (and its payment) as if started ``minutes_ago``."""
    when = timezone.now() - dt.timedelta(minutes=minutes_ago)
    Payment.objects.filter(pk=topup.payment_id).update(created_at=when)
    TopUp.objects.filter(pk=topup.pk).update(created_at=when)
    return TopUp.objects.select_related("payment", "wallet").get(pk=topup.pk)


def sandbox_topup(user, amount="100000", minutes_ago=0) -> TopUp:
    topup = topup_checkout_start(
        user=user, amount=Decimal(amount), finish_url="https://shop.example/back/"
    )
    return started(topup, minutes_ago)


def refreshed(topup: TopUp) -> TopUp:
    return TopUp.objects.select_related("payment", "wallet").get(pk=topup.pk)


# --- The billing run ----------------------------------------------------------------------


def test_the_billing_run_has_the_wallets_step():
    assert sum(step.name == ABANDONED_TOPUPS_STEP.name for step in STEPS) == 1


@pytest.mark.django_db
def test_a_top_up_left_on_the_payment_page_expires_once_the_page_has(alice, sandbox):
    abandoned = sandbox_topup(alice, minutes_ago=EXPIRY_MINUTES + 1)
    fresh = sandbox_topup(alice, "50000", minutes_ago=EXPIRY_MINUTES - 5)

    report = run_billing()

    assert report.ok, report.summary()
    assert report.counts["abandoned_topups_expired"] == 1
    abandoned, fresh = refreshed(abandoned), refreshed(fresh)
    assert (abandoned.status, abandoned.payment.status) == ("expired", "expire")
    assert (fresh.status, fresh.payment.status) == ("pending", "pending")  # still payable
    assert abandoned.wallet.balance == 0
    assert not WalletTransaction.objects.exists()
    # Done once: a second run finds nothing left to do.
    assert run_billing().counts["abandoned_topups_expired"] == 0


@pytest.mark.django_db
def test_a_top_up_paid_after_all_is_credited_not_expired(alice, midtrans):
    topup = started(topup_create(user=alice, amount=Decimal("100000"), gateway="midtrans"), 90)
    midtrans.expect_oneshot_request(
        f"/v2/{topup.order_id}/expire", method="POST"
    ).respond_with_json(
        {
            "status_code": "412",
            "status_message": "Merchant cannot modify the status of the transaction",
        }
    )
    midtrans.expect_oneshot_request(f"/v2/{topup.order_id}/status", method="GET").respond_with_json(
        notification("gopay", order_id=topup.order_id, gross_amount="100000.00", fraud_status=None)
    )

    report = run_billing()

    assert report.ok, report.summary()
    assert report.counts["abandoned_topups_paid"] == 1
    topup = refreshed(topup)
    assert (topup.status, topup.payment.status) == ("success", "settlement")
    assert topup.wallet.balance == Decimal("100000")
    assert WalletTransaction.objects.get().topup == topup


@pytest.mark.django_db
def test_a_payment_page_the_gateway_never_heard_of_is_expired_once_dead(alice, midtrans):
    """A Snap page on which no method was chosen is unknown to Midtrans (404)."""
    topup = started(topup_create(user=alice, amount=Decimal("100000"), gateway="midtrans"), 90)
    midtrans.expect_oneshot_request(
        f"/v2/{topup.order_id}/expire", method="POST"
    ).respond_with_json(
        {"status_code": "404", "status_message": "Transaction doesn't exist."}, status=404
    )

    report = run_billing()

    assert report.ok, report.summary()
    assert report.counts["abandoned_topups_expired"] == 1
    assert refreshed(topup).status == "expired"


@pytest.mark.django_db
def test_a_card_payment_under_review_is_left_alone(alice, sandbox):
    topup = sandbox_topup(alice, minutes_ago=EXPIRY_MINUTES + 1)
    Payment.objects.filter(pk=topup.payment_id).update(status="capture", fraud_status="challenge")

    report = run_billing()

    assert report.counts["abandoned_topups_expired"] == 0
    topup = refreshed(topup)
    assert topup.status == "pending"
    assert not topup.is_abandoned()


# --- The wallet page, before the billing run -------------------------------------------------


@pytest.mark.django_db
def test_the_wallet_page_shows_an_abandoned_top_up_as_not_completed(client, alice, sandbox):
    sandbox_topup(alice, "120000", minutes_ago=EXPIRY_MINUTES + 1)
    waiting = sandbox_topup(alice, "50000", minutes_ago=5)
    client.force_login(alice)

    html = client.get(WALLET).content.decode()

    assert html.count("Not completed") == 1
    assert html.count("Waiting for payment") == 1
    assert f'href="{WALLET}?amount=120000#top-up"' in html  # try again, same amount
    assert reverse("portal:topup_finish", args=[waiting.order_id]) in html


@pytest.mark.django_db
def test_the_top_up_page_stops_waiting_for_an_abandoned_top_up(client, alice, sandbox):
    topup = sandbox_topup(alice, "120000", minutes_ago=EXPIRY_MINUTES + 1)
    client.force_login(alice)

    html = client.get(reverse("portal:topup_finish", args=[topup.order_id])).content.decode()

    assert 'data-state="abandoned"' in html
    assert "This top-up was not completed" in html
    assert "hx-trigger" not in html  # no polling
    assert f'href="{WALLET}?amount=120000#top-up"' in html
    assert "Continue to the payment page" not in html


@pytest.mark.django_db
def test_a_late_settlement_of_an_abandoned_top_up_still_credits_the_wallet(alice, sandbox):
    """Shown as not completed, the top-up is still pending: money that arrives counts."""
    from subscriptions.services import payment_apply_status

    topup = sandbox_topup(alice, minutes_ago=EXPIRY_MINUTES + 1)
    assert topup.is_abandoned()

    payment_apply_status(payment=topup.payment, transaction_status="settlement")

    topup = refreshed(topup)
    assert topup.status == "success"
    assert not topup.is_abandoned()
    assert topup.wallet.balance == Decimal("100000")
