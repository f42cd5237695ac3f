import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from subscriptions import services, signals
from subscriptions.collectors import register_collector, unregister_collector
from subscriptions.models import BillingEvent, Invoice, Payment
from subscriptions.services.billing_run import run_billing
from subscriptions.tests.factories import PlanFactory, SubscriptionFactory

JKT = zoneinfo.ZoneInfo("Asia/Jakarta")
pytestmark = pytest.mark.django_db


def at(year, month, day, hour=9):
    return dt.datetime(year, month, day, hour, tzinfo=JKT)


@pytest.fixture
def plan():
    return PlanFactory(name="Pro", price=Decimal("150000"))


@pytest.fixture
def events():
    seen = []
    names = [
        "subscription_renewed",
        "subscription_cancelled",
        "subscription_expired",
        "subscription_resumed",
        "subscription_renewal_upcoming",
        "subscription_trial_will_end",
        "invoice_created",
        "invoice_overdue",
        "invoice_payment_reminder",
        "invoice_voided",
    ]
    receivers = []
    for name in names:

        def receiver(sender, instance, _name=name, **kwargs):
            seen.append((_name, instance.pk, kwargs.get("reminder_number")))

        getattr(signals, name).connect(receiver)
        receivers.append((name, receiver))
    yield seen
    for name, receiver in receivers:
        getattr(signals, name).disconnect(receiver)


def active(plan, start, end, **kwargs):
    return SubscriptionFactory(
        plan=plan,
        current_period_start=start,
        current_period_end=end,
        billing_anchor=start,
        **kwargs,
    )


def names(events):
    return [name for name, *_ in events]


def test_a_renewal_is_invoiced_at_the_period_end_once_however_often_the_run_goes(plan, events):
    sub = active(plan, at(2026, 1, 31), at(2026, 2, 28))
    assert run_billing(now=at(2026, 2, 27)).counts["renewal_invoiced"] == 0
    first = run_billing(now=at(2026, 2, 28, 10))
    second = run_billing(now=at(2026, 2, 28, 11))
    assert first.counts["renewal_invoiced"] == 1
    assert second.counts["renewal_invoiced"] == 0
    invoice = Invoice.objects.get(subscription=sub)
    assert invoice.reason == "renewal"
    assert (invoice.period_start, invoice.period_end) == (at(2026, 2, 28), at(2026, 3, 31))
    assert invoice.total == Decimal("150000")
    assert names(events).count("invoice_created") == 1


def test_paying_the_renewal_invoice_moves_the_subscription_into_the_next_period(plan, events):
    sub = active(plan, at(2026, 1, 31), at(2026, 2, 28))
    run_billing(now=at(2026, 2, 28, 10))
    invoice = Invoice.objects.get(subscription=sub)
    services.invoice_mark_paid_offline(invoice=invoice, reference="BANK-1", now=at(2026, 3, 1))
    sub.refresh_from_db()
    assert (sub.current_period_start, sub.current_period_end) == (at(2026, 2, 28), at(2026, 3, 31))
    assert names(events).count("subscription_renewed") == 1
    # Nothing more is due until the next period end.
    assert run_billing(now=at(2026, 3, 30)).counts["renewal_invoiced"] == 0


def test_an_unpaid_renewal_goes_overdue_then_past_due_then_expires_after_the_grace(plan, events):
    sub = active(plan, at(2026, 1, 1), at(2026, 2, 1))
    run_billing(now=at(2026, 2, 1))
    invoice = Invoice.objects.get(subscription=sub)
    assert invoice.due_date == at(2026, 2, 8)

    run_billing(now=at(2026, 2, 7))
    sub.refresh_from_db()
    assert sub.status == "active"

    run_billing(now=at(2026, 2, 8, 10))
    sub.refresh_from_db()
    invoice.refresh_from_db()
    assert invoice.status == "overdue"
    assert sub.status == "past_due"
    assert sub.past_due_at == at(2026, 2, 8, 10)

    run_billing(
        now=at(
            2026,
            2,
            22,
            9,
        )
    )  # 13 days 23 hours later: still in grace
    sub.refresh_from_db()
    assert sub.status == "past_due"
    run_billing(now=at(2026, 2, 22, 10))  # exactly 14 days
    sub.refresh_from_db()
    invoice.refresh_from_db()
    assert sub.status == "expired"
    assert invoice.status == "void"
    assert names(events).count("subscription_expired") == 1
    assert names(events).count("invoice_overdue") == 1


