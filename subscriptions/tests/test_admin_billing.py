from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from subscriptions import services, signals
from subscriptions.models import Invoice, Plan, Subscription
from subscriptions.tests.factories import PlanFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def open_invoice(alice):
    plan = PlanFactory(price=Decimal("150000"))
    sub = services.subscription_create(user=alice, plan=plan)
    return sub.invoices.get()


def post_action(client, model, action, pks, **extra):
    url = reverse(f"admin:subscriptions_{model}_changelist")
    return client.post(url, {"action": action, ACTION_CHECKBOX_NAME: pks, **extra})


@pytest.mark.parametrize("model", ["plan", "subscription", "invoice"])
def test_every_billing_changelist_and_change_page_renders_for_staff(
    staff_client, open_invoice, model
):
    response = staff_client.get(reverse(f"admin:subscriptions_{model}_changelist"))
    assert response.status_code == 200
    obj = {"plan": Plan, "subscription": Subscription, "invoice": Invoice}[model].objects.first()
    response = staff_client.get(reverse(f"admin:subscriptions_{model}_change", args=[obj.pk]))
    assert response.status_code == 200


def test_a_user_who_is_not_staff_cannot_reach_the_admin(client, alice, open_invoice):
    client.force_login(alice)
    response = client.get(reverse("admin:subscriptions_invoice_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_pausing_from_the_admin_goes_through_the_service_and_sends_the_signal(staff_client):
    sub = SubscriptionFactory(status="active")
    paused = []
    signals.subscription_paused.connect(
        lambda sender, instance, **kw: paused.append(instance.pk), weak=False, dispatch_uid="t"
    )
    try:
        response = post_action(staff_client, "subscription", "pause_now", [sub.pk])
    finally:
        signals.subscription_paused.disconnect(dispatch_uid="t")
    assert response.status_code == 302
    sub.refresh_from_db()
    assert sub.status == "paused"
    assert sub.paused_at is not None
    assert paused == [sub.pk]


def test_an_illegal_admin_action_is_reported_and_changes_nothing(staff_client):
    sub = SubscriptionFactory(status="cancelled")
    response = post_action(staff_client, "subscription", "pause_now", [sub.pk], follow=True)
    response = staff_client.get(reverse("admin:subscriptions_subscription_changelist"))
    sub.refresh_from_db()
    assert sub.status == "cancelled"
    messages = [str(m) for m in response.context["messages"]]
    assert any("cannot become paused" in m for m in messages)


def test_cancelling_now_asks_for_a_reason_first(staff_client):
    sub = SubscriptionFactory(status="active")
    response = post_action(staff_client, "subscription", "cancel_now", [sub.pk])
    assert response.status_code == 200
    assert b"reason" in response.content
    sub.refresh_from_db()
    assert sub.status == "active"
    response = post_action(
        staff_client, "subscription", "cancel_now", [sub.pk], apply="1", reason=""
    )
    assert response.status_code == 200  # the form again, with its error
    assert b"This field is required" in response.content
    sub.refresh_from_db()
    assert sub.status == "active"
    response = post_action(
        staff_client,
        "subscription",
        "cancel_now",
        [sub.pk],
        apply="1",
        reason="Customer asked by phone",
    )
    assert response.status_code == 302
    sub.refresh_from_db()
    assert sub.status == "cancelled"
    assert sub.cancellation_reason == "Customer asked by phone"


def test_voiding_an_invoice_needs_a_reason_and_records_it(staff_client, open_invoice):
    post_action(staff_client, "invoice", "void_invoices", [open_invoice.pk], apply="1", reason=" ")
    open_invoice.refresh_from_db()
    assert open_invoice.status == "open"
    post_action(
        staff_client,
        "invoice",
        "void_invoices",
        [open_invoice.pk],
        apply="1",
        reason="Duplicate order",
    )
    open_invoice.refresh_from_db()
    assert open_invoice.status == "void"
    assert open_invoice.void_reason == "Duplicate order"


def test_invoices_and_subscriptions_cannot_be_added_or_deleted_by_hand(staff_client, open_invoice):
    assert staff_client.get(reverse("admin:subscriptions_invoice_add")).status_code == 403
    assert staff_client.get(reverse("admin:subscriptions_subscription_add")).status_code == 403
    url = reverse("admin:subscriptions_invoice_delete", args=[open_invoice.pk])
    assert staff_client.post(url, {"post": "yes"}).status_code == 403
    assert Invoice.objects.filter(pk=open_invoice.pk).exists()


def test_the_status_of_a_subscription_is_read_only_in_the_change_form(staff_client):
    sub = SubscriptionFactory(status="active")
    url = reverse("admin:subscriptions_subscription_change", args=[sub.pk])
    staff_client.post(url, {"status": "expired", "payment_type": "x"})
    sub.refresh_from_db()
    assert sub.status == "active"
