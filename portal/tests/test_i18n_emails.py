"""Every billing email is written in its recipient's language (``Preferences.language``,
else the site's ``LANGUAGE_CODE``), whatever language the process that sends it is in:
a request in English, the billing run (a management command), the task worker.

The Indonesian comes from the compiled catalogue (``manage.py translations --write``).
"""

from __future__ import annotations

import datetime as dt
import signal as os_signal
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.utils import timezone, translation

from portal import emails
from portal.models import Preferences, SentEmail
from subscriptions import services
from subscriptions.tests.factories import PlanFactory, SubscriptionFactory

# A morning in December in Jakarta: every date these emails show is in December.
DECEMBER = dt.datetime(2026, 12, 3, 2, 0, tzinfo=dt.UTC)


def speaks(user, language: str) -> None:
    Preferences.objects.update_or_create(user=user, defaults={"language": language})


def the_email(user, kind: str):
    [message] = [
        m
        for m in mail.outbox
        if m.to == [user.email] and m.extra_headers["X-Billing-Email"] == kind
    ]
    return message


def html_of(message) -> str:
    [(html, _type)] = message.alternatives
    return html


def due_renewal(user, plan, now):
    return SubscriptionFactory(
        user=user, plan=plan, current_period_start=now - dt.timedelta(days=30),
        current_period_end=now - dt.timedelta(minutes=1),
    )  # fmt: skip


def test_an_invoice_email_is_in_the_recipients_language_when_an_english_request_sends_it(
    alice, django_capture_on_commit_callbacks
):
    speaks(alice, "id")
    plan = PlanFactory(name="Pro", price=Decimal("150000"))

    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        subscription = services.subscription_create(user=alice, plan=plan)
        assert translation.get_language() == "en"
    invoice = subscription.invoices.get()

    message = the_email(alice, "invoice_issued")
    assert message.subject.startswith(f"Tagihan {invoice.number} sebesar Rp 150.000, jatuh tempo ")
    assert message.body.startswith("Halo")
    assert f"Berikut tagihan {invoice.number} Anda sebesar Rp 150.000 (Pro)." in message.body
    assert "Langganan Pro Anda dimulai segera setelah tagihan ini dibayar." in message.body
    assert "Bayar sekarang (tanpa perlu masuk): http://testserver/i/" in message.body
    assert f"Tagihan:     {invoice.number}" in message.body
    assert "Here is your invoice" not in message.body
    html = html_of(message)
    assert '<html lang="id">' in html
    assert "<strong>Rp 150.000</strong>" in html
    assert ">Bayar sekarang</a>" in html
    assert ">Lihat tagihan</a>" in html
    assert "notifikasi Anda</a>" in html
    # The subject recorded for the admin is the one sent.
    assert SentEmail.objects.get(kind="invoice_issued").subject == message.subject


def test_the_same_event_in_english_for_a_recipient_without_a_preference(
    bob, django_capture_on_commit_callbacks
):
    plan = PlanFactory(name="Pro", price=Decimal("150000"))

    with translation.override("id"), django_capture_on_commit_callbacks(execute=True):
        subscription = services.subscription_create(user=bob, plan=plan)
    invoice = subscription.invoices.get()

    message = the_email(bob, "invoice_issued")
    assert message.subject.startswith(f"Invoice {invoice.number} for Rp 150.000, due ")
    assert f"Here is your invoice {invoice.number} for Rp 150.000 (Pro)." in message.body
    assert '<html lang="en">' in html_of(message)


def test_the_billing_run_writes_to_each_subscriber_in_their_own_language(
    alice, bob, django_capture_on_commit_callbacks
):
    speaks(alice, "id")
    speaks(bob, "en")
    plan = PlanFactory(name="Pro", price=Decimal("100000"))
    with time_machine.travel(DECEMBER, tick=False):
        now = timezone.now()
        due_renewal(alice, plan, now)
        due_renewal(bob, plan, now)
        mail.outbox.clear()

        with django_capture_on_commit_callbacks(execute=True):
            call_command("run_billing", now=now.isoformat(), stdout=StringIO())

    to_alice = the_email(alice, "invoice_issued")
    to_bob = the_email(bob, "invoice_issued")
    assert to_alice.subject.startswith("Tagihan ")
    assert "sebesar Rp 100.000, jatuh tempo " in to_alice.subject
    assert "Anda tetap dapat menggunakan Pro hingga" in to_alice.body
    assert to_bob.subject.startswith("Invoice ")
    assert "for Rp 100.000, due " in to_bob.subject
    assert "You keep access to Pro until" in to_bob.body