def test_dunning_reminders_follow_the_schedule_once_each(plan, events):
    sub = active(plan, at(2026, 1, 1), at(2026, 2, 1))
    run_billing(now=at(2026, 2, 1))
    due = Invoice.objects.get(subscription=sub).due_date
    for day in range(12):
        for hour in (0, 12):
            run_billing(now=due + dt.timedelta(days=day, hours=hour))
    reminders = [number for name, _, number in events if name == "invoice_payment_reminder"]
    assert reminders == [1, 2, 3]


def test_a_run_that_was_down_for_days_sends_only_the_latest_dunning_step(plan, events):
    sub = active(plan, at(2026, 1, 1), at(2026, 2, 1))
    run_billing(now=at(2026, 2, 1))
    due = Invoice.objects.get(subscription=sub).due_date
    run_billing(now=due)
    run_billing(now=due + dt.timedelta(days=8))
    reminders = [number for name, _, number in events if name == "invoice_payment_reminder"]
    assert reminders == [3]


def test_a_scheduled_cancellation_ends_the_subscription_at_the_period_end_without_renewal(
    plan, events
):
    sub = active(plan, at(2026, 1, 1), at(2026, 2, 1))
    services.subscription_cancel(subscription=sub, at_period_end=True, reason="Too pricey")
    run_billing(now=at(2026, 1, 31))
    sub.refresh_from_db()
    assert sub.status == "active"
    report = run_billing(now=at(2026, 2, 1))
    sub.refresh_from_db()
    assert report.counts["cancelled_at_period_end"] == 1
    assert sub.status == "cancelled"
    assert sub.cancellation_reason == "Too pricey"
    assert not Invoice.objects.filter(subscription=sub).exists()
    assert "subscription_renewal_upcoming" not in names(events)


def test_a_paused_subscription_resumes_on_its_date_and_is_never_billed_while_paused(plan, events):
    sub = active(plan, at(2026, 1, 1), at(2026, 2, 1))
    services.subscription_pause(subscription=sub, resume_at=at(2026, 3, 10), now=at(2026, 1, 21))
    for day in (1, 15, 28):
        run_billing(now=at(2026, 2, day))
    assert not Invoice.objects.filter(subscription=sub).exists()
    run_billing(now=at(2026, 3, 10))
    sub.refresh_from_db()
    assert sub.status == "active"
    # 11 days of the period were left when it was paused.
    assert sub.current_period_end == at(2026, 3, 21)
    assert names(events).count("subscription_resumed") == 1


def test_a_trial_end_is_invoiced_and_an_unpaid_trial_becomes_past_due(events):
    plan = PlanFactory(price=Decimal("99000"), trial_period_days=14)
    from subscriptions.tests.factories import UserFactory

    sub = services.subscription_create(user=UserFactory(), plan=plan, now=at(2026, 1, 1))
    assert sub.status == "trialing"
    run_billing(now=at(2026, 1, 12))
    assert [n for n in names(events) if n == "subscription_trial_will_end"] == [
        "subscription_trial_will_end"
    ]
    report = run_billing(now=at(2026, 1, 15, 10))
    sub.refresh_from_db()
    invoice = Invoice.objects.get(subscription=sub)
    assert report.counts["trials_unpaid"] == 1
    assert invoice.reason == "trial_end"
    assert sub.status == "past_due"
    services.invoice_mark_paid_offline(invoice=invoice, reference="BANK-1", now=at(2026, 1, 16))
    sub.refresh_from_db()
    assert sub.status == "active"
    assert (sub.current_period_start, sub.current_period_end) == (
        invoice.period_start,
        invoice.period_end,
    )


def test_renewal_reminders_go_out_once_per_period(plan, events):
    active(plan, at(2026, 1, 1), at(2026, 2, 1))
    for day in (27, 29, 30, 31):
        run_billing(now=at(2026, 1, day))
    assert names(events).count("subscription_renewal_upcoming") == 1
    assert BillingEvent.objects.filter(kind="renewal_reminder").count() == 1


