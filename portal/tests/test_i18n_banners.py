"""Banners are stored untranslated and said in the reader's language when shown: a
banner written while the subscriber read English shows in Indonesian once they switch,
dates included, and back again."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation

from portal.models import Notification
from portal.notifications import notify
from portal.texts import phrase, say
from subscriptions import signals
from subscriptions.models import Refund
from subscriptions.tests.factories import InvoiceFactory, PaymentFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def overdue_invoice(user):
    sub = SubscriptionFactory(user=user)
    due = timezone.make_aware(dt.datetime(2026, 12, 8, 12, 0))
    return InvoiceFactory(
        user=user, subscription=sub, plan=sub.plan, status="open", due_date=due, reason="renewal"
    )


def switch(client, language: str) -> None:
    response = client.post(reverse("set_language"), {"language": language, "next": "/billing/"})
    assert response.status_code == 302


def test_a_banner_written_in_english_is_shown_in_indonesian_after_the_switch(client, alice):
    invoice = overdue_invoice(alice)
    Notification.objects.all().delete()
    with translation.override("en"), transaction.atomic():
        signals.invoice_overdue.send(sender=type(invoice), instance=invoice)
    banner = Notification.objects.get(user=alice, kind="invoice_overdue")
    # Stored as the msgid and its parameters, not as English text.
    assert banner.title == "Invoice {number} is overdue"
    assert banner.params["number"] == invoice.number
    client.force_login(alice)

    switch(client, "id")
    page = client.get(reverse("portal:notifications")).content.decode()
    assert f"Tagihan {invoice.number} telah lewat jatuh tempo: bayar sekarang" in page
    assert "jatuh tempo pada 8 Desember 2026" in page
    assert "is overdue" not in page

    switch(client, "en")
    page = client.get(reverse("portal:notifications")).content.decode()
    assert f"Invoice {invoice.number} is overdue: pay now" in page
    assert "was due on 8 Dec 2026" in page


def test_the_region_on_every_page_speaks_the_readers_language(client, alice):
    invoice = overdue_invoice(alice)
    with transaction.atomic():
        signals.invoice_overdue.send(sender=type(invoice), instance=invoice)
    client.force_login(alice)
    switch(client, "id")
    page = client.get(reverse("portal:dashboard")).content.decode()
    assert f"Tagihan {invoice.number} telah lewat jatuh tempo" in page


def test_a_phrase_inside_a_banner_is_translated_too(alice):
    """A refund's reason sentence and destination are phrases: translated on their own."""
    payment = PaymentFactory(
        user=alice, invoice=overdue_invoice(alice), status="settlement", is_paid=True
    )
    refund = Refund(
        payment=payment,
        amount=Decimal("50000"),
        currency="IDR",
        destination="wallet",
        reason="Charged twice",
    )
    with transaction.atomic():
        signals.payment_refunded.send(
            sender=type(payment), instance=payment, refund=refund, refund_amount=Decimal("50000")
        )
    banner = Notification.objects.get(user=alice, kind="payment_refunded")
    with translation.override("id"):
        assert banner.heading == "Rp 50.000 telah dikembalikan ke dompet Anda"
        assert banner.body.endswith("Alasan: Charged twice.")
    with translation.override("en"):
        assert banner.heading == "Rp 50.000 was returned to your wallet"
        assert banner.body.endswith("Reason: Charged twice.")


def test_older_banners_stored_as_english_text_are_shown_as_they_are(alice):
    notify(user=alice, kind="legacy", key="legacy:1", title="Your {old} banner", message="As is.")
    banner = Notification.objects.get(key="legacy:1")
    with translation.override("id"):
        assert (banner.heading, banner.body) == ("Your {old} banner", "As is.")


def test_say_falls_back_to_english_when_a_parameter_is_missing_from_the_text():
    with translation.override("id"):
        assert say("Reason: {reason}.", {"reason": "x"}) == "Alasan: x."
        assert say("Not in the catalogue {x}", {"x": 1}) == "Not in the catalogue 1"
        assert say("{a} and {b}", {"a": 1}) == "{a} and {b}"
        assert (
            say(
                "Then {plan} costs {cost}.",
                {"plan": "Pro", "cost": phrase("{price} per month", price="Rp 1")},
            )
            == "Setelah itu, Pro dikenakan biaya Rp 1 per bulan."
        )


def test_the_admin_lists_a_banner_as_its_reader_sees_it(client, alice, staff):
    invoice = overdue_invoice(alice)
    with transaction.atomic():
        signals.invoice_overdue.send(sender=type(invoice), instance=invoice)
    client.force_login(staff)
    page = client.get(reverse("admin:portal_notification_changelist")).content.decode()
    assert f"Invoice {invoice.number} is overdue" in page
    assert "{number}" not in page
