"""Billing emails from real billing flows: one per event, sent by the task after the commit,
retried when the mail server fails for a passing reason, and previewable by staff.

``FlakyBackend`` stands in for a mail server that refuses for a while: it is a real
Django email backend (any backend works), configured with ``EMAIL_BACKEND``.
"""

from __future__ import annotations

import datetime as dt
import signal as os_signal
import smtplib
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from conftest import local_day
from portal import emails
from portal.models import Notification, SentEmail
from subscriptions import services
from subscriptions.services.billing_run import run_billing
from subscriptions.tests.factories import PlanFactory, SubscriptionFactory
from wallets.services import wallet_set_auto_pay
from wallets.tests.factories import funded_wallet

FLAKY = "portal.tests.test_emails.FlakyBackend"


class FlakyBackend(LocmemBackend):
    """Fails the first ``failures`` sends with ``error``, then delivers to mail.outbox."""

    failures = 0
    error: Exception = ConnectionRefusedError("Connection refused")
    calls = 0

    def send_messages(self, messages):
        type(self).calls += 1
        if type(self).calls <= type(self).failures:
            raise type(self).error
        return super().send_messages(messages)


@pytest.fixture
def flaky(settings):
    settings.EMAIL_BACKEND = FLAKY
    FlakyBackend.calls = 0
    FlakyBackend.failures = 0
    FlakyBackend.error = ConnectionRefusedError("Connection refused")
    return FlakyBackend


def kinds() -> list[str]:
    return [m.extra_headers["X-Billing-Email"] for m in mail.outbox]


def pending_signup(user, price="150000"):
    plan = PlanFactory(name="Pro", price=Decimal(price))
    subscription = services.subscription_create(user=user, plan=plan)
    return subscription, subscription.invoices.get()


# --- one action, several signals: one email per thing that happened ---------------------


def test_paying_a_sign_up_sends_one_welcome_and_one_receipt(
    alice, django_capture_on_commit_callbacks
):
    _, invoice = pending_signup(alice)
    payment = services.payment_create(user=alice, amount=invoice.total, invoice=invoice)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        # payment_success, invoice_paid and subscription_activated, in one transaction
        services.payment_apply_status(payment=payment, transaction_status="settlement")

    assert sorted(kinds()) == ["payment_receipt", "subscription_started"]
    receipt = next(m for m in mail.outbox if "Receipt" in m.subject)
    assert invoice.number in receipt.subject
    assert "Rp 150.000" in receipt.body


@pytest.mark.clock_sensitive
def test_signing_up_sends_the_invoice_with_a_pay_link_after_the_commit(
    alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _, invoice = pending_signup(alice)
        assert mail.outbox == []

    assert kinds() == ["invoice_issued"]
    body = mail.outbox[0].body
    assert f"Invoice: {invoice.number}" in body
    assert "Pay now (no sign-in needed): http://testserver/i/" in body
    assert "starts as soon as this invoice is paid" in body
    due = local_day(invoice.due_date)  # Jakarta's day, whatever the hour in UTC
    assert mail.outbox[0].subject.endswith(f", due {due}")
    assert f"Due on:  {due}" in body
    banner = Notification.objects.get(kind="invoice_issued")
    assert banner.body.endswith(f"due on {due}.")


def test_a_renewal_paid_from_the_wallet_at_once_sends_only_the_receipt(
    alice, django_capture_on_commit_callbacks
):
    now = timezone.now()
    plan = PlanFactory(price=Decimal("100000"))
    SubscriptionFactory(
        user=alice, plan=plan, current_period_start=now - dt.timedelta(days=30),
        current_period_end=now - dt.timedelta(minutes=1),
    )  # fmt: skip
    wallet = funded_wallet(alice, 300000)
    wallet_set_auto_pay(wallet=wallet, enabled=True)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        report = run_billing(now=now)

    assert report.counts["renewed_auto_paid"] == 1
    # invoice_created and invoice_paid in one transaction: "pay now" would be untrue.
    assert kinds().count("payment_receipt") == 1
    assert "invoice_issued" not in kinds()
    assert SentEmail.objects.get(kind="invoice_issued").status == "skipped"
    assert not Notification.objects.filter(kind="invoice_issued", dismissed_at=None).exists()


@pytest.mark.clock_sensitive
def test_cancelling_at_the_period_end_sends_the_notice_then_the_final_email(
    alice, django_capture_on_commit_callbacks
):
    now = timezone.now()
    subscription = SubscriptionFactory(user=alice, current_period_end=now + dt.timedelta(days=3))
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        services.subscription_cancel(subscription=subscription, at_period_end=True)
    with django_capture_on_commit_callbacks(execute=True):
        run_billing(now=now + dt.timedelta(days=4))

    assert kinds() == ["subscription_cancel_scheduled", "subscription_ended"]
    notice = mail.outbox[0]
    assert "Keep my subscription" in notice.alternatives[0][0]
    assert notice.subject.endswith(f"ends on {local_day(subscription.current_period_end)}")


# --- delivery: idempotent, retried, recorded ---------------------------------------------


def queued(user, kind="subscription_started", **params) -> SentEmail:
    subscription = SubscriptionFactory(user=user)
    SentEmail.objects.all().delete()
    return emails.queue_email(
        kind=kind, user=user, key=f"test:{subscription.pk}", subscription=subscription, **params
    )


def test_delivering_the_same_email_twice_sends_it_once(alice):
    sent = queued(alice)

    assert emails.deliver(sent.pk) == "sent"
    assert emails.deliver(sent.pk) == "not-queued"  # a second worker, a re-run task

    assert len(mail.outbox) == 1
    sent.refresh_from_db()
    assert (sent.status, sent.attempts, sent.to_email) == ("sent", 1, alice.email)
    assert sent.sent_at is not None


def test_queueing_the_same_event_twice_records_one_email(alice):
    first = queued(alice)

    again = emails.queue_email(
        kind="subscription_started", user=alice, key=first.idempotency_key.rsplit(":user-", 1)[0]
    )

    assert again is None
    assert SentEmail.objects.count() == 1


def test_a_connection_refused_is_retried_and_the_email_sent_once(alice, flaky):
    flaky.failures = 2
    sent = queued(alice)

    emails.deliver(sent.pk)  # the immediate backend runs the retries at once

    sent.refresh_from_db()
    assert (sent.status, sent.attempts, sent.error) == ("sent", 3, "")
    assert len(mail.outbox) == 1


def test_a_temporary_smtp_answer_is_retried_until_the_last_attempt_then_recorded(
    alice, flaky, settings
):
    settings.PORTAL_EMAIL_RETRY_DELAYS = (1, 1)
    flaky.failures = 99
    flaky.error = smtplib.SMTPDataError(451, b"Try again later")
    sent = queued(alice)

    assert emails.deliver(sent.pk) == "retrying"

    sent.refresh_from_db()
    assert (sent.status, sent.attempts) == ("failed", 3)
    assert "451" in sent.error
    assert flaky.calls == 3
    assert mail.outbox == []


def test_a_refused_recipient_is_not_retried(alice, flaky):
    flaky.failures = 1
    flaky.error = smtplib.SMTPRecipientsRefused({alice.email: (550, b"No such user")})
    sent = queued(alice)

    assert emails.deliver(sent.pk) == "failed"

    sent.refresh_from_db()
    assert (sent.status, sent.attempts) == ("failed", 1)
    assert flaky.calls == 1


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (smtplib.SMTPServerDisconnected(), True),
        (smtplib.SMTPResponseException(421, b"busy"), True),
        (smtplib.SMTPAuthenticationError(535, b"bad credentials"), False),
        (smtplib.SMTPNotSupportedError(), False),
        (ValueError("bad header"), False),
        (type("ApiError", (Exception,), {"status_code": 503})(), True),
        (type("ApiError", (Exception,), {"status_code": 400})(), False),
    ],
)
def test_which_failures_are_worth_another_try(error, transient):
    assert emails.is_transient(error) is transient