def test_an_unpaid_sign_up_expires_after_a_week(plan):
    from subscriptions.tests.factories import UserFactory

    sub = services.subscription_create(user=UserFactory(), plan=plan, now=at(2026, 1, 1))
    run_billing(now=at(2026, 1, 7))
    sub.refresh_from_db()
    assert sub.status == "pending"
    run_billing(now=at(2026, 1, 8, 10))
    sub.refresh_from_db()
    assert sub.status == "expired"
    assert sub.invoices.get().status == "void"


def test_a_reactivated_subscription_gets_a_fresh_week_to_pay(plan):
    sub = SubscriptionFactory(plan=plan, status="cancelled", created_at=at(2025, 1, 1))
    services.subscription_reactivate(subscription=sub, now=at(2026, 3, 1))
    run_billing(now=at(2026, 3, 5))
    sub.refresh_from_db()
    assert sub.status == "pending"
    run_billing(now=at(2026, 3, 8, 10))
    sub.refresh_from_db()
    assert sub.status == "expired"


def test_a_failing_row_is_reported_and_does_not_stop_the_run_or_leave_half_a_change(plan):
    broken = active(plan, at(2026, 1, 1), at(2026, 2, 1))
    healthy = active(PlanFactory(price=Decimal("1000")), at(2026, 1, 1), at(2026, 2, 1))

    def explode(invoice):
        if invoice.subscription_id == broken.pk:
            raise RuntimeError("card network down")
        return None

    register_collector("explode", explode)
    try:
        report = run_billing(now=at(2026, 2, 1))
    finally:
        unregister_collector("explode")
    assert not report.ok
    assert report.failures == [("renewals", f"Subscription #{broken.pk}", "card network down")]
    assert report.counts["renewal_invoiced"] == 1
    assert Invoice.objects.filter(subscription=healthy).exists()
    # A renewal is two transactions: the invoice was issued (the first one committed);
    # its collection failed and rolled back whole, nothing was paid or recorded.
    invoice = Invoice.objects.get(subscription=broken)
    assert invoice.status == "open"
    assert not invoice.payments.exists()
    assert not BillingEvent.objects.filter(invoice=invoice, kind="renewal_collection_declined")
    # The next run finishes the job: it collects that invoice once, issues no other.
    report = run_billing(now=at(2026, 2, 1, 10))
    assert report.ok, report.summary()
    assert report.counts["recovered_renewal_invoiced"] == 1
    assert report.counts["renewal_invoiced"] == 0
    assert Invoice.objects.filter(subscription=broken).count() == 1
    assert not run_billing(now=at(2026, 2, 1, 11)).counts


def test_the_command_prints_a_summary_and_fails_when_a_row_failed(plan, capsys):
    active(plan, at(2026, 1, 1), at(2026, 2, 1))
    call_command("run_billing", now="2026-02-01T10:00:00+07:00")
    out = capsys.readouterr().out
    assert "renewal_invoiced: 1" in out
    assert "failures: 0" in out

    active(plan, at(2026, 1, 1), at(2026, 2, 1))
    register_collector("explode", lambda invoice: 1 / 0)
    try:
        with pytest.raises(CommandError, match="1 item"):
            call_command("run_billing", now="2026-02-01T11:00:00+07:00")
    finally:
        unregister_collector("explode")
    assert "division by zero" in capsys.readouterr().out


def test_the_command_refuses_a_malformed_date():
    with pytest.raises(CommandError, match="ISO"):
        call_command("run_billing", now="next tuesday")


@pytest.fixture
def midtrans_api(settings, httpserver):
    from subscriptions.tests.midtrans_samples import SERVER_KEY

    settings.MIDTRANS_SERVER_KEY = SERVER_KEY
    settings.SUBSCRIPTIONS_GATEWAY = "midtrans"
    settings.MIDTRANS_API_BASE_URL = httpserver.url_for("").rstrip("/")
    settings.MIDTRANS_SNAP_BASE_URL = httpserver.url_for("").rstrip("/")
    settings.MIDTRANS_NOTIFICATION_URL = ""
    settings.SUBSCRIPTIONS_GATEWAY_RETRY_BACKOFF = 0
    return httpserver


def stale_attempt(plan):
    from subscriptions.tests.factories import UserFactory

    user = UserFactory()
    invoice = services.subscription_create(user=user, plan=plan, now=at(2026, 1, 1)).invoices.get()
    payment = services.payment_create(
        user=user, amount=invoice.total, invoice=invoice, gateway="midtrans"
    )
    Payment.objects.filter(pk=payment.pk).update(created_at=at(2026, 1, 1))
    return payment


