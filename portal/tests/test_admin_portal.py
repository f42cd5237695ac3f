from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core import mail
from django.urls import reverse

from subscriptions import services
from subscriptions.tests.factories import PlanFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def invoice(alice):
    return services.subscription_create(
        user=alice, plan=PlanFactory(price=Decimal("150000"))
    ).invoices.get()


def test_staff_can_resend_an_open_invoice_email_and_it_shows_on_the_timeline(
    staff_client, invoice, django_capture_on_commit_callbacks
):
    url = reverse("admin:subscriptions_invoice_changelist")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(
            url, {"action": "resend_invoice_email", ACTION_CHECKBOX_NAME: [invoice.pk]}
        )
    assert len(mail.outbox) == 1
    assert invoice.number in mail.outbox[0].subject
    assert mail.outbox[0].to == [invoice.user.email]
    response = staff_client.get(reverse("admin:subscriptions_invoice_change", args=[invoice.pk]))
    assert any(entry.kind == "email" for entry in response.context["timeline"])


def test_a_paid_invoice_email_is_not_resent(staff_client, invoice):
    services.invoice_mark_paid_offline(invoice=invoice, reference="BANK-1")
    mail.outbox.clear()
    staff_client.post(
        reverse("admin:subscriptions_invoice_changelist"),
        {"action": "resend_invoice_email", ACTION_CHECKBOX_NAME: [invoice.pk]},
    )
    response = staff_client.get(reverse("admin:subscriptions_invoice_changelist"))
    assert any("it is paid" in str(m) for m in response.context["messages"])


@pytest.mark.parametrize("model", ["notification", "sentemail"])
def test_banners_and_sent_emails_are_listed_read_only(staff_client, invoice, model):
    response = staff_client.get(reverse(f"admin:portal_{model}_changelist"))
    assert response.status_code == 200
    assert staff_client.get(reverse(f"admin:portal_{model}_add")).status_code == 403
