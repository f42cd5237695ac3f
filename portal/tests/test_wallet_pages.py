"""The wallet pages: balance, top-up form, transaction history, auto-pay switch and the
page a top-up comes back to from the gateway.

The gateway is the offline sandbox, or Midtrans faked by a local HTTP server.
"""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portal.forms_wallet import parse_amount
from subscriptions import services
from subscriptions.gateways.sandbox import finish_url_from
from subscriptions.models import Payment
from subscriptions.tests.midtrans_samples import SERVER_KEY
from wallets.models import TopUp, TransactionKind, Wallet, WalletTransaction
from wallets.services import topup_checkout_start
from wallets.tests.factories import funded_wallet

WALLET = "/billing/wallet/"
TOPUP = "/billing/wallet/top-up/"
AUTOPAY = "/billing/wallet/auto-pay/"


def finish_path(order_id: str) -> str:
    return reverse("portal:topup_finish", args=[order_id])


@pytest.fixture
def sandbox(settings):
    settings.MIDTRANS_SERVER_KEY = ""
    settings.SUBSCRIPTIONS_GATEWAY = ""
    settings.SUBSCRIPTIONS_SANDBOX_ALLOWED = True
    return settings


@pytest.fixture
def signed_in(client, alice):
    client.force_login(alice)
    return client


def text(response) -> str:
    return response.content.decode().replace("\u00a0", " ")


def field_errors(response, field: str) -> list[str]:
    """The error paragraphs crispy field templates render under ``field``."""
    html = text(response)
    return re.findall(rf'<p id="error_\d+_id_{field}" class="field-error">([^<]*)</p>', html)


def nothing_was_created() -> bool:
    return not (TopUp.objects.exists() or Payment.objects.exists() or Wallet.objects.exists())


def ledger(wallet: Wallet, count: int) -> None:
    """``count`` ledger rows written in bulk (an old wallet's history; not via services,
    which would take minutes: the page only reads them)."""
    balance = wallet.balance
    rows = []
    for i in range(count):
        balance += 1000
        rows.append(
            WalletTransaction(
                wallet=wallet,
                amount=Decimal("1000"),
                kind=TransactionKind.ADJUSTMENT,
                balance_after=balance,
                idempotency_key=f"bulk:{wallet.pk}:{i}",
                description=f"Row {i}",
            )
        )
    WalletTransaction.objects.bulk_create(rows, batch_size=1000)
    Wallet.objects.filter(pk=wallet.pk).update(balance=balance)


