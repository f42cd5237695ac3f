"""Rules of the subscription and payment services that the signal contract leans on.

Pause and resume keep the unused part of a period, a cancellation at the period end
can be taken back, cancelling now voids what is still owed, a user has one live
subscription and one trial, a free plan is active at once, and a settled payment
stays settled whatever arrives late.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from subscriptions.exceptions import (
    BillingError,
    InvalidTransition,
    PlanUnavailable,
    SubscriptionExists,
)
from subscriptions.models import Invoice, Payment, Subscription
from subscriptions.services import (
    invoice_pay,
    payment_apply_status,
    payment_create,
    subscription_cancel,
    subscription_change_plan,
    subscription_create,
    subscription_expire,
    subscription_pause,
    subscription_reactivate,
    subscription_resume,
    subscription_undo_cancel,
)
from subscriptions.tests.factories import InvoiceFactory, PlanFactory, SubscriptionFactory
from subscriptions.tests.signal_recorder import record_signals

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)


def row(instance) -> dict:
    fresh = type(instance).objects.get(pk=instance.pk)
    return {f.attname: getattr(fresh, f.attname) for f in fresh._meta.concrete_fields}


def active_subscription(**fields) -> Subscription:
    defaults = {
        "current_period_start": T0 - dt.timedelta(days=10),
        "current_period_end": T0 + dt.timedelta(days=20),
        "billing_anchor": T0 - dt.timedelta(days=10),
    }
    return SubscriptionFactory(status="active", **{**defaults, **fields})


# --- Pause and resume ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "resume_at",
    [T0 - dt.timedelta(days=1), T0 - dt.timedelta(seconds=1), T0],
    ids=["yesterday", "a-second-ago", "now"],
)
def test_pausing_with_a_resume_date_that_is_not_in_the_future_is_refused(resume_at):
    subscription = active_subscription()
    before = row(subscription)

    with record_signals() as sent, pytest.raises(BillingError):
        subscription_pause(subscription=subscription, resume_at=resume_at, now=T0)

    assert row(subscription) == before
    assert sent.names() == []


def test_pausing_with_a_future_resume_date_records_when_and_until_when():
    subscription = active_subscription()
    resume_at = T0 + dt.timedelta(days=7)

    paused = subscription_pause(subscription=subscription, resume_at=resume_at, now=T0)

    stored = Subscription.objects.get(pk=subscription.pk)
    assert paused.status == stored.status == "paused"
    assert stored.paused_at == T0
    assert stored.resume_at == resume_at
    assert stored.has_access is False


@pytest.mark.parametrize("paused_days", [0, 5, 45])
def test_resuming_moves_the_period_end_by_the_time_spent_paused(paused_days):
    subscription = active_subscription()
    unused = subscription.current_period_end - T0  # 20 days left when paused
    subscription_pause(subscription=subscription, now=T0)
    resumed_at = T0 + dt.timedelta(days=paused_days, hours=3)

    resumed = subscription_resume(subscription=subscription, now=resumed_at)

    stored = Subscription.objects.get(pk=subscription.pk)
    assert stored.status == "active"
    assert stored.current_period_end == resumed_at + unused
    assert stored.current_period_end == resumed.current_period_end
    assert stored.current_period_end - subscription.current_period_end == resumed_at - T0
    assert stored.paused_at is None
    assert stored.resume_at is None


def test_resuming_also_moves_a_scheduled_downgrade_to_the_new_period_end():
    subscription = active_subscription()
    cheaper = PlanFactory(price=Decimal("50000"))
    subscription_change_plan(subscription=subscription, new_plan=cheaper, now=T0)
    subscription_pause(subscription=subscription, now=T0)

    resumed = subscription_resume(subscription=subscription, now=T0 + dt.timedelta(days=4))

    assert resumed.scheduled_plan_id == cheaper.pk
    assert resumed.scheduled_change_at == resumed.current_period_end
    assert resumed.current_period_end == subscription.current_period_end + dt.timedelta(days=4)


# --- Cancellation ---------------------------------------------------------------------------


def test_a_cancellation_at_the_period_end_keeps_access_and_can_be_undone():
    subscription = active_subscription()

    with record_signals() as sent:
        scheduled = subscription_cancel(subscription=subscription, reason="Too expensive", now=T0)

    assert scheduled.status == "active"
    assert scheduled.has_access
    assert scheduled.cancel_at_period_end is True
    assert scheduled.cancellation_reason == "Too expensive"
    assert sent.one("subscription_cancel_scheduled").kwargs == {
        "cancel_at": subscription.current_period_end,
        "reason": "Too expensive",
    }

    undone = subscription_undo_cancel(subscription=subscription, now=T0 + dt.timedelta(days=1))

    stored = Subscription.objects.get(pk=subscription.pk)
    assert undone.cancel_at_period_end is stored.cancel_at_period_end is False
    assert stored.cancellation_reason == ""
    assert stored.status == "active"


def test_a_cancellation_at_the_period_end_cannot_be_scheduled_twice():
    subscription = active_subscription()
    subscription_cancel(subscription=subscription, now=T0)
    before = row(subscription)

    with pytest.raises(InvalidTransition):
        subscription_cancel(subscription=subscription, now=T0)

    assert row(subscription) == before


def test_a_scheduled_cancellation_cannot_be_undone_once_the_period_has_ended():
    subscription = active_subscription()
    subscription_cancel(subscription=subscription, now=T0)
    before = row(subscription)

    with pytest.raises(InvalidTransition):
        subscription_undo_cancel(
            subscription=subscription, now=subscription.current_period_end + dt.timedelta(1)
        )

    assert row(subscription) == before


def test_undoing_without_a_scheduled_cancellation_is_refused():
    subscription = active_subscription()

    with pytest.raises(InvalidTransition):
        subscription_undo_cancel(subscription=subscription, now=T0)


@pytest.mark.parametrize(
    "end",
    [
        lambda s: subscription_cancel(subscription=s, at_period_end=False, now=T0),
        lambda s: subscription_expire(subscription=s, now=T0),
    ],
    ids=["cancel-now", "expire"],
)
def test_ending_a_subscription_now_voids_what_it_still_asks_to_be_paid(alice, end):
    subscription = subscription_create(user=alice, plan=PlanFactory(), now=T0)
    first = subscription.invoices.get()
    overdue = InvoiceFactory(user=alice, subscription=subscription, status="overdue")
    paid = InvoiceFactory(user=alice, subscription=subscription, status="paid")
    other = InvoiceFactory(user=alice, status="open")

    ended = end(subscription)

    assert ended.ended_at == T0
    assert ended.has_access is False
    statuses = dict(Invoice.objects.values_list("pk", "status"))
    assert statuses == {first.pk: "void", overdue.pk: "void", paid.pk: "paid", other.pk: "open"}
    assert Invoice.objects.get(pk=first.pk).voided_at == T0
    assert Invoice.objects.get(pk=first.pk).void_reason


def test_cancelling_now_records_when_and_why_and_drops_a_scheduled_change():
    subscription = active_subscription()
    subscription_change_plan(
        subscription=subscription, new_plan=PlanFactory(price=Decimal("50000")), now=T0
    )

    cancelled = subscription_cancel(
        subscription=subscription, at_period_end=False, reason="  Moving abroad ", now=T0
    )

    stored = Subscription.objects.get(pk=cancelled.pk)
    assert stored.status == "cancelled"
    assert stored.cancelled_at == stored.ended_at == T0
    assert stored.cancellation_reason == "Moving abroad"
    assert stored.scheduled_plan_id is None
    assert stored.scheduled_change_at is None


# --- One live subscription, one trial -------------------------------------------------------


@pytest.mark.parametrize("status", ["pending", "trialing", "active", "past_due", "paused"])
def test_a_user_with_a_live_subscription_cannot_start_another(alice, status):
    SubscriptionFactory(user=alice, status=status)

    with pytest.raises(SubscriptionExists):
        subscription_create(user=alice, plan=PlanFactory())

    assert Subscription.objects.filter(user=alice).count() == 1


@pytest.mark.parametrize("status", ["cancelled", "expired"])
def test_a_user_whose_subscription_ended_can_start_a_new_one(alice, status):
    SubscriptionFactory(user=alice, status=status)

    subscription = subscription_create(user=alice, plan=PlanFactory())

    assert subscription.status == "pending"
    assert Subscription.objects.live().filter(user=alice).count() == 1


def test_reactivating_an_old_subscription_while_another_is_live_is_refused(alice):
    old = SubscriptionFactory(user=alice, status="cancelled")
    SubscriptionFactory(user=alice, status="active")
    before = row(old)

    with pytest.raises(SubscriptionExists):
        subscription_reactivate(subscription=old)

    assert row(old) == before


def test_the_database_refuses_a_second_live_subscription_even_without_the_service(alice):
    SubscriptionFactory(user=alice, status="active")

    with pytest.raises(IntegrityError), transaction.atomic():
        SubscriptionFactory(user=alice, status="pending")


def test_a_user_gets_a_trial_only_once(alice, bob):
    trial_plan = PlanFactory(trial_period_days=14)
    first = subscription_create(user=alice, plan=trial_plan, now=T0)
    assert first.status == "trialing"
    assert first.trial_end == T0 + dt.timedelta(days=14)
    subscription_cancel(subscription=first, at_period_end=False, now=T0)

    second = subscription_create(user=alice, plan=trial_plan, now=T0 + dt.timedelta(days=1))

    assert second.status == "pending"
    assert second.trial_end is None
    assert second.invoices.get().status == "open"
    assert subscription_create(user=bob, plan=trial_plan).status == "trialing"


def test_a_trial_can_be_declined_for_a_paid_start(alice):
    subscription = subscription_create(
        user=alice, plan=PlanFactory(trial_period_days=14), allow_trial=False
    )

    assert subscription.status == "pending"
    assert subscription.trial_end is None


def test_a_free_plan_is_active_at_once_with_nothing_to_pay(alice):
    subscription = subscription_create(user=alice, plan=PlanFactory(price=Decimal("0")), now=T0)

    stored = Subscription.objects.get(pk=subscription.pk)
    assert stored.status == "active"
    assert stored.has_access
    assert stored.current_period_start == T0
    assert stored.current_period_end == dt.datetime(2026, 4, 10, 9, 0, tzinfo=dt.UTC)
    assert not stored.invoices.exists()


def test_a_paid_plan_starts_pending_with_its_first_invoice_open(alice):
    subscription = subscription_create(user=alice, plan=PlanFactory(), now=T0)

    assert subscription.status == "pending"
    assert subscription.has_access is False
    invoice = subscription.invoices.get()
    assert invoice.status == "open"
    assert invoice.total == Decimal("150000")
    assert invoice.period_start == subscription.current_period_start
    assert invoice.period_end == subscription.current_period_end


def test_an_inactive_plan_cannot_be_subscribed_to(alice):
    with pytest.raises(PlanUnavailable):
        subscription_create(user=alice, plan=PlanFactory(is_active=False))

    assert not Subscription.objects.filter(user=alice).exists()


# --- Payments never move backwards ----------------------------------------------------------


def first_payment(user) -> tuple[Subscription, Invoice, Payment]:
    subscription = subscription_create(user=user, plan=PlanFactory())
    invoice = subscription.invoices.get()
    payment = payment_create(user=user, amount=invoice.total, invoice=invoice)
    return subscription, invoice, payment


@pytest.mark.parametrize("late", ["pending", "authorize", "capture", "expire", "cancel", "deny"])
def test_a_settled_payment_stays_settled_whatever_arrives_late(alice, late):
    subscription, invoice, payment = first_payment(alice)
    payment_apply_status(payment=payment, transaction_status="settlement")
    before = row(payment)

    with record_signals() as sent:
        update = payment_apply_status(payment=payment, transaction_status=late)

    assert update.outcome == "stale"
    assert row(payment) == before
    assert Payment.objects.get(pk=payment.pk).is_paid is True
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    assert Subscription.objects.get(pk=subscription.pk).status == "active"
    assert sent.names() == []


def test_a_pending_notification_that_arrives_after_settlement_changes_nothing(alice):
    # The order Midtrans can deliver them in: settlement first, the pending one late.
    _, invoice, payment = first_payment(alice)
    payment_apply_status(payment=payment, transaction_status="settlement")
    late = payment_apply_status(payment=payment, transaction_status="pending")
    again = payment_apply_status(payment=payment, transaction_status="settlement")

    assert (late.outcome, again.outcome) == ("stale", "duplicate")
    stored = Payment.objects.get(pk=payment.pk)
    assert (stored.status, stored.is_paid) == ("settlement", True)
    assert Invoice.objects.get(pk=invoice.pk).paid_at is not None


def test_a_second_settled_payment_for_a_paid_invoice_does_not_pay_it_twice(alice):
    subscription, invoice, first = first_payment(alice)
    second = payment_create(user=alice, amount=invoice.total, invoice=invoice)
    payment_apply_status(payment=first, transaction_status="settlement")
    paid_at = Invoice.objects.get(pk=invoice.pk).paid_at

    with record_signals() as sent:
        payment_apply_status(payment=second, transaction_status="settlement")

    # Not kept: recorded as an overpayment and returned (no gateway took it: the wallet).
    assert sent.names() == [
        "payment_success",
        "payment_overpaid",
        "payment_refunded",
        "wallet_credited",
    ]
    second.refresh_from_db()
    assert second.overpaid_amount == second.refunded_amount == invoice.total
    assert alice.wallet.balance == invoice.total
    assert Invoice.objects.get(pk=invoice.pk).paid_at == paid_at
    assert Subscription.objects.get(pk=subscription.pk).status == "active"


def test_paying_a_void_invoice_is_refused(alice):
    invoice = InvoiceFactory(user=alice, status="void")

    with pytest.raises(BillingError), transaction.atomic():
        invoice_pay(invoice=invoice)

    assert Invoice.objects.get(pk=invoice.pk).status == "void"


@pytest.mark.parametrize("reversal", ["cancel", "deny"])
def test_a_failure_status_for_a_paid_capture_is_stale_and_changes_nothing(alice, reversal):
    # Collected money is given back by a refund; a late cancel/deny for a paid capture
    # is logged and ignored, so a payment is never paid and failed at once.
    _, invoice, payment = first_payment(alice)
    payment_apply_status(payment=payment, transaction_status="capture", fraud_status="accept")
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"

    update = payment_apply_status(payment=payment, transaction_status=reversal)

    assert update.outcome == "stale"
    stored = Payment.objects.get(pk=payment.pk)
    assert (stored.status, stored.is_paid) == ("capture", True)
    assert not (stored.is_paid and stored.is_failed)
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