def test_an_email_about_an_invoice_paid_before_it_went_out_is_skipped(alice):
    _, invoice = pending_signup(alice)
    sent = SentEmail.objects.get(kind="invoice_issued")
    services.invoice_mark_paid_offline(invoice=invoice, reference="BANK-1")

    assert emails.deliver(sent.pk) == "skipped"

    assert mail.outbox == [] or "invoice_issued" not in kinds()


def test_a_user_without_an_email_address_gets_nothing(alice):
    alice.email = ""
    alice.save()
    sent = queued(alice)

    assert emails.deliver(sent.pk) == "skipped"
    assert mail.outbox == []


def test_the_admin_timeline_of_an_invoice_lists_its_emails(
    alice, django_capture_on_commit_callbacks
):
    from subscriptions.selectors import invoice_timeline

    with django_capture_on_commit_callbacks(execute=True):
        _, invoice = pending_signup(alice)

    entries = [e for e in invoice_timeline(invoice) if e.kind == "email"]
    assert [e.title for e in entries] == [f"Email: {mail.outbox[0].subject}"]
    assert entries[0].detail == f"Sent to {alice.email}"


@pytest.mark.django_db(transaction=True)
def test_with_the_database_queue_the_worker_sends_and_retries_later(alice, flaky, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    flaky.failures = 1
    handlers = {s: os_signal.getsignal(s) for s in (os_signal.SIGINT, os_signal.SIGTERM)}

    def work():
        call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)

    try:
        _, invoice = pending_signup(alice)  # committed: the task is queued in the database
        sent = SentEmail.objects.get(kind="invoice_issued")
        assert mail.outbox == []

        work()  # the first attempt fails: queued again for a minute later
        sent.refresh_from_db()
        assert (sent.status, sent.attempts) == ("queued", 1)
        work()  # not yet due
        assert mail.outbox == []

        with time_machine.travel(timezone.now() + dt.timedelta(seconds=61)):
            work()
    finally:
        for sig, handler in handlers.items():
            os_signal.signal(sig, handler)

    sent.refresh_from_db()
    assert (sent.status, sent.attempts) == ("sent", 2)
    assert [m.subject for m in mail.outbox] == [sent.subject]
    assert invoice.number in sent.subject


# --- rendering and the preview page -----------------------------------------------------


@pytest.mark.parametrize("kind", list(emails.KINDS))
def test_staff_can_preview_every_email_with_sample_data(kind, client, staff, settings):
    settings.DEBUG = False
    client.force_login(staff)

    response = client.get(reverse("portal:email_preview", args=[kind]))

    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="subject"' in body
    assert "srcdoc=" in body
    text = response.context["email"].text
    assert text.startswith("Hi Sari,")
    assert "{{" not in text
    assert "{%" not in text
    assert "&amp;" not in text
    assert "&#x27;" not in text
    assert "http://testserver/" in text


def test_the_preview_list_names_every_email(client, staff):
    client.force_login(staff)

    body = client.get(reverse("portal:email_previews")).content.decode()

    for kind in emails.KINDS.values():
        assert kind.label in body


def test_the_email_previews_are_hidden_from_customers_unless_debug(client, alice, settings):
    settings.DEBUG = False
    url = reverse("portal:email_previews")

    assert client.get(url).status_code == 302  # sign in first
    client.force_login(alice)
    assert client.get(url).status_code == 404
    assert client.get(reverse("portal:email_preview", args=["wallet_low"])).status_code == 404

    settings.DEBUG = True
    assert client.get(url).status_code == 200
