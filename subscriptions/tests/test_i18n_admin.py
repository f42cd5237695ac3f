"""The admin screens we wrote follow the reader's language, as Django's own admin does:
a staff member whose browser asks for Indonesian signs in and reads the invoice list
(column headers, status labels, actions, totals), an invoice's page (field labels,
timeline) and the messages of the actions in Indonesian; in English, the same screens
stay English."""

from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.formats import date_format

from conftest import local
from subscriptions import services
from subscriptions.tests.factories import PlanFactory, SubscriptionFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:subscriptions_invoice_changelist"
PASSWORD = "correct horse battery"


def signed_in(language: str) -> Client:
    """A staff member signed in through the admin's login page, the browser asking for
    ``language`` (the sign-in keeps it as the account's language)."""
    staff = UserFactory(email=f"staff-{language}@example.com", is_staff=True, is_superuser=True)
    client = Client(headers={"Accept-Language": language})
    response = client.post(
        reverse("admin:login"), {"username": staff.username, "password": PASSWORD}
    )
    assert response.status_code == 302, response.content[:500]
    return client


@pytest.fixture
def invoice(alice):
    plan = PlanFactory(price=Decimal("150000"))
    return services.subscription_create(user=alice, plan=plan).invoices.get()


def text(response) -> str:
    return response.content.decode()


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def post_action(client, model, action, pks, **extra):
    url = reverse(f"admin:subscriptions_{model}_changelist")
    return client.post(url, {"action": action, ACTION_CHECKBOX_NAME: pks, **extra}, follow=True)


def test_the_invoice_list_is_in_indonesian_for_an_indonesian_browser(invoice):
    client = signed_in("id")
    page = text(client.get(reverse(CHANGELIST)))

    assert '<html lang="id"' in page
    # Our column headers (field labels and @admin.display), Django's around them.
    for header in ("Nomor", "Pengguna", "Jenis tagihan", "Diterbitkan pada", "Jatuh tempo"):
        assert f">{header}</a>" in page or f">{header}</span>" in page, header
    # The status and purpose of the row, as labels.
    assert "Belum dibayar" in page
    assert "Periode pertama" in page
    # Our actions, the wallet's and the portal's.
    assert "Batalkan tagihan terpilih (dengan alasan)" in page
    assert "Tandai lunas di luar gateway (dengan referensi)" in page
    assert "Kembalikan dana ke dompet pelanggan (dengan alasan)" in page
    assert "Kirim ulang email tagihan" in page
    # The totals above the list, and the filter we wrote.
    assert "Total untuk daftar ini" in page
    assert "Lewat jatuh tempo, belum dibayar" in page
    for english in ("Due date", "Void selected invoices", "Totals for this list", "First period"):
        assert english not in page


def test_an_invoice_page_and_its_timeline_are_in_indonesian(invoice):
    client = signed_in("id")
    post_action(
        client,
        "invoice",
        "mark_paid_offline",
        [invoice.pk],
        apply="1",
        reference="TRF-881",
        reason="Dibayar di kantor",
    )
    invoice.refresh_from_db()
    payment = invoice.payments.get()

    response = client.get(reverse("admin:subscriptions_invoice_change", args=[invoice.pk]))
    page = text(response)

    with translation.override("id"):
        due = date_format(local(invoice.due_date), "DATE_FORMAT")
    assert "Riwayat" in page
    assert f"Diterbitkan sebagai {invoice.number}" in page
    assert f"jatuh tempo {due}" in page
    assert f"Pembayaran {payment.order_id} dimulai" in page
    assert "<td>Lunas</td>" in page or ">Lunas<" in page
    # The staff action, as the admin log recorded it in the staff member's language.
    assert "Tagihan ditandai lunas. referensi: TRF-881; alasan: Dibayar di kantor" in page
    # Field labels and the status label on the page itself.
    assert "Jatuh tempo" in page
    assert "Diterbitkan pada" in page
    for english in ("Timeline", "Issued as", "started", "Created"):
        assert english not in page, english
    # Dates in the timeline are Indonesian too ("8 Desember 2026, 14.05").
    with translation.override("id"):
        issued = date_format(local(invoice.issued_at), "DATETIME_FORMAT")
    assert issued in page


def test_admin_actions_report_in_indonesian(invoice):
    client = signed_in("id")

    response = post_action(
        client, "invoice", "void_invoices", [invoice.pk], apply="1", reason="Pesanan ganda"
    )
    assert "1 tagihan dibatalkan." in messages_of(response)

    # The reason page the action asks first: its title, label and help.
    sub = SubscriptionFactory(status="active")
    page = text(
        client.post(
            reverse("admin:subscriptions_subscription_changelist"),
            {
                "action": "cancel_now",
                ACTION_CHECKBOX_NAME: [sub.pk],
            },
        )
    )
    assert "Batalkan sekarang untuk:" in page
    assert "Alasan" in page
    assert "Dicatat bersama perubahan ini." in page

    # A refusal: the state machine's message, with the states in Indonesian.
    cancelled = SubscriptionFactory(status="cancelled")
    response = post_action(client, "subscription", "pause_now", [cancelled.pk])
    assert any(
        'Langganan berstatus "dibatalkan" tidak dapat diubah menjadi "dijeda".' in message
        for message in messages_of(response)
    )


def test_the_same_screens_stay_english_for_an_english_browser(invoice):
    client = signed_in("en")
    page = text(client.get(reverse(CHANGELIST)))
    assert "Due date" in page
    assert "Void selected invoices (with a reason)" in page
    assert "Open" in page
    response = post_action(
        client, "invoice", "void_invoices", [invoice.pk], apply="1", reason="Duplicate"
    )
    assert "1 invoice voided." in messages_of(response)
    page = text(client.get(reverse("admin:subscriptions_invoice_change", args=[invoice.pk])))
    assert "Timeline" in page
    assert f"Issued as {invoice.number}" in page