# --- Access -----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "url"),
    [("get", WALLET), ("post", TOPUP), ("post", AUTOPAY), ("get", "/billing/wallet/top-ups/X/")],
)
def test_every_wallet_url_sends_an_anonymous_visitor_to_sign_in_and_back(client, method, url):
    response = getattr(client, method)(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next={url}"
    assert nothing_was_created()


@pytest.mark.django_db
@pytest.mark.parametrize("url", [TOPUP, AUTOPAY])
def test_the_wallets_actions_refuse_a_get(signed_in, url):
    assert signed_in.get(url).status_code == 405
    assert nothing_was_created()


@pytest.mark.django_db
def test_the_wallets_actions_refuse_a_post_without_the_csrf_token(alice, sandbox):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    assert client.post(TOPUP, {"preset": "100000"}).status_code == 403
    assert client.post(AUTOPAY, {"enabled": "on"}).status_code == 403
    assert nothing_was_created()


@pytest.mark.django_db
def test_a_top_up_page_is_found_only_by_its_owner(client, alice, bob, sandbox):
    topup = topup_checkout_start(user=alice, amount=Decimal("100000"))
    client.force_login(bob)

    assert client.get(finish_path(topup.order_id)).status_code == 404
    assert client.get(finish_path("TOPUP-does-not-exist")).status_code == 404


# --- The page ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_wallet_shows_the_balance_the_presets_and_the_history(signed_in, alice):
    funded_wallet(alice, 250000)

    response = signed_in.get(WALLET)

    page = text(response)
    assert response.status_code == 200
    assert 'data-testid="wallet-balance">Rp 250.000<' in page
    for preset in ("Rp 50.000", "Rp 100.000", "Rp 250.000", "Rp 500.000"):
        assert preset in page
    assert 'name="preset"' in page
    assert 'name="custom_amount"' in page
    assert "Between Rp 10.000 and Rp 50.000.000." in page
    assert "+Rp 250.000" in page  # the opening credit in the history
    assert 'role="switch" aria-checked="false"' in page
    assert f'href="{WALLET}" aria-current="page"' in page  # the nav marks the wallet


@pytest.mark.django_db
def test_looking_at_the_wallet_creates_no_wallet(signed_in):
    response = signed_in.get(WALLET)

    assert response.status_code == 200
    assert "Rp 0" in text(response)
    assert "No transactions yet" in text(response)
    assert not Wallet.objects.exists()


@pytest.mark.django_db
def test_the_wallet_shows_only_its_owners_money(signed_in, alice, bob):
    funded_wallet(bob, 999000)

    page = text(signed_in.get(WALLET))

    assert "999.000" not in page


@pytest.mark.django_db
def test_a_link_can_prefill_the_amount_to_top_up(signed_in):
    page = text(signed_in.get(WALLET + "?amount=130000"))

    assert 'name="custom_amount" id="id_custom_amount" value="130000"' in page


# --- Top-up form ------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("9999", "The smallest top-up is Rp 10.000."),
        ("50000001", "The largest top-up is Rp 50.000.000."),
        ("fifty thousand", "Enter an amount in numbers, like 150000."),
        ("1e6", "Enter an amount in numbers, like 150000."),
        ("-50000", "Enter an amount above zero."),
        ("0", "Enter an amount above zero."),
        ("150000.50", "Top-ups are in whole rupiah: leave out the decimals."),
        ("150.000,00", "Top-ups are in whole rupiah: leave out the decimals."),
        ("9" * 500, "That amount is far too long."),
    ],
)
def test_a_bad_amount_is_a_field_error_and_creates_nothing(signed_in, sandbox, typed, message):
    response = signed_in.post(TOPUP, {"custom_amount": typed})

    assert response.status_code == 200
    assert field_errors(response, "custom_amount") == [message]
    assert 'aria-invalid="true"' in text(response)
    assert nothing_was_created()


@pytest.mark.django_db
def test_choosing_no_amount_is_a_field_error(signed_in, sandbox):
    response = signed_in.post(TOPUP, {"preset": "", "custom_amount": "  "})

    assert field_errors(response, "preset") == ["Choose an amount, or enter another amount."]
    assert nothing_was_created()


@pytest.mark.django_db
def test_a_preset_that_is_not_offered_is_refused(signed_in, sandbox):
    response = signed_in.post(TOPUP, {"preset": "123"})

    assert len(field_errors(response, "preset")) == 1
    assert nothing_was_created()


@pytest.mark.django_db
def test_a_preset_outside_the_limits_is_refused(signed_in, sandbox, settings):
    settings.WALLETS_TOPUP_PRESETS = (Decimal("5000"), Decimal("100000"))

    response = signed_in.post(TOPUP, {"preset": "5000"})

    assert field_errors(response, "preset") == ["The smallest top-up is Rp 10.000."]
    assert nothing_was_created()


@pytest.mark.parametrize(
    ("typed", "amount"),
    [
        ("150000", Decimal("150000")),
        ("150.000", Decimal("150000")),
        ("1,500,000", Decimal("1500000")),
        ("Rp 150.000", Decimal("150000")),
        (" 75000 ", Decimal("75000")),
    ],
)
def test_amounts_are_read_the_way_people_type_rupiah(typed, amount):
    assert parse_amount(typed, "IDR") == amount


