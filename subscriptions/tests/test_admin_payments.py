"""Payment and webhook-log admin: read-only pages, and actions that go through the
services (and the sandbox gateway, whose notifications a local server records)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from subscriptions import services
from subscriptions.models import Payment, WebhookLog
from subscriptions.tests.factories import PlanFactory

from .midtrans_samples import notification

CHANGELIST = reverse("admin:subscriptions_payment_changelist")
LOGS = reverse("admin:subscriptions_webhooklog_changelist")


@pytest.fixture
def sandbox(settings, httpserver):
    settings.MIDTRANS_SERVER_KEY = ""
    settings.SUBSCRIPTIONS_GATEWAY = ""
    settings.SUBSCRIPTIONS_SANDBOX_ALLOWED = True
    settings.MIDTRANS_NOTIFICATION_URL = httpserver.url_for("/notify")
    httpserver.expect_request("/notify", method="POST").respond_with_json({})
    return settings


@pytest.fixture
def payment(alice, sandbox) -> Payment:
    invoice = services.subscription_create(
        user=alice, plan=PlanFactory(price=Decimal("150000"))
    ).invoices.get()
    return services.checkout_start(invoice=invoice, user=alice)


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


def act(client, url, action, objects, **data):
    return client.post(
        url,
        {"action": action, "_selected_action": [obj.pk for obj in objects], **data},
        follow=True,
    )


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.mark.django_db
def test_payment_pages_list_filter_search_and_show_the_raw_answer(admin_client, payment):
    assert admin_client.get(CHANGELIST).status_code == 200
    assert (
        payment.order_id in admin_client.get(CHANGELIST, {"q": payment.order_id}).content.decode()
    )
    assert (
        admin_client.get(CHANGELIST, {"status__exact": "pending", "gateway": "sandbox"}).status_code
        == 200
    )
    page = admin_client.get(reverse("admin:subscriptions_payment_change", args=[payment.pk]))
    assert page.status_code == 200
    assert payment.snap_token in page.content.decode()
    assert 'name="status"' not in page.content.decode()  # nothing editable


@pytest.mark.django_db
def test_staff_only(client, alice, payment):
    client.force_login(alice)
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_check_status_with_the_gateway(admin_client, payment):
    response = act(admin_client, CHANGELIST, "check_status", [payment])
    assert "1 payment checked with the gateway." in messages_of(response)


@pytest.mark.django_db
def test_approve_and_deny_challenge_actions(admin_client, payment, bob):
    services.payment_apply_status(
        payment=payment, transaction_status="capture", fraud_status="challenge"
    )
    response = act(admin_client, CHANGELIST, "approve_challenge", [payment])
    assert "1 challenged payment approved." in messages_of(response)
    payment.refresh_from_db()
    assert payment.is_paid

    # Denying a payment that is not challenged is refused with the service's message.
    response = act(admin_client, CHANGELIST, "deny_challenge", [payment])
    assert any("not a card payment held" in m for m in messages_of(response))


@pytest.mark.django_db
def test_refund_asks_for_a_reason_then_refunds_through_the_gateway(admin_client, payment):
    services.payment_apply_status(payment=payment, transaction_status="settlement")

    form = act(admin_client, CHANGELIST, "refund", [payment])
    assert b"Refund payments" in form.content
    missing_reason = act(admin_client, CHANGELIST, "refund", [payment], apply="1", amount="50000")
    assert b"This field is required" in missing_reason.content
    payment.refresh_from_db()
    assert payment.refunded_amount == 0

    done = act(
        admin_client, CHANGELIST, "refund", [payment], apply="1", amount="50000", reason="Goodwill"
    )
    assert "1 payment refunded." in messages_of(done)
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == ("partial_refund", Decimal("50000"))
    (entry,) = LogEntry.objects.filter(object_id=str(payment.pk))
    assert "reason: Goodwill" in entry.get_change_message()

    act(admin_client, CHANGELIST, "refund", [payment], apply="1", reason="The rest")
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == ("refund", Decimal("150000"))


@pytest.mark.django_db
def test_webhook_logs_show_the_raw_payload_and_can_be_reprocessed(
    admin_client, payment, client, settings
):
    body = notification(
        "gopay", order_id=payment.order_id, gross_amount="150000.00", server_key="wrong-key"
    )
    client.post("/webhooks/midtrans/", data=json.dumps(body), content_type="application/json")
    log = WebhookLog.objects.get()
    assert log.status == "invalid"

    page = admin_client.get(reverse("admin:subscriptions_webhooklog_change", args=[log.pk]))
    assert page.status_code == 200
    assert payment.order_id in page.content.decode()
    assert (
        admin_client.get(LOGS, {"status__exact": "invalid", "q": payment.order_id}).status_code
        == 200
    )

    # Still invalid when replayed with the same key; reported, nothing changes.
    response = act(admin_client, LOGS, "reprocess", [log])
    assert any(m == "Outcomes: 1 invalid." for m in messages_of(response))
    payment.refresh_from_db()
    assert not payment.is_paid


@pytest.mark.django_db
def test_a_processed_log_is_not_reprocessed(admin_client, payment):
    body = notification("gopay", order_id=payment.order_id, gross_amount="150000.00")
    log = WebhookLog.objects.create(body=json.dumps(body), status="processed")
    response = act(admin_client, LOGS, "reprocess", [log])
    assert any("already applied" in m for m in messages_of(response))
