"""Every billing signal that should tell the subscriber something: one banner, one email.

Each case builds the rows an event is about, clears what building them announced, and
then sends the signal the way the billing code does (inside a transaction). The
banner is written in that transaction; the email is sent after the commit
(``django_capture_on_commit_callbacks(execute=True)``), never after a rollback, and
an event announced twice is announced once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from portal.models import Notification, SentEmail
from subscriptions import signals
from subscriptions.models import Refund
from subscriptions.tests.factories import (
    InvoiceFactory,
    PaymentFactory,
    PlanFactory,
    SubscriptionFactory,
)
from wallets.models import TopUp, TransactionKind
from wallets.services import wallet_debit
from wallets.tests.factories import funded_wallet

DAY = dt.timedelta(days=1)


def now() -> dt.datetime:
    return timezone.now()


def trialing(user):
    return SubscriptionFactory(
        user=user, status="trialing", trial_end=now() + 3 * DAY, current_period_end=now() + 3 * DAY
    )


def open_invoice(user, **fields):
    sub = SubscriptionFactory(user=user)
    defaults = {"status": "open", "due_date": now() + 7 * DAY, "reason": "renewal"}
    return InvoiceFactory(user=user, subscription=sub, plan=sub.plan, **{**defaults, **fields})


@dataclass(frozen=True)
class Case:
    signal: str
    banner: str | None  # the Notification.kind it creates, if any
    email: str | None  # the SentEmail.kind it sends, if any
    build: Callable[[Any], tuple[Any, dict]]  # user -> (instance, signal kwargs)
    says: str = ""  # a few words the banner's title as shown (or the email subject) must hold

    def __str__(self) -> str:
        return f"{self.signal}->{self.banner or '-'}/{self.email or '-'}"


def _topup(user):
    wallet = funded_wallet(user, 0)
    return TopUp.objects.create(
        wallet=wallet, user=user, amount=Decimal("100000"), order_id="TOPUP-t1", status="success"
    )


def _low_debit(user):
    wallet = funded_wallet(user, 60000)
    return wallet_debit(
        wallet=wallet, amount=Decimal("20000"), kind=TransactionKind.PAYMENT, idempotency_key="d1"
    )


def _adjustment(user):
    wallet = funded_wallet(user, 75000)
    return wallet.transactions.get()


def _paid_invoice(user):
    invoice = open_invoice(user, status="paid", paid_at=now())
    PaymentFactory(user=user, invoice=invoice, status="settlement", payment_type="qris")
    return invoice


def _refund_to_wallet(user):
    payment = PaymentFactory(
        user=user, invoice=_paid_invoice(user), status="partial_refund",
        refunded_amount=Decimal("50000"),
    )  # fmt: skip
    refund = Refund.objects.create(
        payment=payment, amount=Decimal("50000"), destination="wallet", status="succeeded",
        refund_key=f"r-{payment.pk}", reason="Goodwill",
    )  # fmt: skip
    return payment, {
        "previous_status": "settlement",
        "refund_amount": Decimal("50000"),
        "previous_refunded_amount": Decimal("0"),
        "refund": refund,
    }


def _overpaid(user):
    invoice = _paid_invoice(user)
    late = PaymentFactory(user=user, invoice=invoice, status="settlement")
    return late, {"invoice": invoice, "amount": late.gross_amount, "return_to": "gateway"}


CASES = [
    Case("subscription_created", "subscription_started", "subscription_started",
         lambda u: (trialing(u), {"previous_status": None}), "trial has started"),
    Case("subscription_activated", "subscription_started", "subscription_started",
         lambda u: (SubscriptionFactory(user=u), {"previous_status": "pending"}), "Welcome"),
    Case("subscription_resumed", "subscription_resumed", "subscription_resumed",
         lambda u: (SubscriptionFactory(user=u), {"previous_status": "paused"}), "resumed"),
    Case("subscription_paused", "subscription_paused", "subscription_paused",
         lambda u: (SubscriptionFactory(user=u, status="paused", paused_at=now()),
                    {"previous_status": "active"}), "paused"),
    Case("subscription_cancel_scheduled", "subscription_cancel_scheduled",
         "subscription_cancel_scheduled",
         lambda u: (sub := SubscriptionFactory(user=u, cancel_at_period_end=True),
                    {"cancel_at": sub.current_period_end, "reason": ""}), "ends on"),
    Case("subscription_cancelled", "subscription_ended", "subscription_ended",
         lambda u: (SubscriptionFactory(user=u, status="cancelled", cancelled_at=now(),
                                        ended_at=now()), {"previous_status": "active"}),
         "has ended"),
    Case("subscription_expired", "subscription_expired", "subscription_expired",
         lambda u: (SubscriptionFactory(user=u, status="expired", ended_at=now()),
                    {"previous_status": "past_due"}), "expired"),
    Case("subscription_plan_changed", "plan_changed", "plan_changed",
         lambda u: (sub := SubscriptionFactory(user=u, plan=PlanFactory(name="Business")),
                    {"old_plan": PlanFactory(name="Starter"), "new_plan": sub.plan}),
         "now on Business"),
    Case("subscription_trial_will_end", "trial_ending", "trial_ending",
         lambda u: (sub := trialing(u), {"trial_end": sub.trial_end}), "trial ends on"),
    Case("subscription_renewal_upcoming", None, "renewal_upcoming",
         lambda u: (sub := SubscriptionFactory(user=u),
                    {"renews_at": sub.current_period_end, "plan": sub.plan,
                     "amount": sub.plan.price}), "renews on"),
    Case("payment_failed", "payment_failed", "payment_failed",
         lambda u: (PaymentFactory(user=u, invoice=open_invoice(u, number="INV-2026-000042"),
                                   status="deny"), {"previous_status": "pending"}),
         "Payment failed for INV-2026-000042: pay now"),
    Case("payment_failed", "topup_failed", None,
         lambda u: (PaymentFactory(user=u, status="failure"), {"previous_status": "pending"}),
         "top-up"),
    Case("payment_refunded", "payment_refunded", "payment_refunded",
         lambda u: (PaymentFactory(user=u, invoice=_paid_invoice(u), status="refund"),
                    {"previous_status": "settlement", "refund_amount": Decimal("150000"),
                     "previous_refunded_amount": Decimal("0")}), "Rp 150.000 was refunded"),
    Case("payment_refunded", "payment_refunded", "payment_refunded", _refund_to_wallet,
         "Rp 50.000 was returned to your wallet"),
    Case("payment_overpaid", "payment_overpaid", "payment_overpaid", _overpaid,
         "arrived for invoice"),
    Case("invoice_issued", "invoice_issued", "invoice_issued",
         lambda u: (open_invoice(u), {"previous_status": None}), "New invoice"),
    Case("invoice_paid", "payment_received", "payment_receipt",
         lambda u: (_paid_invoice(u), {"previous_status": "open"}), "is paid"),
    Case("invoice_overdue", "invoice_overdue", "invoice_overdue",
         lambda u: (open_invoice(u, status="overdue", due_date=now() - DAY),
                    {"previous_status": "open"}), "overdue"),
    Case("invoice_payment_reminder", "invoice_overdue", "invoice_overdue",
         lambda u: (open_invoice(u, status="overdue", due_date=now() - 3 * DAY),
                    {"reminder_number": 2, "days_overdue": 3}), "Reminder"),
    Case("invoice_voided", "invoice_voided", "invoice_voided",
         lambda u: (open_invoice(u, status="void", void_reason="Issued twice"),
                    {"previous_status": "open"}), "was voided: Issued twice"),
    Case("topup_completed", "topup_completed", "topup_completed",
         lambda u: (_topup(u), {"previous_status": "pending"}), "added to your wallet"),
    Case("wallet_debited", "wallet_low", "wallet_low", lambda u: (_low_debit(u), {}),
         "balance is low"),
    Case("wallet_credited", "wallet_credited", None, lambda u: (_adjustment(u), {}),
         "credited to your wallet"),
]  # fmt: skip


@pytest.fixture(params=CASES, ids=str)
def case(request):
    return request.param


def built(case: Case, user):
    instance, kwargs = case.build(user)
    # What building the rows announced is not under test.
    Notification.objects.all().delete()
    SentEmail.objects.all().delete()
    mail.outbox.clear()
    return instance, kwargs


def send(case: Case, instance, kwargs) -> None:
    """Send the signal as the billing code does: inside a transaction."""
    with transaction.atomic():
        getattr(signals, case.signal).send(sender=type(instance), instance=instance, **kwargs)


def test_each_notifying_signal_shows_its_banner_once(case, alice, client):
    instance, kwargs = built(case, alice)

    send(case, instance, kwargs)
    send(case, instance, kwargs)  # the same event again (a retried webhook, a second run)

    banners = list(Notification.objects.filter(user=alice))
    assert [b.kind for b in banners] == ([case.banner] if case.banner else [])
    if case.banner:
        client.force_login(alice)
        page = client.get(reverse("portal:notifications")).content.decode()
        region = page[page.index('id="notifications"') : page.index("<h1")]
        assert region.count("data-banner=") == 1
        assert f'data-banner="{case.banner}"' in region
        title = re.search(r'<p class="font-semibold">(.*?)</p>', region, re.S).group(1)
        assert case.says.lower() in re.sub(r"<[^>]+>", "", title).lower()


def test_each_notifying_signal_sends_its_email_once_after_the_commit(
    case, alice, django_capture_on_commit_callbacks
):
    instance, kwargs = built(case, alice)

    with django_capture_on_commit_callbacks(execute=True):
        send(case, instance, kwargs)
        send(case, instance, kwargs)
        assert mail.outbox == []  # nothing before the commit

    if case.email is None:
        assert mail.outbox == []
        assert not SentEmail.objects.exists()
        return
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [alice.email]
    assert message.extra_headers["X-Billing-Email"] == case.email
    sent = SentEmail.objects.get()
    assert (sent.kind, sent.status, sent.subject) == (case.email, "sent", message.subject)
    html = message.alternatives[0][0]
    assert "<html" in html
    assert message.body.startswith("Hi")
    if case.banner is None:
        assert case.says.lower() in message.subject.lower()


def test_nothing_is_shown_or_sent_when_the_transaction_rolls_back(
    case, alice, django_capture_on_commit_callbacks
):
    instance, kwargs = built(case, alice)

    def send_then_fail():
        with transaction.atomic():
            send(case, instance, kwargs)
            raise RuntimeError("the request failed after the change")

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError):
        send_then_fail()

    assert callbacks == []
    assert mail.outbox == []
    assert not Notification.objects.exists()
    assert not SentEmail.objects.exists()


@pytest.mark.parametrize(
    "signal",
    ["payment_created", "webhook_received", "webhook_processed", "subscription_renewed"],
)
def test_noise_signals_neither_show_a_banner_nor_send_an_email(
    signal, alice, django_capture_on_commit_callbacks
):
    from subscriptions.tests.factories import WebhookLogFactory

    instance = (
        WebhookLogFactory()
        if signal.startswith("webhook")
        else SubscriptionFactory(user=alice)
        if signal == "subscription_renewed"
        else PaymentFactory(user=alice)
    )
    Notification.objects.all().delete()
    SentEmail.objects.all().delete()

    with django_capture_on_commit_callbacks(execute=True):
        getattr(signals, signal).send(
            sender=type(instance), instance=instance, previous_status=None
        )

    assert not Notification.objects.exists()
    assert mail.outbox == []


def test_a_draft_invoice_and_an_abandoned_payment_attempt_are_not_announced(
    alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        InvoiceFactory(user=alice, status="draft")
        invoice = open_invoice(alice)
        Notification.objects.all().delete()
        for status in ("cancel", "expire"):
            payment = PaymentFactory(user=alice, invoice=invoice, status=status)
            signals.payment_failed.send(sender=type(payment), instance=payment)

    assert not Notification.objects.exists()
    assert [m.extra_headers["X-Billing-Email"] for m in mail.outbox] == [
        "subscription_started",
        "invoice_issued",
    ]


@pytest.mark.django_db
def test_undoing_a_scheduled_cancellation_clears_its_banner(alice):
    from portal.models import Notification
    from subscriptions import services

    subscription = SubscriptionFactory(user=alice)
    services.subscription_cancel(subscription=subscription, at_period_end=True)
    assert (
        Notification.objects.unread()
        .filter(user=alice, kind="subscription_cancel_scheduled")
        .exists()
    )

    services.subscription_undo_cancel(subscription=subscription)

    assert (
        not Notification.objects.unread()
        .filter(user=alice, kind="subscription_cancel_scheduled")
        .exists()
    )