@pytest.mark.django_db
def test_a_preset_top_up_goes_to_the_gateway_and_comes_back_to_its_page(signed_in, alice, sandbox):
    response = signed_in.post(TOPUP, {"preset": "100000"})

    topup = TopUp.objects.get()
    assert (topup.user, topup.amount, topup.status) == (alice, Decimal("100000"), "pending")
    assert response.status_code == 302
    assert response["Location"] == topup.payment.redirect_url
    finish = parse_qs(urlsplit(topup.payment.redirect_url).query)["finish"][0]
    assert finish_url_from(finish) == "http://testserver" + finish_path(topup.order_id)
    assert Wallet.objects.get(user=alice).balance == 0  # only the webhook credits it


@pytest.mark.django_db
def test_another_amount_wins_over_a_preset(signed_in, sandbox):
    signed_in.post(TOPUP, {"preset": "50000", "custom_amount": "Rp 75.000"})

    assert TopUp.objects.get().amount == Decimal("75000")


@pytest.mark.django_db
def test_a_gateway_refusal_is_a_clear_message_and_creates_nothing(signed_in, settings, httpserver):
    settings.MIDTRANS_SERVER_KEY = SERVER_KEY
    settings.SUBSCRIPTIONS_GATEWAY = "midtrans"
    settings.MIDTRANS_SNAP_BASE_URL = httpserver.url_for("").rstrip("/")
    httpserver.expect_request("/snap/v1/transactions").respond_with_json(
        {"error_messages": ["Access denied due to unauthorized transaction"]}, status=401
    )

    response = signed_in.post(TOPUP, {"preset": "100000"})

    page = text(response)
    assert response.status_code == 502
    assert "We could not start your top-up" in page
    assert "Access denied due to unauthorized transaction" in page
    assert "Nothing was charged." in page
    assert 'role="alert"' in page
    assert nothing_was_created()


# --- Back from the gateway --------------------------------------------------------------


@pytest.mark.django_db
def test_the_top_up_page_waits_for_the_webhook_then_shows_the_new_balance(
    signed_in, alice, sandbox
):
    topup = topup_checkout_start(user=alice, amount=Decimal("100000"))
    url = finish_path(topup.order_id) + "?transaction_status=settlement"

    waiting = text(signed_in.get(url))
    assert "Waiting for confirmation" in waiting
    assert 'hx-trigger="every 2s"' in waiting  # the URL's "settlement" is not believed

    services.payment_apply_status(payment=topup.payment, transaction_status="settlement")
    fragment = signed_in.get(url, HTTP_HX_REQUEST="true")

    body = text(fragment)
    assert body.lstrip().startswith('<section id="topup-status"')
    assert "<html" not in body
    assert "Rp 100.000 added to your wallet" in body
    assert "Your balance is now Rp 100.000." in body
    assert "hx-trigger" not in body  # polling stops
    assert "HX-Request" in fragment["Vary"]


@pytest.mark.django_db
def test_a_failed_top_up_says_nothing_was_taken_and_offers_to_try_again(signed_in, alice, sandbox):
    topup = topup_checkout_start(user=alice, amount=Decimal("100000"))
    services.payment_apply_status(payment=topup.payment, transaction_status="deny")

    page = text(signed_in.get(finish_path(topup.order_id)))

    assert "The top-up did not go through" in page
    assert "No money was taken" in page
    assert f"{WALLET}?amount=100000#top-up" in page


@pytest.mark.django_db
def test_the_top_up_page_stops_polling_after_the_timeout(signed_in, alice, sandbox):
    topup = topup_checkout_start(user=alice, amount=Decimal("100000"))

    page = text(signed_in.get(finish_path(topup.order_id) + "?t=1"))

    assert "Still waiting for the payment provider" in page
    assert "hx-trigger" not in page


