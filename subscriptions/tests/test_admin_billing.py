from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils.formats import date_format

from conftest import local
from subscriptions import services, signals
from subscriptions.models import Invoice, Plan, Subscription
from subscriptions.tests.factories import PlanFactory, SubscriptionFactory, UserFactory

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
    post_action(staff_client, "subscription", "pause_now", [sub.pk])
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


def test_marking_paid_offline_needs_a_reference_and_pays_through_the_usual_path(
    staff_client, open_invoice
):
    activated = []
    signals.subscription_activated.connect(
        lambda sender, instance, **kw: activated.append(instance.pk), weak=False, dispatch_uid="t2"
    )
    try:
        post_action(
            staff_client,
            "invoice",
            "mark_paid_offline",
            [open_invoice.pk],
            apply="1",
            reference="",
            reason="x",
        )
        open_invoice.refresh_from_db()
        assert open_invoice.status == "open"
        post_action(
            staff_client,
            "invoice",
            "mark_paid_offline",
            [open_invoice.pk],
            apply="1",
            reference="BCA-778812",
            reason="Paid by transfer",
        )
    finally:
        signals.subscription_activated.disconnect(dispatch_uid="t2")
    open_invoice.refresh_from_db()
    assert open_invoice.status == "paid"
    payment = open_invoice.payments.get()
    assert (payment.gateway, payment.transaction_id, payment.is_paid) == (
        "offline",
        "BCA-778812",
        True,
    )
    assert activated == [open_invoice.subscription_id]


def test_every_admin_action_is_recorded_with_who_and_why_and_shown_on_the_timeline(
    staff_client, staff, open_invoice
):
    from django.contrib.admin.models import LogEntry

    post_action(
        staff_client, "invoice", "void_invoices", [open_invoice.pk], apply="1", reason="Sent twice"
    )
    entry = LogEntry.objects.get(object_id=str(open_invoice.pk))
    assert entry.user == staff
    assert "Sent twice" in entry.get_change_message()
    response = staff_client.get(
        reverse("admin:subscriptions_invoice_change", args=[open_invoice.pk])
    )
    titles = [item.title for item in response.context["timeline"]]
    assert titles[0] == "Created"
    assert f"Issued as {open_invoice.number}" in titles
    assert "Voided" in titles
    assert any("Sent twice" in title for title in titles)
    assert b"Timeline" in response.content


def test_the_timeline_shows_payments_and_their_gateway_notifications(staff_client, open_invoice):
    from subscriptions.models import WebhookLog

    payment = services.payment_create(
        user=open_invoice.user, amount=open_invoice.total, invoice=open_invoice
    )
    WebhookLog.objects.create(
        order_id=payment.order_id,
        transaction_status="settlement",
        payment=payment,
        status="processed",
    )
    services.payment_apply_status(payment=payment, transaction_status="settlement")
    response = staff_client.get(
        reverse("admin:subscriptions_invoice_change", args=[open_invoice.pk])
    )
    kinds = [item.kind for item in response.context["timeline"]]
    assert kinds.count("payment") == 2  # started and settled
    assert "webhook" in kinds
    assert [item.at for item in response.context["timeline"]] == sorted(
        item.at for item in response.context["timeline"]
    )


@pytest.mark.clock_sensitive
def test_the_timeline_gives_the_due_date_in_the_portals_time_zone(staff_client, open_invoice):
    response = staff_client.get(
        reverse("admin:subscriptions_invoice_change", args=[open_invoice.pk])
    )

    [issued] = [e for e in response.context["timeline"] if e.title.startswith("Issued as")]
    # Jakarta's day: a day after UTC's from 17:00 to 24:00 UTC.
    # In the active language's DATE_FORMAT ("8 Dec 2026").
    assert issued.detail == f"due {date_format(local(open_invoice.due_date), 'DATE_FORMAT')}"


def test_the_invoice_list_shows_totals_per_status_for_the_filtered_rows(staff_client, alice, bob):
    for user in (alice, bob):
        services.subscription_create(user=user, plan=PlanFactory(price=Decimal("100000")))
    invoice = Invoice.objects.filter(user=bob).get()
    services.invoice_void(invoice=invoice, reason="test")
    response = staff_client.get(reverse("admin:subscriptions_invoice_changelist"))
    totals = {
        row["status"]: (row["count"], row["amount"]) for row in response.context["status_totals"]
    }
    assert totals == {"open": (1, Decimal("100000")), "void": (1, Decimal("100000"))}
    response = staff_client.get(
        reverse("admin:subscriptions_invoice_changelist"), {"status__exact": "open"}
    )
    assert [row["status"] for row in response.context["status_totals"]] == ["open"]


def test_the_overdue_queue_lists_only_unpaid_invoices_past_due_oldest_first(
    staff_client, alice, bob
):
    import datetime as dt

    from django.utils import timezone

    late = services.subscription_create(user=alice, plan=PlanFactory()).invoices.get()
    later = services.subscription_create(user=bob, plan=PlanFactory()).invoices.get()
    Invoice.objects.filter(pk=late.pk).update(due_date=timezone.now() - dt.timedelta(days=9))
    Invoice.objects.filter(pk=later.pk).update(due_date=timezone.now() - dt.timedelta(days=2))
    current = services.subscription_create(user=UserFactory(), plan=PlanFactory()).invoices.get()
    response = staff_client.get(reverse("admin:subscriptions_overdueinvoice_changelist"))
    listed = [invoice.pk for invoice in response.context["cl"].result_list]
    assert listed == [late.pk, later.pk]
    assert current.pk not in listed
    response = staff_client.get(
        reverse("admin:subscriptions_invoice_changelist"), {"overdue": "yes"}
    )
    assert {invoice.pk for invoice in response.context["cl"].result_list} == {late.pk, later.pk}


def test_retry_collection_reports_when_nothing_could_pay(staff_client, open_invoice):
    post_action(staff_client, "invoice", "retry_collection", [open_invoice.pk])
    response = staff_client.get(reverse("admin:subscriptions_invoice_changelist"))
    messages = [str(m) for m in response.context["messages"]]
    assert any("no automatic payment method could pay it" in m for m in messages)
    open_invoice.refresh_from_db()
    assert open_invoice.status == "open"