def test_dates_in_an_indonesian_email_are_written_the_indonesian_way(
    alice, bob, django_capture_on_commit_callbacks
):
    speaks(alice, "id")
    plan = PlanFactory(name="Pro", price=Decimal("150000"))
    with (
        time_machine.travel(DECEMBER, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        services.subscription_create(user=alice, plan=plan)
        services.subscription_create(user=bob, plan=plan)

    to_alice, to_bob = the_email(alice, "invoice_issued"), the_email(bob, "invoice_issued")
    assert "Desember 2026" in to_alice.subject
    assert "Jatuh tempo: " in to_alice.body
    assert "Desember 2026" in to_alice.body
    assert "Dec 2026" not in to_alice.body
    assert "Dec 2026" in to_bob.subject  # "8 Dec 2026" in English
    assert "Desember" not in to_bob.body


def test_each_kind_has_an_indonesian_label_for_the_preview_page_and_the_admin():
    with translation.override("id"):
        assert emails.KINDS["invoice_issued"].label == "Tagihan diterbitkan"
        assert emails.KINDS["wallet_low"].label == "Saldo dompet menipis"
    with translation.override("en"):
        assert emails.KINDS["invoice_issued"].label == "Invoice issued"


def test_the_admin_timeline_is_in_the_staff_language_and_keeps_the_subject_as_sent(
    alice, django_capture_on_commit_callbacks
):
    from subscriptions.selectors import invoice_timeline

    speaks(alice, "en")
    plan = PlanFactory(name="Pro", price=Decimal("150000"))
    with django_capture_on_commit_callbacks(execute=True):
        subscription = services.subscription_create(user=alice, plan=plan)
    invoice = subscription.invoices.get()
    subject = the_email(alice, "invoice_issued").subject

    with translation.override("id"):
        [entry] = [e for e in invoice_timeline(invoice) if e.kind == "email"]

    assert entry.title == f"Email: {subject}"
    assert entry.detail == f"Terkirim ke {alice.email}"


@pytest.mark.parametrize("kind", list(emails.KINDS))
def test_every_sample_email_reads_in_indonesian(kind):
    from portal.views_notifications import sample_email

    with translation.override("id"):
        email = sample_email(kind)

    assert email.text.startswith("Halo Sari,")
    assert "Akun Anda: http://" in email.text
    assert '<html lang="id">' in email.html
    # (Words from elsewhere: the refund's headline and where it goes, portal/refunds.py;
    # a plan's interval, subscriptions/models.py.)
    text = email.text.replace("Issued by mistake", "").replace("Charged twice for May", "")
    english = ("Your ", "your ", "Invoice:", "Hi ", "View ", "Manage ", " is ", " was ", "month")
    for word in english:
        assert word not in text, word


@pytest.mark.django_db(transaction=True)
def test_the_task_worker_writes_in_the_recipients_language(alice, bob, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    speaks(alice, "id")
    plan = PlanFactory(name="Pro", price=Decimal("150000"))
    handlers = {s: os_signal.getsignal(s) for s in (os_signal.SIGINT, os_signal.SIGTERM)}
    try:
        with translation.override("en"):  # the request that queued them
            services.subscription_create(user=alice, plan=plan)
            services.subscription_create(user=bob, plan=plan)
        assert mail.outbox == []  # queued in the database, not sent yet
        call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
    finally:
        for sig, handler in handlers.items():
            os_signal.signal(sig, handler)

    assert the_email(alice, "invoice_issued").subject.startswith("Tagihan ")
    assert the_email(bob, "invoice_issued").subject.startswith("Invoice ")