def test_a_stale_pending_payment_is_expired_at_the_gateway(plan, midtrans_api):
    from subscriptions.tests.midtrans_samples import notification

    payment = stale_attempt(plan)
    answer = notification(
        "bank_transfer",
        order_id=payment.order_id,
        gross_amount="150000.00",
        transaction_status="expire",
        fraud_status=None,
    )
    midtrans_api.expect_oneshot_request(
        f"/v2/{payment.order_id}/expire", method="POST"
    ).respond_with_json(answer)
    assert run_billing(now=at(2026, 1, 1, 20)).counts["stale_payments_expired"] == 0
    report = run_billing(now=at(2026, 1, 2, 10))
    payment.refresh_from_db()
    assert report.counts["stale_payments_expired"] == 1
    assert payment.status == "expire"
    assert payment.invoice.status == "open"  # a new attempt can still pay it


def test_a_stale_attempt_that_was_paid_meanwhile_is_settled_not_expired(plan, midtrans_api):
    from subscriptions.tests.midtrans_samples import notification

    payment = stale_attempt(plan)
    midtrans_api.expect_oneshot_request(
        f"/v2/{payment.order_id}/expire", method="POST"
    ).respond_with_json(
        {
            "status_code": "412",
            "status_message": "Merchant cannot modify the status of the transaction",
        }
    )
    midtrans_api.expect_oneshot_request(
        f"/v2/{payment.order_id}/status", method="GET"
    ).respond_with_json(
        notification(
            "gopay", order_id=payment.order_id, gross_amount="150000.00", fraud_status=None
        )
    )
    report = run_billing(now=at(2026, 1, 2, 10))
    payment.refresh_from_db()
    assert report.ok, report.summary()
    assert report.counts["stale_payments_updated"] == 1
    assert (payment.status, payment.is_paid) == ("settlement", True)
    assert payment.invoice.status == "paid"
    assert payment.subscription.status == "active"


def test_the_billing_run_also_runs_as_a_background_task(plan):
    from subscriptions.tasks import run_billing_task

    active(plan, at(2026, 1, 1), at(2026, 2, 1))
    result = run_billing_task.enqueue(now=at(2026, 2, 1, 10).isoformat())
    assert result.return_value["ok"] is True
    assert result.return_value["counts"]["renewal_invoiced"] == 1
    assert Invoice.objects.filter(reason="renewal").count() == 1


def test_the_command_can_enqueue_the_run_instead(plan, capsys):
    active(plan, at(2026, 1, 1), at(2026, 2, 1))
    call_command("run_billing", "--enqueue", now="2026-02-01T10:00:00+07:00")
    assert "enqueued as task" in capsys.readouterr().out
    assert Invoice.objects.filter(reason="renewal").count() == 1  # immediate backend in tests


def test_an_unpaid_upgrade_is_never_dunned_and_is_voided_after_a_day(plan, events):
    sub = active(plan, at(2026, 1, 1), at(2026, 2, 1))
    bigger = PlanFactory(price=Decimal("450000"))
    result = services.subscription_change_plan(
        subscription=sub, new_plan=bigger, now=at(2026, 1, 10)
    )
    invoice = result.invoice
    run_billing(now=at(2026, 1, 10, 20))
    invoice.refresh_from_db()
    assert invoice.status == "open"  # still payable the same day
    report = run_billing(now=at(2026, 1, 11, 10))
    invoice.refresh_from_db()
    sub.refresh_from_db()
    assert report.counts["abandoned_upgrades_voided"] == 1
    assert invoice.status == "void"
    assert sub.plan == plan
    assert sub.status == "active"
    run_billing(now=at(2026, 1, 25))
    assert "invoice_overdue" not in names(events)
    assert "invoice_payment_reminder" not in names(events)


def test_an_upgrade_with_a_payment_still_pending_is_not_voided(plan):
    sub = active(plan, at(2026, 1, 1), at(2026, 2, 1))
    invoice = services.subscription_change_plan(
        subscription=sub, new_plan=PlanFactory(price=Decimal("450000")), now=at(2026, 1, 10)
    ).invoice
    services.payment_create(user=sub.user, amount=invoice.total, invoice=invoice)
    run_billing(now=at(2026, 1, 11, 10))
    invoice.refresh_from_db()
    assert invoice.status == "open"