# --- Auto-pay ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_auto_pay_switches_on_in_place_with_the_banner_and_the_wallet_event(signed_in, alice):
    response = signed_in.post(AUTOPAY, {"enabled": "on"}, HTTP_HX_REQUEST="true")

    body = text(response)
    assert Wallet.objects.get(user=alice).auto_pay is True
    assert body.lstrip().startswith('<form id="wallet-autopay"')
    assert 'role="switch" aria-checked="true"' in body
    assert 'id="notifications"' in body
    assert 'hx-swap-oob="true"' in body
    assert "Auto-pay is on" in body
    assert "wallet-changed" in response["HX-Trigger"]


@pytest.mark.django_db
def test_auto_pay_switches_off_and_works_without_javascript(signed_in, alice):
    wallet = funded_wallet(alice)
    Wallet.objects.filter(pk=wallet.pk).update(auto_pay=True)

    response = signed_in.post(AUTOPAY, {"enabled": ""}, follow=True)

    assert response.redirect_chain == [(WALLET, 302)]
    assert Wallet.objects.get(user=alice).auto_pay is False
    assert "Auto-pay is off" in text(response)
    assert 'aria-checked="false"' in text(response)


# --- History ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_history_shows_25_rows_a_page_and_survives_bad_page_numbers(signed_in, alice):
    ledger(funded_wallet(alice), 60)

    def rows(query: str) -> list[str]:
        return re.findall(r"Row (\d+)", text(signed_in.get(WALLET + query)))

    assert len(rows("")) == 25
    assert rows("?page=3") == [str(i) for i in range(9, -1, -1)]
    assert rows("?page=abc") == rows("")
    assert rows("?page=999") == rows("?page=3")
    assert rows("?page=-1") == rows("?page=3")
    assert rows("?page=" + "9" * 5000) == rows("")


@pytest.mark.django_db
def test_htmx_paging_returns_only_the_history(signed_in, alice):
    ledger(funded_wallet(alice), 30)

    response = signed_in.get(
        WALLET + "?page=2", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="wallet-transactions"
    )

    body = text(response)
    assert body.lstrip().startswith('<section id="wallet-transactions"')
    assert "<html" not in body
    assert "Page 2 of 2" in body
    assert {"HX-Request", "HX-Target"} <= {h.strip() for h in response["Vary"].split(",")}


@pytest.mark.django_db
def test_the_balance_card_refreshes_itself_on_the_wallet_event(signed_in, alice):
    funded_wallet(alice, 50000)

    page = text(signed_in.get(WALLET))
    fragment = text(signed_in.get(WALLET, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="wallet-balance"))

    assert 'hx-trigger="wallet-changed from:body"' in page
    assert fragment.lstrip().startswith('<div id="wallet-balance"')
    assert "Rp 50.000" in fragment


@pytest.mark.django_db
def test_the_wallet_page_runs_the_same_queries_with_ten_thousand_ledger_rows(
    client, alice, bob, django_assert_max_num_queries
):
    funded_wallet(bob, 1000)
    ledger(funded_wallet(alice), 10_000)
    for user in (alice, bob):
        topup_checkout_start(user=user, amount=Decimal("50000"), gateway=_OfflineGateway())

    client.force_login(bob)
    with CaptureQueriesContext(connection) as one_row:
        assert client.get(WALLET).status_code == 200
    client.force_login(alice)
    with django_assert_max_num_queries(len(one_row)):
        response = client.get(WALLET + "?page=7")

    assert response.status_code == 200
    assert "Page 7 of 400" in text(response)
    assert len(one_row) <= 12, [q["sql"] for q in one_row]


class _OfflineGateway:
    """A gateway that answers at once (for building fixtures, not under test)."""

    name = "sandbox"

    def create_checkout(self, request):
        from subscriptions.gateways import CheckoutSession

        token = request["transaction_details"]["order_id"]
        return CheckoutSession(token=token, redirect_url=f"https://pay.example/{token}")
