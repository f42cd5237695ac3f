"""Every rupiah moves exactly once: the interleavings of issue 12, on the settlement.

Midtrans is a real local HTTP server (pytest-httpserver) that answers Snap, expire and
refund like Midtrans; notifications come in through our own webhook, signed. After
each scenario: the money kept per invoice equals its total, each wallet's balance
equals the sum of its ledger, and each event was signalled once.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone
from werkzeug import Response

from subscriptions import services
from subscriptions.exceptions import (
    AmountMismatch,
    BillingError,
    GatewayError,
    GatewayUnavailable,
    InsufficientFunds,
    PaymentInProgress,
)
from subscriptions.models import Invoice, Payment, Refund
from subscriptions.tests.factories import PlanFactory
from subscriptions.tests.parallel import run_in_processes
from subscriptions.tests.signal_recorder import record_signals
from wallets.models import Wallet, WalletTransaction
from wallets.services import topup_create, wallet_credit, wallet_debit, wallet_pay_invoice

from .midtrans_samples import SERVER_KEY, as_json, notification

URL = "/webhooks/midtrans/"
PRICE = Decimal("150000")


@pytest.fixture
def midtrans(settings, httpserver):
    """Midtrans' Snap and Core API: a Snap page for every order; ``expire`` answers 404
    ("transaction doesn't exist": no method chosen on the page yet, so it stays payable);
    ``refund`` approves and echoes the refund."""
    settings.MIDTRANS_SERVER_KEY = SERVER_KEY
    settings.SUBSCRIPTIONS_GATEWAY = "midtrans"
    settings.MIDTRANS_VERIFY_STATUS = False
    settings.MIDTRANS_NOTIFICATION_URL = ""
    base = httpserver.url_for("").rstrip("/")
    settings.MIDTRANS_API_BASE_URL = base
    settings.MIDTRANS_SNAP_BASE_URL = base
    settings.SUBSCRIPTIONS_GATEWAY_RETRIES = 0

    def snap(request):
        order_id = json.loads(request.data)["transaction_details"]["order_id"]
        return Response(
            json.dumps({"token": f"tok-{order_id}", "redirect_url": f"{base}/pay/{order_id}"}),
            status=201,
            content_type="application/json",
        )

    def core(request):
        order_id, action = request.path.split("/")[2:4]
        if action == "expire":
            body = {"status_code": "404", "status_message": "Transaction doesn't exist."}
            return Response(json.dumps(body), status=404, content_type="application/json")
        refund = json.loads(request.data)
        body = {  # what Midtrans answers a direct refund (the total is ours to add up)
            "status_code": "200",
            "status_message": "Success, refund request is approved",
            "transaction_status": "partial_refund",
            "order_id": order_id,
            "currency": "IDR",
            "refund_amount": f"{refund['amount']}.00",
            "refund_key": refund["refund_key"],
        }
        return Response(json.dumps(body), status=200, content_type="application/json")

    httpserver.expect_request("/snap/v1/transactions", method="POST").respond_with_handler(snap)
    httpserver.expect_request(
        re.compile(r"^/v2/[^/]+/(expire|refund)$"), method="POST"
    ).respond_with_handler(core)
    return httpserver


def open_invoice(user) -> Invoice:
    subscription = services.subscription_create(user=user, plan=PlanFactory(price=PRICE))
    return subscription.invoices.get()


def notify(client, payment: Payment, method="gopay", **kwargs):
    body = notification(
        method, order_id=payment.order_id, gross_amount=f"{payment.gross_amount:.2f}", **kwargs
    )
    return client.post(URL, data=as_json(body), content_type="application/json")


def kept(invoice: Invoice) -> Decimal:
    """Money the business keeps for ``invoice``: what its payments brought, less refunds."""
    paid = Payment.objects.filter(invoice=invoice, is_paid=True)
    gross = paid.aggregate(total=Sum("gross_amount"))["total"] or Decimal("0")
    refunded = paid.aggregate(total=Sum("refunded_amount"))["total"] or Decimal("0")
    return gross - refunded


def assert_ledgers_add_up() -> None:
    for wallet in Wallet.objects.all():
        total = WalletTransaction.objects.filter(wallet=wallet).aggregate(total=Sum("amount"))[
            "total"
        ] or Decimal("0")
        assert wallet.balance == total >= 0


def funded(user, amount=PRICE):
    from wallets.services import wallet_get_or_create

    wallet = wallet_get_or_create(user=user)
    wallet_credit(wallet=wallet, amount=amount, kind="adjustment", idempotency_key=f"f:{user.pk}")
    return wallet


# --- One live attempt, and money that arrives anyway ---------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "returned_to"), [("gopay", "gateway"), ("bank_transfer", "wallet")]
)
def test_checkout_then_wallet_then_a_late_settlement_is_returned_not_kept(
    client, alice, midtrans, method, returned_to, django_capture_on_commit_callbacks
):
    invoice = open_invoice(alice)
    attempt = services.checkout_start(invoice=invoice, user=alice)
    funded(alice)
    with record_signals() as sent, django_capture_on_commit_callbacks(execute=True):
        wallet_pay_invoice(invoice=invoice, user=alice)
        # Midtrans did not know the Snap order (404): the page stayed payable, and paid.
        response = notify(client, attempt, method=method)

    assert response.status_code == 200
    attempt.refresh_from_db()
    assert attempt.overpaid_amount == PRICE
    assert attempt.refunded_amount == PRICE
    refund = attempt.refunds.get()
    assert (refund.kind, refund.destination, refund.status) == (
        "overpayment",
        returned_to,
        "succeeded",
    )
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    assert kept(invoice) == invoice.total
    assert sent.count("invoice_paid") == 1
    assert sent.count("payment_overpaid") == 1
    assert sent.count("payment_refunded") == 1
    overpaid = sent.one("payment_overpaid")
    assert overpaid.kwargs["return_to"] == returned_to
    assert overpaid.kwargs["amount"] == PRICE
    assert_ledgers_add_up()
    expected_wallet = PRICE if returned_to == "wallet" else Decimal("0")
    assert Wallet.objects.get(user=alice).balance == expected_wallet
    refunds_asked = [entry for entry, _ in midtrans.log if entry.path.endswith("/refund")]
    assert len(refunds_asked) == (1 if returned_to == "gateway" else 0)


@pytest.mark.django_db
def test_a_settlement_for_a_voided_invoice_is_returned(
    client, alice, midtrans, django_capture_on_commit_callbacks
):
    invoice = open_invoice(alice)
    attempt = services.checkout_start(invoice=invoice, user=alice)
    services.invoice_void(invoice=invoice, reason="Billed by mistake")

    with django_capture_on_commit_callbacks(execute=True):
        response = notify(client, attempt, method="gopay")

    assert response.status_code == 200
    attempt.refresh_from_db()
    assert (attempt.is_paid, attempt.overpaid_amount, attempt.refunded_amount) == (
        True,
        PRICE,
        PRICE,
    )
    assert Invoice.objects.get(pk=invoice.pk).status == "void"
    assert kept(invoice) == 0


@pytest.mark.django_db
def test_paying_from_the_wallet_expires_a_pending_gateway_attempt_first(alice, sandbox_settings):
    invoice = open_invoice(alice)
    attempt = services.checkout_start(invoice=invoice, user=alice)
    funded(alice)

    wallet_pay_invoice(invoice=invoice, user=alice)

    attempt.refresh_from_db()
    assert attempt.status == "expire"
    assert Payment.objects.filter(invoice=invoice, is_paid=True).count() == 1


@pytest.mark.django_db
def test_a_second_checkout_expires_the_first_before_issuing_a_new_order(alice, sandbox_settings):
    invoice = open_invoice(alice)
    first = services.checkout_start(invoice=invoice, user=alice)
    second = services.checkout_start(invoice=invoice, user=alice)

    first.refresh_from_db()
    assert first.status == "expire"
    assert second.status == "pending"
    assert second.order_id != first.order_id
    assert Invoice.objects.get(pk=invoice.pk).checkout_claim == ""


@pytest.mark.django_db
def test_an_attempt_started_while_another_is_being_started_is_refused(alice, sandbox_settings):
    invoice = open_invoice(alice)
    Invoice.objects.filter(pk=invoice.pk).update(
        checkout_claim="someone-else",
        checkout_claimed_until=timezone.now() + dt.timedelta(seconds=30),
    )
    funded(alice)

    with pytest.raises(PaymentInProgress):
        services.checkout_start(invoice=invoice, user=alice)
    with pytest.raises(PaymentInProgress):
        wallet_pay_invoice(invoice=invoice, user=alice)
    with pytest.raises(PaymentInProgress):
        services.invoice_mark_paid_offline(invoice=invoice, reference="BANK-1")

    assert not Payment.objects.filter(invoice=invoice).exists()
    assert Wallet.objects.get(user=alice).balance == PRICE


@pytest.fixture
def sandbox_settings(settings):
    settings.SUBSCRIPTIONS_GATEWAY = "sandbox"
    settings.SUBSCRIPTIONS_SANDBOX_ALLOWED = True
    settings.MIDTRANS_SERVER_KEY = ""


def start_checkout(index: int, invoice_pk: int) -> str:
    """Runs in a child process: one click on "Pay" for the invoice."""
    invoice = Invoice.objects.get(pk=invoice_pk)
    try:
        return services.checkout_start(invoice=invoice, user=invoice.user).order_id
    except BillingError as error:
        return f"refused: {type(error).__name__}"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_checkout_starts_then_every_attempt_settling_takes_the_money_once(alice):
    invoice = open_invoice(alice)

    results = run_in_processes("subscriptions.tests.test_settlement:start_checkout", 4, invoice.pk)

    started = [r for r in results if not r.startswith("refused")]
    assert started, results
    # Whatever Midtrans then settles (an expired order cannot be paid; one it could not
    # expire can), the invoice keeps its total once and the rest is returned.
    for attempt in Payment.objects.filter(invoice=invoice).order_by("pk"):
        services.payment_apply_status(
            payment=attempt, transaction_status="settlement", payment_type="gopay"
        )
    live = Payment.objects.filter(invoice=invoice, is_paid=True, overpaid_amount=0)
    assert live.count() == 1
    assert kept(invoice) == invoice.total
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    # At most one attempt was ever pending at once: each later one expired the earlier.
    assert Payment.objects.filter(invoice=invoice, status="pending").count() == 0


# --- Refunds ---------------------------------------------------------------------------------


def paid_by_gateway(client, user) -> Payment:
    invoice = open_invoice(user)
    payment = services.checkout_start(invoice=invoice, user=user)
    assert notify(client, payment, method="gopay").status_code == 200
    payment.refresh_from_db()
    assert payment.is_paid
    return payment


def refund_one_way(index: int, payment_pk: int) -> str:
    """Runs in a child process: refund all of the payment, one way each."""
    payment = Payment.objects.get(pk=payment_pk)
    destination = "wallet" if index == 0 else "gateway"
    try:
        return services.payment_refund(
            payment=payment, reason="race", destination=destination
        ).status
    except BillingError as error:
        return f"refused: {type(error).__name__}"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_wallet_refund_and_a_gateway_refund_at_once_never_exceed_the_payment(
    client, alice, midtrans
):
    payment = paid_by_gateway(client, alice)

    results = run_in_processes(
        "subscriptions.tests.test_settlement:refund_one_way",
        2,
        payment.pk,
        settings={
            "MIDTRANS_SERVER_KEY": SERVER_KEY,
            "SUBSCRIPTIONS_GATEWAY": "midtrans",
            "MIDTRANS_API_BASE_URL": midtrans.url_for("").rstrip("/"),
            "SUBSCRIPTIONS_GATEWAY_RETRIES": 0,
        },
    )

    assert sorted(r.split(":")[0] for r in results) == ["refused", "succeeded"], results
    payment.refresh_from_db()
    succeeded = payment.refunds.filter(status="succeeded")
    assert succeeded.aggregate(total=Sum("amount"))["total"] == payment.refunded_amount == PRICE
    assert payment.refunds.count() == 1
    wallet_money = Wallet.objects.filter(user=alice).values_list("balance", flat=True).first()
    gateway_refunds = [entry for entry, _ in midtrans.log if entry.path.endswith("/refund")]
    # The money went back exactly once, one way or the other.
    assert (wallet_money or 0) + PRICE * len(gateway_refunds) == PRICE
    assert_ledgers_add_up()


@pytest.mark.django_db
def test_a_refund_is_recorded_before_the_gateway_is_asked_and_bounded_while_in_flight(
    client, alice, midtrans
):
    payment = paid_by_gateway(client, alice)
    midtrans.clear_all_handlers()  # Midtrans unreachable: the refund stays in flight
    midtrans.expect_request(re.compile(r"^/v2/.*/refund$")).respond_with_data("down", status=503)

    with pytest.raises(GatewayUnavailable):
        services.payment_refund(payment=payment, reason="Sorry", amount=Decimal("100000"))

    in_flight = payment.refunds.get()
    assert in_flight.status == "pending"
    # Counted against what is left, though the gateway has not confirmed it yet.
    assert services.payment_refundable_amount(Payment.objects.get(pk=payment.pk)) == Decimal(
        "50000"
    )
    with pytest.raises(AmountMismatch):
        services.payment_refund(
            payment=payment, reason="again", amount=Decimal("50001"), destination="wallet"
        )
    # Midtrans then confirms it (a notification naming its key): completed once.
    response = notify(
        client,
        payment,
        transaction_status="partial_refund",
        refund_amount="100000.00",
        refunds=[{"refund_key": in_flight.refund_key, "refund_amount": "100000.00"}],
    )
    assert response.status_code == 200
    in_flight.refresh_from_db()
    payment.refresh_from_db()
    assert in_flight.status == "succeeded"
    assert payment.refunded_amount == Decimal("100000")
    assert payment.refunds.count() == 1


# --- Top-ups ---------------------------------------------------------------------------------


def settled_topup(client, user, amount=Decimal("100000")):
    topup = topup_create(user=user, amount=amount, gateway="midtrans")
    assert notify(client, topup.payment, method="gopay").status_code == 200
    topup.refresh_from_db()
    assert topup.status == "success"
    return topup


@pytest.mark.django_db
def test_refunding_a_topup_takes_its_credit_back_out_of_the_wallet(client, alice, midtrans):
    topup = settled_topup(client, alice)

    refund = services.payment_refund(payment=topup.payment, reason="Customer asked")

    assert refund.status == "succeeded"
    assert Wallet.objects.get(user=alice).balance == 0
    reclaim = WalletTransaction.objects.get(refund=refund)
    assert (reclaim.kind, reclaim.amount) == ("reclaim", Decimal("-100000"))
    assert_ledgers_add_up()


@pytest.mark.django_db
def test_a_gateway_refund_of_a_topup_the_wallet_no_longer_covers_is_refused(
    client, alice, midtrans
):
    topup = settled_topup(client, alice)
    wallet = Wallet.objects.get(user=alice)
    wallet_debit(wallet=wallet, amount=Decimal("70000"), kind="payment", idempotency_key="spent")

    with pytest.raises(InsufficientFunds):
        services.payment_refund(payment=topup.payment, reason="Customer asked")

    assert not Refund.objects.exists()
    assert not [entry for entry, _ in midtrans.log if entry.path.endswith("/refund")]
    assert Wallet.objects.get(pk=wallet.pk).balance == Decimal("30000")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("spent", "taken", "shortfall"), [("0", "100000", "0"), ("70000", "30000", "70000")]
)
def test_a_refund_notification_for_a_topup_takes_back_what_the_wallet_holds(
    client, alice, midtrans, spent, taken, shortfall
):
    topup = settled_topup(client, alice)
    wallet = Wallet.objects.get(user=alice)
    if Decimal(spent):
        wallet_debit(wallet=wallet, amount=Decimal(spent), kind="payment", idempotency_key="spent")

    with record_signals() as sent:
        response = notify(client, topup.payment, transaction_status="refund")

    assert response.status_code == 200
    refund = topup.payment.refunds.get()
    assert (refund.kind, refund.amount, refund.shortfall) == (
        "external",
        Decimal("100000"),
        Decimal(shortfall),
    )
    assert Wallet.objects.get(pk=wallet.pk).balance == 0
    assert -WalletTransaction.objects.get(refund=refund).amount == Decimal(taken)
    assert sent.count("payment_refunded") == 1
    assert_ledgers_add_up()
    # The same notification again moves nothing.
    assert notify(client, topup.payment, transaction_status="refund").status_code == 200
    assert topup.payment.refunds.count() == 1
    assert_ledgers_add_up()


@pytest.mark.django_db
def test_an_attempt_unknown_to_midtrans_is_expired_once_its_payment_page_is_dead(alice, midtrans):
    invoice = open_invoice(alice)
    attempt = services.checkout_start(invoice=invoice, user=alice)

    assert services.payment_expire(payment=attempt).outcome == "duplicate"  # page still live
    # The Snap page lives SUBSCRIPTIONS_CHECKOUT_EXPIRY_MINUTES (a day): two days later
    # nothing can pay it.
    Payment.objects.filter(pk=attempt.pk).update(created_at=timezone.now() - dt.timedelta(days=2))
    attempt.refresh_from_db()

    assert services.payment_expire(payment=attempt).payment.status == "expire"


@pytest.mark.django_db
def test_a_refused_topup_refund_gives_the_reclaimed_credit_back(client, alice, midtrans):
    topup = settled_topup(client, alice)
    midtrans.clear_all_handlers()
    midtrans.expect_request(re.compile(r"^/v2/.*/refund$")).respond_with_json(
        {"status_code": "412", "status_message": "Merchant cannot modify the transaction"},
        status=412,
    )

    with pytest.raises(GatewayError):
        services.payment_refund(payment=topup.payment, reason="Customer asked")

    refund = topup.payment.refunds.get()
    assert refund.status == "failed"
    assert Wallet.objects.get(user=alice).balance == Decimal("100000")
    kinds = list(WalletTransaction.objects.filter(refund=refund).values_list("kind", "amount"))
    assert sorted(kinds) == [("reclaim", Decimal("-100000")), ("reversal", Decimal("100000"))]
    topup.payment.refresh_from_db()
    assert topup.payment.refunded_amount == 0
    assert_ledgers_add_up()


@pytest.mark.django_db
def test_money_for_a_renewal_of_a_subscription_paused_meanwhile_is_returned_not_kept(
    client, alice, midtrans, django_capture_on_commit_callbacks
):
    invoice = open_invoice(alice)
    funded(alice)
    wallet_pay_invoice(invoice=invoice, user=alice)
    subscription = Invoice.objects.get(pk=invoice.pk).subscription
    renewal = services.subscription_create_renewal_invoice(subscription=subscription)
    attempt = services.checkout_start(invoice=renewal, user=alice)
    services.subscription_pause(subscription=subscription)

    with django_capture_on_commit_callbacks(execute=True):
        response = notify(client, attempt, method="gopay")

    assert response.status_code == 200
    assert response.json()["status"] == "processed"
    attempt.refresh_from_db()
    assert (attempt.is_paid, attempt.overpaid_amount, attempt.refunded_amount) == (
        True,
        PRICE,
        PRICE,
    )
    assert "paused" in attempt.refunds.get().reason
    assert Invoice.objects.get(pk=renewal.pk).status == "open"
    assert kept(renewal) == 0


@pytest.mark.django_db
def test_paying_a_renewal_from_the_wallet_over_a_pending_attempt_never_makes_it_past_due(
    alice, sandbox_settings
):
    invoice = open_invoice(alice)
    funded(alice, PRICE * 2)
    wallet_pay_invoice(invoice=invoice, user=alice)
    subscription = Invoice.objects.get(pk=invoice.pk).subscription
    renewal = services.subscription_create_renewal_invoice(subscription=subscription)
    services.checkout_start(invoice=renewal, user=alice)

    with record_signals() as sent:
        wallet_pay_invoice(invoice=renewal, user=alice)

    # The attempt this payment superseded expired; that is no failed payment.
    assert "subscription_activated" not in sent.names()
    assert sent.count("subscription_renewed") == 1
    subscription.refresh_from_db()
    assert (subscription.status, subscription.past_due_at) == ("active", None)
