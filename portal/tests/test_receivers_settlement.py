"""What the subscriber is told when money comes back or an invoice stops asking for it.

The settlement module sends these signals (``subscriptions/signals.py``); here the rows
are made with the ORM and the signals sent exactly as documented there, inside a
transaction, twice (a retried webhook, a second run):

- ``payment_refunded`` with ``refund=`` (a ``Refund`` row): "Rp 50.000 was returned to
  your wallet" / "... refunded to your card or account", the invoice or the top-up, the
  reason; an overpayment's return says so; a refunded top-up says how much was taken
  back out of the wallet.
- ``payment_overpaid``: money arrived for an invoice already paid (or void) and is being
  returned: a warning, never "pay now".
- ``invoice_voided``: "Invoice INV-... was voided: <reason>", and every banner that asked
  to pay it stops asking, on the notifications page too (as when it is paid another way).

Each: exactly one banner and one email, and every link of the email works for its
recipient, who signs in from a signed-out browser and lands on the page.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from portal import receivers
from portal.models import Notification, SentEmail
from subscriptions import services, signals
from subscriptions.models import Invoice, Payment, Refund
from subscriptions.tests.factories import (
    InvoiceFactory,
    PaymentFactory,
    PlanFactory,
    SubscriptionFactory,
)
from wallets.models import TopUp, TransactionKind
from wallets.services import wallet_credit, wallet_debit
from wallets.tests.factories import funded_wallet

from .test_links import landing_after_sign_in, path_of, sign_in_through, urls_in

pytestmark = pytest.mark.django_db

NUMBER = "INV-2026-000005"


# --- rows ------------------------------------------------------------------------------------


def paid_invoice(user, *, number=NUMBER, total="233301") -> tuple[Invoice, Payment]:
    now = timezone.now()
    sub = SubscriptionFactory(user=user)
    invoice = InvoiceFactory(
        user=user,
        subscription=sub,
        plan=sub.plan,
        number=number,
        reason="renewal",
        status="paid",
        paid_at=now,
        subtotal=Decimal(total),
        total=Decimal(total),
        period_start=now,
        period_end=now + dt.timedelta(days=30),
    )
    payment = PaymentFactory(
        user=user,
        subscription=sub,
        invoice=invoice,
        gross_amount=Decimal(total),
        status="settlement",
        payment_type="qris",
        paid_at=now,
    )
    return invoice, payment


def completed_refund(
    payment, amount, *, destination="gateway", kind="staff", reason="", shortfall=0
):
    """A refund that returned ``amount``: its row, and the payment's refunded amount
    moved without a save (so building it announces nothing)."""
    amount = Decimal(amount)
    refund = Refund.objects.create(
        payment=payment,
        amount=amount,
        currency=payment.currency,
        destination=destination,
        kind=kind,
        status="succeeded",
        reason=reason,
        refund_key=f"refund-{payment.pk}-{Refund.objects.count() + 1}",
        shortfall=Decimal(shortfall),
        completed_at=timezone.now(),
    )
    previous = payment.refunded_amount
    refunded = previous + amount
    status = "refund" if refunded == payment.gross_amount else "partial_refund"
    Payment.objects.filter(pk=payment.pk).update(refunded_amount=refunded, status=status)
    payment.refunded_amount, payment.status = refunded, status
    return refund, {
        "previous_status": "settlement",
        "refund_amount": amount,
        "previous_refunded_amount": previous,
        "refund": refund,
    }


@pytest.fixture
def announced_twice(django_capture_on_commit_callbacks):
    """Send a signal as the billing code does (in a transaction), twice, with the emails
    delivered after each commit."""

    def send(signal, instance, **kwargs) -> None:
        for _ in range(2):
            with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
                getattr(signals, signal).send(sender=type(instance), instance=instance, **kwargs)

    return send


@pytest.fixture
def quiet():
    """Clear what building the rows announced (all but the banners of ``keep``)."""

    def clear(keep=()):
        Notification.objects.exclude(kind__in=keep).delete()
        SentEmail.objects.all().delete()
        mail.outbox.clear()

    return clear


def the_banner(user) -> Notification:
    [banner] = Notification.objects.filter(user=user)
    return banner


def the_email(kind: str):
    [message] = mail.outbox
    assert message.extra_headers["X-Billing-Email"] == kind
    assert SentEmail.objects.get().status == "sent"
    return message


def region_of(client, user) -> str:
    client.force_login(user)
    page = client.get(reverse("portal:notifications")).content.decode()
    client.logout()
    return page[page.index('id="notifications"') : page.index("<h1")]


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# --- a refund completed ----------------------------------------------------------------------


def test_a_refund_to_the_wallet_says_it_was_returned_to_the_wallet_once(
    alice, quiet, announced_twice, client
):
    invoice, payment = paid_invoice(alice)
    wallet = funded_wallet(alice, 0)
    quiet()

    with transaction.atomic():
        refund, kwargs = completed_refund(
            payment, 50000, destination="wallet", reason="Charged twice for May"
        )
        # The wallet's credit is announced by the refund, not by a banner of its own.
        wallet_credit(
            wallet=wallet,
            amount=refund.amount,
            kind=TransactionKind.REFUND,
            idempotency_key=f"refund:{refund.pk}",
            payment=payment,
            refund=refund,
        )
    announced_twice("payment_refunded", payment, **kwargs)

    banner = the_banner(alice)
    assert banner.kind == "payment_refunded"
    assert banner.heading == "Rp 50.000 was returned to your wallet"
    assert NUMBER in banner.body
    assert "Charged twice for May" in banner.body
    assert not banner.needs_action
    assert banner.url == reverse("portal:wallet")
    region = text_of(region_of(client, alice))
    assert "Rp 50.000 was returned to your wallet" in region

    email = the_email("payment_refunded")
    assert "Rp 50.000" in email.subject
    assert "wallet" in email.subject
    for part in (email.body, text_of(email.alternatives[0][0])):
        assert "Rp 50.000" in part
        assert "returned to your wallet" in part
        assert NUMBER in part
        assert "Charged twice for May" in part
    assert SentEmail.objects.get().invoice_id == invoice.pk


def test_a_refund_through_the_gateway_says_card_or_account_and_links_to_the_invoice(
    alice, quiet, announced_twice
):
    invoice, payment = paid_invoice(alice)
    quiet()
    _, kwargs = completed_refund(payment, 50000)

    announced_twice("payment_refunded", payment, **kwargs)

    banner = the_banner(alice)
    assert banner.heading == "Rp 50.000 was refunded to your card or account"
    assert NUMBER in banner.body
    assert banner.invoice_id == invoice.pk
    assert banner.url == reverse("portal:invoice_detail", args=[invoice.pk])
    email = the_email("payment_refunded")
    assert "refunded to your card or account" in email.body
    assert "Rp 50.000" in email.body


def test_the_return_of_an_overpayment_says_what_it_is(alice, quiet, announced_twice):
    _, payment = paid_invoice(alice, total="150000")
    quiet()
    _, kwargs = completed_refund(payment, 150000, destination="wallet", kind="overpayment")

    announced_twice("payment_refunded", payment, **kwargs)

    banner = the_banner(alice)
    assert banner.heading == "Rp 150.000 was returned to your wallet"
    assert "overpayment" in banner.body
    assert NUMBER in banner.body
    assert "overpayment" in the_email("payment_refunded").body


def topup_payment(user, amount="100000") -> tuple[TopUp, Payment]:
    wallet = funded_wallet(user, 0)
    payment = PaymentFactory(
        user=user, gross_amount=Decimal(amount), status="settlement", order_id="TOPUP-7f3a"
    )
    topup = TopUp.objects.create(
        wallet=wallet,
        user=user,
        amount=Decimal(amount),
        order_id="TOPUP-7f3a",
        status="success",
        payment=payment,
    )
    wallet_credit(
        wallet=wallet,
        amount=Decimal(amount),
        kind=TransactionKind.TOP_UP,
        idempotency_key=f"topup:{topup.pk}",
        topup=topup,
    )
    return topup, payment


@pytest.mark.parametrize(
    ("spent", "taken"),
    [("0", "Rp 100.000"), ("70000", "Rp 30.000")],
    ids=["balance-covers-it", "shortfall"],
)
def test_a_refunded_top_up_says_the_card_got_it_and_how_much_left_the_wallet(
    alice, quiet, announced_twice, spent, taken
):
    topup, payment = topup_payment(alice)
    wallet = topup.wallet
    if Decimal(spent):
        wallet_debit(
            wallet=wallet,
            amount=Decimal(spent),
            kind=TransactionKind.PAYMENT,
            idempotency_key="spent",
        )
    quiet()
    with transaction.atomic():
        refund, kwargs = completed_refund(payment, 100000, kind="external", shortfall=spent)
        wallet_debit(
            wallet=wallet,
            amount=refund.amount - refund.shortfall,
            kind=TransactionKind.RECLAIM,
            idempotency_key=f"reclaim:{refund.pk}",
            refund=refund,
            payment=payment,
        )  # the wallet's debit says nothing of its own, not even "balance low"

    announced_twice("payment_refunded", payment, **kwargs)

    banner = the_banner(alice)
    assert banner.heading == "Rp 100.000 was refunded to your card or account"
    assert "top-up" in banner.body
    assert f"{taken} was taken from your wallet" in banner.body
    assert banner.url == reverse("portal:wallet")
    email = the_email("payment_refunded")
    assert "top-up" in email.body
    assert f"{taken} was taken from your wallet" in email.body


# --- money arrived for an invoice that no longer asks for it ---------------------------------


@pytest.mark.parametrize(
    ("status", "return_to", "said", "where"),
    [
        ("paid", "gateway", "which was already paid", "your card or account"),
        ("void", "wallet", "which was void", "your wallet"),
    ],
)
def test_an_overpayment_is_announced_as_being_returned_never_as_pay_now(
    alice, quiet, announced_twice, status, return_to, said, where
):
    invoice, _ = paid_invoice(alice, total="150000")
    Invoice.objects.filter(pk=invoice.pk).update(status=status)
    invoice.status = status
    late = PaymentFactory(
        user=alice, invoice=invoice, gross_amount=Decimal("150000"), status="settlement"
    )
    quiet()

    announced_twice(
        "payment_overpaid", late, invoice=invoice, amount=Decimal("150000"), return_to=return_to
    )

    banner = the_banner(alice)
    assert banner.kind == "payment_overpaid"
    assert banner.heading == f"Rp 150.000 arrived for invoice {NUMBER} {said}"
    assert f"We are returning it to {where}." in banner.body
    assert banner.level == "warning"
    assert not banner.needs_action
    assert "pay now" not in f"{banner.heading} {banner.body} {banner.action_label}".lower()
    email = the_email("payment_overpaid")
    assert "Rp 150.000" in email.body
    assert said in email.body
    assert f"returning it to {where}" in email.body
    assert "/i/" not in email.body  # no pay link


# --- an invoice voided ----------------------------------------------------------------------


def issued_then_failed(user) -> Invoice:
    """A sign-up invoice whose card payment failed: a "pay now" banner asks for it."""
    plan = PlanFactory(name="Pro", price=Decimal("150000"))
    invoice = services.subscription_create(user=user, plan=plan).invoices.get()
    failed = services.payment_create(user=user, amount=invoice.total, invoice=invoice)
    services.payment_apply_status(payment=failed, transaction_status="deny")
    return invoice


def listing_of(client, user) -> str:
    client.force_login(user)
    page = client.get(reverse("portal:notifications")).content.decode()
    return page[page.index('id="notification-list"') :]


def test_voiding_an_invoice_says_so_once_and_its_pay_now_banners_stop_asking(
    alice, quiet, announced_twice, client
):
    invoice = issued_then_failed(alice)
    asking = Notification.objects.get(kind="payment_failed")
    assert "Pay now" in listing_of(client, alice)
    quiet(keep=("payment_failed",))
    Invoice.objects.filter(pk=invoice.pk).update(
        status="void", voided_at=timezone.now(), void_reason="Issued by mistake"
    )
    invoice.refresh_from_db()

    announced_twice("invoice_voided", invoice, previous_status="open")

    assert Notification.objects.filter(user=alice).count() == 2  # the old one, and this
    banner = Notification.objects.get(kind="invoice_voided")
    assert banner.heading == f"Invoice {invoice.number} was voided: Issued by mistake"
    assert banner.url == reverse("portal:invoice_detail", args=[invoice.pk])
    assert not banner.needs_action
    old = Notification.objects.get(pk=asking.pk)
    assert old.dismissed_at is not None
    assert not old.needs_action
    listing = listing_of(client, alice)
    assert "Pay now" not in listing
    assert "pay now" not in listing
    assert f"Invoice {invoice.number} was voided: Issued by mistake" in listing
    email = the_email("invoice_voided")
    assert f"Invoice {invoice.number} was voided" in email.subject
    assert "Issued by mistake" in email.body
    assert "/i/" not in email.body  # nothing to pay


def test_a_draft_voided_before_it_was_issued_is_not_announced(alice, quiet, announced_twice):
    invoice = InvoiceFactory(user=alice, status="draft")
    quiet()
    Invoice.objects.filter(pk=invoice.pk).update(status="void")
    invoice.status = "void"

    announced_twice("invoice_voided", invoice, previous_status="draft")

    assert not Notification.objects.exists()
    assert mail.outbox == []


def test_a_pay_now_banner_the_reader_dismissed_stops_asking_when_the_invoice_is_paid_offline(
    alice, quiet, announced_twice, client
):
    invoice = issued_then_failed(alice)
    asking = Notification.objects.get(kind="payment_failed")
    asking.dismissed_at = timezone.now()  # dismissed by hand: the list still shows it
    asking.save()
    assert "Pay now" in listing_of(client, alice)

    services.invoice_mark_paid_offline(invoice=invoice, reference="BANK-1")  # paid another way

    asking.refresh_from_db()
    assert not asking.needs_action
    listing = listing_of(client, alice)
    assert "Pay now" not in listing
    assert "pay now" not in listing
    assert f"Payment failed for {invoice.number}" in listing


# --- the receipt names the payment the signal names ------------------------------------------


def test_the_receipt_names_the_payment_invoice_paid_carries_not_the_latest(
    alice, quiet, announced_twice
):
    invoice, first = paid_invoice(alice, total="150000")
    PaymentFactory(  # a later paid payment of the same invoice (an overpayment)
        user=alice, invoice=invoice, gross_amount=Decimal("150000"), status="settlement",
        paid_at=timezone.now() + dt.timedelta(minutes=5),
    )  # fmt: skip
    quiet()

    announced_twice("invoice_paid", invoice, previous_status="open", payment=first)

    assert SentEmail.objects.get(kind="payment_receipt").params == {"payment_id": first.pk}
    assert len(mail.outbox) == 1


def test_no_receiver_listens_to_payment_success_for_the_receipt():
    assert "payment_success" not in receivers.RECEIVERS
    assert not hasattr(receivers, "_just_paid")


# --- every link of the new emails works for the recipient ------------------------------------


def refund_email(user):
    _, payment = paid_invoice(user)
    _, kwargs = completed_refund(payment, 50000, destination="wallet")
    return "payment_refunded", payment, kwargs


def topup_refund_email(user):
    _, payment = topup_payment(user)
    _, kwargs = completed_refund(payment, 100000)
    return "payment_refunded", payment, kwargs


def overpaid_email(user):
    invoice, _ = paid_invoice(user, total="150000")
    late = PaymentFactory(user=user, invoice=invoice, gross_amount=invoice.total)
    return (
        "payment_overpaid",
        late,
        {"invoice": invoice, "amount": invoice.total, "return_to": "wallet"},
    )


def voided_email(user):
    invoice = InvoiceFactory(
        user=user, status="void", void_reason="Duplicate", voided_at=timezone.now()
    )
    return "invoice_voided", invoice, {"previous_status": "open"}


@pytest.mark.parametrize("build", [refund_email, topup_refund_email, overpaid_email, voided_email])
def test_each_link_of_the_new_emails_opens_for_the_recipient_after_signing_in(
    build, alice, bob, quiet, announced_twice, client, settings
):
    signal, instance, kwargs = build(alice)
    quiet()
    announced_twice(signal, instance, **kwargs)
    [message] = mail.outbox
    urls = urls_in(message)
    assert urls

    for url in urls:
        assert url.startswith(settings.SITE_URL + "/"), url
        path = path_of(url)
        response = client.get(path)  # signed out: sign in first, then land on the page
        assert response.status_code == 302, path
        landing = landing_after_sign_in(path)
        assert parse_qs(urlsplit(response["Location"]).query)["next"] == [landing]
        assert sign_in_through(client, response, alice) == landing
        assert client.get(path).status_code == 200, path
        client.logout()
        client.force_login(bob)  # someone else: never alice's invoice
        if "/invoices/" in path:
            assert client.get(path).status_code == 404, path
        client.logout()
