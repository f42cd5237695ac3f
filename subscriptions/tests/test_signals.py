"""The public signal contract (spec/signals-spec.md), row by row, and its traps.

Every signal is driven through the services that cause it (plain model saves for
``WebhookLog``, whose writer is the webhook view), and each test checks that it is
sent exactly once, with ``sender`` = the model class, ``instance`` = the row and the
documented extra kwargs, and that the neighbouring signals are not sent.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core import serializers
from django.db import connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from subscriptions import signals
from subscriptions.exceptions import InsufficientFunds
from subscriptions.models import Invoice, Payment, Subscription, WebhookLog
from subscriptions.services import (
    invoice_create,
    invoice_issue,
    invoice_mark_overdue,
    invoice_mark_paid_offline,
    invoice_mark_uncollectible,
    invoice_void,
    payment_apply_status,
    payment_create,
    payment_refund,
    subscription_activate,
    subscription_cancel,
    subscription_cancel_scheduled_change,
    subscription_change_plan,
    subscription_create,
    subscription_create_renewal_invoice,
    subscription_expire,
    subscription_mark_past_due,
    subscription_pause,
    subscription_renew,
    subscription_resume,
    subscription_undo_cancel,
)
from subscriptions.services.invoices import LineSpec
from subscriptions.tests.factories import (
    InvoiceFactory,
    PaymentFactory,
    PlanFactory,
    SubscriptionFactory,
    WebhookLogFactory,
)
from subscriptions.tests.signal_recorder import SIGNAL_NAMES, record_signals

pytestmark = pytest.mark.django_db

SUBSCRIPTION_STATUS_SIGNALS = (
    "subscription_activated",
    "subscription_cancelled",
    "subscription_paused",
    "subscription_resumed",
    "subscription_expired",
)
INVOICE_STATUS_SIGNALS = ("invoice_paid", "invoice_overdue", "invoice_voided")


@pytest.fixture
def sent():
    with record_signals() as log:
        yield log


def subscription_in(status: str, **fields) -> Subscription:
    """A subscription row in ``status`` with the fields that status implies."""
    now = timezone.now()
    extra = {
        "trialing": {"trial_end": now + dt.timedelta(days=14)},
        "paused": {"paused_at": now - dt.timedelta(days=1)},
        "cancelled": {"cancelled_at": now, "ended_at": now},
        "expired": {"ended_at": now},
    }.get(status, {})
    return SubscriptionFactory(status=status, **{**extra, **fields})


def settle(invoice: Invoice, **status_kwargs) -> Payment:
    """Pay ``invoice`` the way a settled Midtrans notification does."""
    payment = payment_create(user=invoice.user, amount=invoice.total, invoice=invoice)
    payment_apply_status(payment=payment, transaction_status="settlement", **status_kwargs)
    return Payment.objects.get(pk=payment.pk)


def pending_subscription(user, **plan_fields) -> tuple[Subscription, Invoice]:
    subscription = subscription_create(user=user, plan=PlanFactory(**plan_fields))
    return subscription, subscription.invoices.get()


def line(amount: str = "150000") -> list[LineSpec]:
    return [LineSpec(description="Manual charge", unit_amount=Decimal(amount))]


# --- Declarations ------------------------------------------------------------------


@pytest.mark.parametrize("name", SIGNAL_NAMES)
def test_every_public_signal_is_declared_as_a_signal(name):
    assert isinstance(getattr(signals, name), Signal)


def test_the_wallet_signals_are_importable_from_subscriptions_signals_before_wallet_models_exist():
    from subscriptions.signals import topup_completed, wallet_credited, wallet_debited

    for signal in (topup_completed, wallet_credited, wallet_debited):
        assert isinstance(signal, Signal)
    assert len({id(topup_completed), id(wallet_credited), id(wallet_debited)}) == 3


# --- subscription_created ----------------------------------------------------------


def test_creating_a_subscription_sends_subscription_created_once_with_the_row(alice, sent):
    subscription = subscription_create(user=alice, plan=PlanFactory())

    created = sent.one("subscription_created")
    assert created.sender is Subscription
    assert created.instance is subscription
    assert created.instance.pk is not None
    assert created.kwargs == {"previous_status": None}
    assert created.status == "pending"
    assert not any(sent.count(name) for name in SUBSCRIPTION_STATUS_SIGNALS)


def test_starting_a_trial_sends_created_but_not_activated(alice, sent):
    subscription = subscription_create(user=alice, plan=PlanFactory(trial_period_days=14))

    assert subscription.status == "trialing"
    assert sent.one("subscription_created").instance is subscription
    assert not any(sent.count(name) for name in SUBSCRIPTION_STATUS_SIGNALS)


def test_a_free_plan_sends_created_then_activated_from_pending(alice, sent):
    subscription = subscription_create(user=alice, plan=PlanFactory(price=Decimal("0")))

    names = [n for n in sent.names() if n.startswith("subscription_")]
    assert names == ["subscription_created", "subscription_activated"]
    activated = sent.one("subscription_activated")
    assert activated.instance.pk == subscription.pk
    assert activated.kwargs == {"previous_status": "pending"}
    assert activated.status == "active"


def test_subscription_created_is_not_sent_again_by_later_transitions(alice, sent):
    subscription, invoice = pending_subscription(alice)
    sent.clear()

    settle(invoice)
    subscription_pause(subscription=subscription)
    subscription_resume(subscription=subscription)
    subscription_cancel(subscription=subscription, at_period_end=False)

    assert sent.count("subscription_created") == 0


# --- subscription_activated / subscription_resumed ----------------------------------


def test_paying_the_first_invoice_sends_activated_once_from_pending(alice, sent):
    subscription, invoice = pending_subscription(alice)
    sent.clear()

    settle(invoice)

    activated = sent.one("subscription_activated")
    assert activated.sender is Subscription
    assert activated.instance.pk == subscription.pk
    assert activated.kwargs == {"previous_status": "pending"}
    assert activated.status == "active"
    assert sent.count("subscription_resumed") == 0
    assert Subscription.objects.get(pk=subscription.pk).status == "active"


@pytest.mark.parametrize("source", ["pending", "trialing", "past_due"])
def test_activating_from_pending_trialing_or_past_due_sends_activated_but_not_resumed(source, sent):
    subscription = subscription_in(source)
    sent.clear()

    result = subscription_activate(subscription=subscription)

    activated = sent.one("subscription_activated")
    assert activated.instance is result
    assert activated.kwargs == {"previous_status": source}
    assert sent.count("subscription_resumed") == 0


def test_resuming_a_paused_subscription_sends_activated_then_resumed_once_each(sent):
    subscription = subscription_in("active")
    subscription_pause(subscription=subscription)
    sent.clear()

    result = subscription_resume(subscription=subscription)

    assert sent.names() == ["subscription_activated", "subscription_resumed"]
    activated, resumed = sent.sent
    assert activated.instance is result
    assert resumed.instance is result
    assert resumed.sender is Subscription
    assert activated.kwargs == {"previous_status": "paused"}
    assert resumed.kwargs == {"previous_status": "paused"}
    assert resumed.status == "active"


def test_renewing_a_past_due_subscription_sends_activated_and_renewed_but_not_resumed(sent):
    subscription = subscription_in("past_due")
    sent.clear()

    subscription_renew(subscription=subscription)

    assert sent.one("subscription_activated").kwargs == {"previous_status": "past_due"}
    assert sent.count("subscription_renewed") == 1
    assert sent.count("subscription_resumed") == 0


@pytest.mark.parametrize(
    "move",
    [
        lambda s: subscription_pause(subscription=s),
        lambda s: subscription_cancel(subscription=s, at_period_end=False),
        lambda s: subscription_cancel(subscription=s, at_period_end=True),
        lambda s: subscription_expire(subscription=s),
        lambda s: subscription_mark_past_due(subscription=s),
        lambda s: subscription_renew(subscription=s),
    ],
    ids=["pause", "cancel-now", "cancel-at-period-end", "expire", "past-due", "renew"],
)
def test_activated_and_resumed_are_not_sent_when_an_active_subscription_moves_on(move, sent):
    subscription = subscription_in("active")
    sent.clear()

    move(subscription)

    assert sent.count("subscription_activated") == 0
    assert sent.count("subscription_resumed") == 0


# --- subscription_cancelled ---------------------------------------------------------


@pytest.mark.parametrize("source", ["pending", "trialing", "active", "past_due", "paused"])
def test_cancelling_now_sends_cancelled_once_with_the_previous_status(source, sent):
    subscription = subscription_in(source)
    sent.clear()

    result = subscription_cancel(subscription=subscription, at_period_end=False, reason="Moving")

    cancelled = sent.one("subscription_cancelled")
    assert cancelled.sender is Subscription
    assert cancelled.instance is result
    assert cancelled.kwargs == {"previous_status": source}
    assert cancelled.status == "cancelled"
    others = set(SUBSCRIPTION_STATUS_SIGNALS) - {"subscription_cancelled"}
    assert not any(sent.count(name) for name in others)
    assert sent.count("subscription_cancel_scheduled") == 0


def test_cancelling_at_the_period_end_sends_cancel_scheduled_and_not_cancelled(sent):
    subscription = subscription_in("active")
    sent.clear()

    result = subscription_cancel(subscription=subscription, reason="Too expensive")

    scheduled = sent.one("subscription_cancel_scheduled")
    assert scheduled.sender is Subscription
    assert scheduled.instance is result
    assert scheduled.kwargs == {
        "cancel_at": subscription.current_period_end,
        "reason": "Too expensive",
    }
    assert sent.names() == ["subscription_cancel_scheduled"]
    assert Subscription.objects.get(pk=subscription.pk).status == "active"


def test_undoing_a_scheduled_cancellation_sends_cancel_undone_only(sent):
    subscription = subscription_in("active")
    subscription_cancel(subscription=subscription)
    sent.clear()

    subscription_undo_cancel(subscription=subscription)

    undone = sent.one("subscription_cancel_undone")
    assert undone.sender is Subscription
    assert undone.instance.pk == subscription.pk
    assert sent.names() == ["subscription_cancel_undone"]


# --- subscription_paused ------------------------------------------------------------


def test_pausing_an_active_subscription_sends_paused_once(sent):
    subscription = subscription_in("active")
    sent.clear()

    result = subscription_pause(subscription=subscription)

    paused = sent.one("subscription_paused")
    assert paused.sender is Subscription
    assert paused.instance is result
    assert paused.kwargs == {"previous_status": "active"}
    assert paused.status == "paused"
    assert sent.names() == ["subscription_paused"]


def test_cancelling_a_paused_subscription_sends_cancelled_not_paused(sent):
    subscription = subscription_in("active")
    subscription_pause(subscription=subscription)
    sent.clear()

    subscription_cancel(subscription=subscription, at_period_end=False)

    assert sent.count("subscription_paused") == 0
    assert sent.one("subscription_cancelled").kwargs == {"previous_status": "paused"}


def test_resuming_does_not_send_paused(sent):
    subscription = subscription_in("paused")
    sent.clear()

    subscription_resume(subscription=subscription)

    assert sent.count("subscription_paused") == 0


# --- subscription_expired -----------------------------------------------------------


@pytest.mark.parametrize("source", ["pending", "trialing", "active", "past_due"])
def test_expiring_sends_expired_once_and_not_cancelled(source, sent):
    subscription = subscription_in(source)
    sent.clear()

    result = subscription_expire(subscription=subscription)

    expired = sent.one("subscription_expired")
    assert expired.sender is Subscription
    assert expired.instance is result
    assert expired.kwargs == {"previous_status": source}
    assert expired.status == "expired"
    assert sent.count("subscription_cancelled") == 0
    assert sent.count("subscription_activated") == 0


# --- subscription_renewed -----------------------------------------------------------


def test_renewing_sends_renewed_once_with_the_new_period_and_no_invoice(sent):
    subscription = subscription_in("active")
    old_end = subscription.current_period_end
    sent.clear()

    result = subscription_renew(subscription=subscription)

    renewed = sent.one("subscription_renewed")
    assert renewed.sender is Subscription
    assert renewed.instance is result
    assert renewed.kwargs["period_start"] == old_end
    assert renewed.kwargs["period_end"] == result.current_period_end
    assert renewed.kwargs["period_end"] > old_end
    assert renewed.kwargs["invoice"] is None
    assert sent.count("subscription_activated") == 0
    assert sent.count("subscription_plan_changed") == 0


def test_paying_a_renewal_invoice_sends_renewed_once_with_that_invoice(sent):
    subscription = subscription_in("active")
    invoice = subscription_create_renewal_invoice(subscription=subscription)
    sent.clear()

    settle(invoice)

    renewed = sent.one("subscription_renewed")
    assert renewed.kwargs["invoice"].pk == invoice.pk
    assert renewed.kwargs["period_start"] == invoice.period_start
    assert renewed.kwargs["period_end"] == invoice.period_end
    assert sent.count("subscription_activated") == 0


def test_renewed_is_not_sent_when_a_first_invoice_activates(alice, sent):
    _, invoice = pending_subscription(alice)
    sent.clear()

    settle(invoice)

    assert sent.count("subscription_renewed") == 0
    assert sent.count("subscription_activated") == 1


# --- subscription_plan_changed ------------------------------------------------------


def test_switching_to_a_plan_of_the_same_price_sends_plan_changed_once(sent):
    subscription = subscription_in("active")
    old_plan = subscription.plan
    new_plan = PlanFactory(price=old_plan.price)
    sent.clear()

    result = subscription_change_plan(subscription=subscription, new_plan=new_plan)

    assert result.applied
    changed = sent.one("subscription_plan_changed")
    assert changed.sender is Subscription
    assert changed.instance is result.subscription
    assert changed.kwargs == {"old_plan": old_plan, "new_plan": new_plan}
    assert not any(sent.count(name) for name in SUBSCRIPTION_STATUS_SIGNALS)


def test_an_upgrade_sends_plan_changed_when_its_invoice_is_paid_not_before(sent):
    now = timezone.now()
    subscription = subscription_in(
        "active",
        current_period_start=now - dt.timedelta(days=10),
        current_period_end=now + dt.timedelta(days=20),
    )
    old_plan = subscription.plan
    new_plan = PlanFactory(price=old_plan.price * 2)
    sent.clear()

    result = subscription_change_plan(subscription=subscription, new_plan=new_plan)

    assert result.kind == "upgrade"
    assert result.invoice is not None
    assert sent.count("subscription_plan_changed") == 0

    settle(result.invoice)

    changed = sent.one("subscription_plan_changed")
    assert changed.kwargs["old_plan"].pk == old_plan.pk
    assert changed.kwargs["new_plan"].pk == new_plan.pk
    assert Subscription.objects.get(pk=subscription.pk).plan_id == new_plan.pk


def test_a_downgrade_sends_plan_changed_at_the_renewal_that_applies_it(sent):
    subscription = subscription_in("active")
    old_plan = subscription.plan
    cheaper = PlanFactory(price=old_plan.price / 3)
    sent.clear()

    result = subscription_change_plan(subscription=subscription, new_plan=cheaper)

    assert result.kind == "downgrade"
    assert sent.names() == []

    subscription_renew(subscription=subscription)

    changed = sent.one("subscription_plan_changed")
    assert changed.kwargs["old_plan"].pk == old_plan.pk
    assert changed.kwargs["new_plan"].pk == cheaper.pk
    assert sent.count("subscription_renewed") == 1


def test_a_cancelled_scheduled_downgrade_never_sends_plan_changed(sent):
    subscription = subscription_in("active")
    cheaper = PlanFactory(price=subscription.plan.price / 3)
    subscription_change_plan(subscription=subscription, new_plan=cheaper)

    subscription_cancel_scheduled_change(subscription=subscription)
    subscription_renew(subscription=subscription)

    assert sent.count("subscription_plan_changed") == 0
    assert Subscription.objects.get(pk=subscription.pk).plan_id != cheaper.pk


# --- payment_created ----------------------------------------------------------------


def test_creating_a_payment_sends_payment_created_once(alice, sent):
    payment = payment_create(user=alice, amount=Decimal("150000"))

    created = sent.one("payment_created")
    assert created.sender is Payment
    assert created.instance is payment
    assert created.kwargs == {"previous_status": None}
    assert sent.names() == ["payment_created"]


def test_payment_created_is_not_sent_when_a_status_is_applied(sent):
    payment = PaymentFactory()
    sent.clear()

    payment_apply_status(payment=payment, transaction_status="settlement")

    assert sent.count("payment_created") == 0


# --- payment_success ----------------------------------------------------------------


@pytest.mark.parametrize(
    "notifications",
    [
        [("settlement", "")],
        [("capture", "accept")],
        [("authorize", ""), ("capture", "accept"), ("settlement", "")],
        [("capture", "challenge"), ("capture", "accept"), ("settlement", "")],
        [("capture", "challenge"), ("settlement", "")],
    ],
    ids=[
        "settlement",
        "capture-accept",
        "authorize-capture-settle",
        "challenge-accepted",
        "challenge-settled",
    ],
)
def test_payment_success_is_sent_once_when_is_paid_becomes_true(notifications, sent):
    payment = PaymentFactory()
    sent.clear()

    for status, fraud in notifications:
        payment_apply_status(payment=payment, transaction_status=status, fraud_status=fraud)

    success = sent.one("payment_success")
    assert success.sender is Payment
    assert success.instance.pk == payment.pk
    assert success.instance.is_paid is True
    assert sent.count("payment_failed") == 0
    assert Payment.objects.get(pk=payment.pk).is_paid is True


def test_payment_success_carries_the_status_it_was_paid_from(sent):
    payment = PaymentFactory(status="authorize")
    sent.clear()

    payment_apply_status(payment=payment, transaction_status="settlement")

    assert sent.one("payment_success").kwargs == {"previous_status": "authorize"}


@pytest.mark.parametrize(
    ("status", "fraud"),
    [("pending", ""), ("authorize", ""), ("capture", "challenge")],
)
def test_payment_success_is_not_sent_for_pending_authorize_or_a_challenged_capture(
    status, fraud, sent
):
    payment = PaymentFactory(status="pending")
    sent.clear()

    payment_apply_status(payment=payment, transaction_status=status, fraud_status=fraud)

    assert sent.count("payment_success") == 0
    assert Payment.objects.get(pk=payment.pk).is_paid is False


def test_payment_success_is_not_sent_again_by_later_events_on_a_paid_payment(sent):
    payment = PaymentFactory()
    payment_apply_status(payment=payment, transaction_status="capture", fraud_status="accept")
    payment_apply_status(payment=payment, transaction_status="settlement")
    payment_apply_status(payment=payment, transaction_status="settlement")  # duplicate
    payment_apply_status(payment=payment, transaction_status="pending")  # late, stale
    payment_refund(payment=payment, amount=Decimal("10000"), reason="test", destination="wallet")
    payment_refund(payment=payment, amount=Decimal("140000"), reason="test", destination="wallet")
    reloaded = Payment.objects.get(pk=payment.pk)
    reloaded.save()
    reloaded.is_paid = True
    reloaded.save(update_fields=["is_paid"])

    assert sent.count("payment_success") == 1


# --- payment_failed -----------------------------------------------------------------


@pytest.mark.parametrize("failure", ["deny", "cancel", "expire", "failure"])
def test_payment_failed_is_sent_once_on_entering_each_failure_status(failure, sent):
    payment = PaymentFactory()
    sent.clear()

    payment_apply_status(payment=payment, transaction_status=failure)

    failed = sent.one("payment_failed")
    assert failed.sender is Payment
    assert failed.instance.pk == payment.pk
    assert failed.kwargs == {"previous_status": "pending"}
    assert failed.status == failure
    assert sent.count("payment_success") == 0


@pytest.mark.parametrize("failure", ["deny", "cancel", "expire", "failure"])
def test_a_repeated_failure_notification_does_not_send_payment_failed_again(failure, sent):
    payment = PaymentFactory()
    payment_apply_status(payment=payment, transaction_status=failure)

    repeat = payment_apply_status(payment=payment, transaction_status=failure)
    other = next(s for s in ("deny", "cancel", "expire", "failure") if s != failure)
    late = payment_apply_status(payment=payment, transaction_status=other)

    assert repeat.outcome == "duplicate"
    assert late.outcome == "stale"
    assert sent.count("payment_failed") == 1


def test_a_capture_denied_by_the_fraud_check_sends_payment_failed(sent):
    payment = PaymentFactory()
    sent.clear()

    payment_apply_status(payment=payment, transaction_status="capture", fraud_status="deny")

    assert sent.one("payment_failed").status == "deny"
    assert sent.count("payment_success") == 0


def test_a_challenged_capture_that_is_then_denied_sends_failed_once(sent):
    payment = PaymentFactory()
    payment_apply_status(payment=payment, transaction_status="capture", fraud_status="challenge")
    sent.clear()

    payment_apply_status(payment=payment, transaction_status="deny")

    assert sent.one("payment_failed").kwargs == {"previous_status": "capture"}


@pytest.mark.parametrize("status", ["authorize", "capture", "settlement"])
def test_payment_failed_is_not_sent_on_non_failure_statuses(status, sent):
    payment = PaymentFactory()
    sent.clear()

    payment_apply_status(payment=payment, transaction_status=status)

    assert sent.count("payment_failed") == 0


# --- payment_refunded ---------------------------------------------------------------


def test_two_partial_refunds_send_payment_refunded_twice_with_each_amount(sent):
    payment = PaymentFactory(status="settlement")
    sent.clear()

    payment_refund(payment=payment, amount=Decimal("50000"), reason="test", destination="wallet")
    payment_refund(payment=payment, amount=Decimal("30000"), reason="test", destination="wallet")

    first, second = sent.of("payment_refunded")
    assert first.sender is Payment
    assert first.instance.pk == payment.pk
    first_refund, second_refund = payment.refunds.order_by("pk")
    assert first.kwargs == {
        "previous_status": "settlement",
        "refund_amount": Decimal("50000"),
        "previous_refunded_amount": Decimal("0"),
        "refund": first_refund,
    }
    assert second.kwargs == {
        "previous_status": "partial_refund",
        "refund_amount": Decimal("30000"),
        "previous_refunded_amount": Decimal("50000"),
        "refund": second_refund,
    }
    assert (first_refund.amount, first_refund.destination) == (Decimal("50000"), "wallet")
    assert first.status == second.status == "partial_refund"
    assert sent.names() == ["payment_refunded", "wallet_credited"] * 2


def test_a_full_refund_notification_sends_payment_refunded_for_the_whole_amount(sent):
    payment = PaymentFactory(status="settlement")
    sent.clear()

    payment_apply_status(payment=payment, transaction_status="refund")

    refunded = sent.one("payment_refunded")
    assert refunded.kwargs["refund_amount"] == payment.gross_amount
    assert refunded.kwargs["previous_status"] == "settlement"
    assert refunded.status == "refund"


def test_partial_refund_notifications_send_refunded_only_when_the_amount_grows(sent):
    payment = PaymentFactory(status="settlement")
    sent.clear()

    for amount in ("20000", "20000", "60000", "60000"):
        payment_apply_status(
            payment=payment, transaction_status="partial_refund", refunded_amount=Decimal(amount)
        )

    amounts = [item.kwargs["refund_amount"] for item in sent.of("payment_refunded")]
    assert amounts == [Decimal("20000"), Decimal("40000")]


def test_payment_refunded_is_not_sent_on_a_re_save_or_on_settlement(sent):
    payment = PaymentFactory()
    payment_apply_status(payment=payment, transaction_status="settlement")
    assert sent.count("payment_refunded") == 0

    refunded = payment_refund(
        payment=payment, amount=Decimal("50000"), reason="test", destination="wallet"
    ).payment
    refunded.save()
    Payment.objects.get(pk=payment.pk).save()

    assert sent.count("payment_refunded") == 1


# --- invoice_created ----------------------------------------------------------------


@pytest.mark.parametrize(("issue", "status"), [(True, "open"), (False, "draft")])
def test_creating_an_invoice_sends_invoice_created_once(alice, sent, issue, status):
    invoice = invoice_create(user=alice, lines=line(), issue=issue)

    created = sent.one("invoice_created")
    assert created.sender is Invoice
    assert created.instance is invoice
    assert created.kwargs == {"previous_status": None}
    assert created.status == status
    # Created open, it is issued in the same save: invoice_issued follows once.
    expected = ["invoice_created", "invoice_issued"] if issue else ["invoice_created"]
    assert sent.names() == expected
    if issue:
        assert sent.one("invoice_issued").kwargs == {"previous_status": None}


def test_issuing_a_draft_sends_invoice_issued_once(alice, sent):
    invoice = invoice_create(user=alice, lines=line(), issue=False)
    sent.clear()

    issued = invoice_issue(invoice=invoice)

    signal = sent.one("invoice_issued")
    assert signal.instance.pk == issued.pk
    assert signal.kwargs == {"previous_status": "draft"}
    assert signal.instance.number == issued.number
    assert sent.names() == ["invoice_issued"]


def test_a_re_saved_open_invoice_is_not_issued_again(alice, sent):
    invoice = invoice_create(user=alice, lines=line())
    sent.clear()

    invoice.save()
    invoice_mark_overdue(invoice=invoice)

    assert "invoice_issued" not in sent.names()


# --- invoice_paid / invoice_overdue / invoice_voided ---------------------------------


@pytest.mark.parametrize("source", ["open", "overdue", "uncollectible"])
def test_paying_an_invoice_sends_invoice_paid_once(source, sent):
    invoice = InvoiceFactory(status=source)
    sent.clear()

    payment = invoice_mark_paid_offline(invoice=invoice, reference="BANK-1")

    paid = sent.one("invoice_paid")
    assert paid.sender is Invoice
    assert paid.instance.pk == invoice.pk
    assert paid.kwargs == {"previous_status": source, "payment": payment}
    assert paid.status == "paid"
    assert sent.names() == ["payment_created", "payment_success", "invoice_paid"]


def test_marking_an_invoice_overdue_sends_invoice_overdue_once(sent):
    invoice = InvoiceFactory(status="open")
    sent.clear()

    result = invoice_mark_overdue(invoice=invoice)

    overdue = sent.one("invoice_overdue")
    assert overdue.sender is Invoice
    assert overdue.instance is result
    assert overdue.kwargs == {"previous_status": "open"}
    assert sent.names() == ["invoice_overdue"]


@pytest.mark.parametrize(
    "source",
    [
        "draft",
        "open",
        "overdue",
        "uncollectible",
    ],
)
def test_voiding_an_invoice_sends_invoice_voided_once(source, sent):
    invoice = InvoiceFactory(status=source)
    sent.clear()

    result = invoice_void(invoice=invoice, reason="Issued by mistake")

    voided = sent.one("invoice_voided")
    assert voided.sender is Invoice
    assert voided.instance is result
    assert voided.kwargs == {"previous_status": source}
    assert sent.names() == ["invoice_voided"]


def test_marking_an_invoice_uncollectible_sends_none_of_paid_overdue_or_voided(sent):
    invoice = InvoiceFactory(status="overdue")
    sent.clear()

    invoice_mark_uncollectible(invoice=invoice)

    assert sent.names() == []


def test_settling_a_first_invoice_sends_each_lifecycle_signal_once_in_order(alice, sent):
    subscription, invoice = pending_subscription(alice)
    sent.clear()

    settle(invoice)

    assert sent.names() == [
        "payment_created",
        "payment_success",
        "invoice_paid",
        "subscription_activated",
    ]
    assert sent.one("invoice_paid").instance.pk == invoice.pk
    assert sent.one("subscription_activated").instance.pk == subscription.pk


def test_cancelling_now_voids_open_invoices_and_sends_invoice_voided(alice, sent):
    subscription, invoice = pending_subscription(alice)
    sent.clear()

    subscription_cancel(subscription=subscription, at_period_end=False)

    assert sent.one("invoice_voided").instance.pk == invoice.pk
    assert sent.one("invoice_voided").kwargs == {"previous_status": "open"}


# --- webhook_received / webhook_processed --------------------------------------------


def test_storing_a_webhook_log_sends_webhook_received_once(sent):
    log = WebhookLog.objects.create(order_id="SUB-1", transaction_status="settlement")

    received = sent.one("webhook_received")
    assert received.sender is WebhookLog
    assert received.instance is log
    assert received.kwargs == {"previous_status": None}
    assert sent.names() == ["webhook_received"]


@pytest.mark.parametrize("use_update_fields", [True, False])
def test_a_webhook_log_becoming_processed_sends_webhook_processed_once(use_update_fields, sent):
    log = WebhookLogFactory()
    sent.clear()

    log.status = "processed"
    log.processed_at = timezone.now()
    if use_update_fields:
        log.save(update_fields=["status", "processed_at"])
    else:
        log.save()
    log.save()
    WebhookLog.objects.get(pk=log.pk).save()

    processed = sent.one("webhook_processed")
    assert processed.sender is WebhookLog
    assert processed.instance is log
    assert processed.kwargs == {"previous_status": "received"}
    assert sent.names() == ["webhook_processed"]


@pytest.mark.parametrize("status", ["failed", "invalid", "duplicate", "ignored"])
def test_webhook_processed_is_not_sent_for_other_statuses(status, sent):
    log = WebhookLogFactory()
    sent.clear()

    log.status = status
    log.save()

    assert sent.names() == []


def test_webhook_processed_is_sent_when_a_failed_log_is_processed_on_retry(sent):
    log = WebhookLogFactory(status="failed")
    sent.clear()

    log.status = "processed"
    log.save(update_fields=["status"])

    assert sent.one("webhook_processed").kwargs == {"previous_status": "failed"}


# --- The traps: exact dispatch from post_save ------------------------------------------

TRACKED_ROWS = {
    # model: (factory kwargs, tracked field, value to move to, signal it sends)
    "subscription": (lambda: subscription_in("active"), "status", "paused", "subscription_paused"),
    "invoice": (lambda: InvoiceFactory(status="open"), "status", "paid", "invoice_paid"),
    "payment-status": (lambda: PaymentFactory(), "status", "deny", "payment_failed"),
    "payment-is-paid": (lambda: PaymentFactory(), "is_paid", True, "payment_success"),
    "payment-refund": (
        lambda: PaymentFactory(status="settlement"),
        "refunded_amount",
        Decimal("1000"),
        "payment_refunded",
    ),
    "webhook-log": (lambda: WebhookLogFactory(), "status", "processed", "webhook_processed"),
}


@pytest.mark.parametrize("kind", TRACKED_ROWS)
def test_re_saving_a_row_that_changed_nothing_sends_no_signal(kind, sent):
    make, _, _, _ = TRACKED_ROWS[kind]
    row = make()
    sent.clear()

    row.save()
    row.save()
    reloaded = type(row).objects.get(pk=row.pk)
    reloaded.save()
    reloaded.save(update_fields=[TRACKED_ROWS[kind][1]])

    assert sent.names() == []


@pytest.mark.parametrize("kind", TRACKED_ROWS)
def test_update_fields_without_the_tracked_field_sends_nothing_even_if_it_changed_in_memory(
    kind, sent
):
    make, field, value, signal = TRACKED_ROWS[kind]
    row = make()
    before = getattr(type(row).objects.get(pk=row.pk), field)
    sent.clear()

    setattr(row, field, value)
    other = "created_at" if kind == "webhook-log" else "updated_at"
    row.save(update_fields=[other])

    assert sent.names() == []
    assert getattr(type(row).objects.get(pk=row.pk), field) == before

    row.save(update_fields=[field])

    assert sent.one(signal).instance is row
    assert getattr(type(row).objects.get(pk=row.pk), field) == value


@pytest.mark.parametrize("kind", TRACKED_ROWS)
def test_a_plain_save_of_a_changed_tracked_field_sends_its_signal_once(kind, sent):
    make, field, value, signal = TRACKED_ROWS[kind]
    row = make()
    sent.clear()

    setattr(row, field, value)
    row.save()
    row.save()

    assert sent.one(signal).instance is row


def test_status_changed_on_a_queryset_loaded_instance_sends_one_signal(sent):
    subscription = subscription_in("active")
    sent.clear()

    loaded = Subscription.objects.filter(pk=subscription.pk).select_related("plan").first()
    loaded.status = "paused"
    loaded.save()
    loaded.save()

    paused = sent.one("subscription_paused")
    assert paused.instance is loaded
    assert paused.kwargs == {"previous_status": "active"}


@pytest.mark.parametrize(
    "load",
    [
        lambda pk: Subscription.objects.only("pk").get(pk=pk),
        lambda pk: Subscription.objects.only("pk", "cancellation_reason").get(pk=pk),
        lambda pk: Subscription.objects.defer("status").get(pk=pk),
    ],
    ids=["only-pk", "only-other-field", "defer-status"],
)
def test_status_changed_on_a_deferred_instance_sends_one_signal_with_the_old_status(load, sent):
    subscription = subscription_in("active")
    sent.clear()

    deferred = load(subscription.pk)
    assert "status" in deferred.get_deferred_fields()
    deferred.status = "paused"
    deferred.save()
    deferred.save()

    paused = sent.one("subscription_paused")
    assert paused.kwargs == {"previous_status": "active"}
    assert Subscription.objects.get(pk=subscription.pk).status == "paused"


def test_reading_a_deferred_status_before_changing_it_still_sends_one_signal(sent):
    subscription = subscription_in("active")
    sent.clear()

    deferred = Subscription.objects.defer("status").get(pk=subscription.pk)
    assert deferred.status == "active"  # loads the field
    deferred.status = "paused"
    deferred.save(update_fields=["status"])

    assert sent.one("subscription_paused").kwargs == {"previous_status": "active"}


def test_re_saving_an_unchanged_deferred_instance_sends_nothing(sent):
    subscription = subscription_in("paused")
    sent.clear()

    Subscription.objects.only("pk").get(pk=subscription.pk).save()
    deferred = Subscription.objects.only("pk").get(pk=subscription.pk)
    deferred.status = "paused"
    deferred.save()

    assert sent.names() == []


def test_status_changed_on_an_instance_built_by_hand_with_a_pk_sends_one_signal(sent):
    subscription = subscription_in("active")
    sent.clear()

    by_hand = Subscription(
        pk=subscription.pk,
        user=subscription.user,
        plan=subscription.plan,
        status="paused",
        current_period_start=subscription.current_period_start,
        current_period_end=subscription.current_period_end,
        billing_anchor=subscription.billing_anchor,
        created_at=subscription.created_at,
    )
    by_hand.save()
    by_hand.save()

    paused = sent.one("subscription_paused")
    assert paused.instance is by_hand
    assert paused.kwargs == {"previous_status": "active"}
    assert sent.count("subscription_created") == 0


def test_an_unchanged_instance_built_by_hand_with_a_pk_sends_nothing(sent):
    payment = PaymentFactory(status="settlement")
    sent.clear()

    Payment(
        pk=payment.pk,
        user=payment.user,
        order_id=payment.order_id,
        gross_amount=payment.gross_amount,
        status="settlement",
        is_paid=True,
        created_at=payment.created_at,
    ).save()

    assert sent.names() == []


def test_a_payment_built_by_hand_with_a_pk_that_becomes_paid_sends_success_once(sent):
    payment = PaymentFactory()
    sent.clear()

    Payment(
        pk=payment.pk,
        user=payment.user,
        order_id=payment.order_id,
        gross_amount=payment.gross_amount,
        status="settlement",
        is_paid=True,
        created_at=payment.created_at,
    ).save()

    assert sent.one("payment_success").kwargs == {"previous_status": "pending"}
    assert sent.count("payment_created") == 0


def test_saving_the_instance_a_service_returned_sends_nothing_more(sent):
    subscription = subscription_pause(subscription=subscription_in("active"))
    sent.clear()

    subscription.save()
    subscription.refresh_from_db()
    subscription.save()

    assert sent.names() == []


def test_a_status_moved_back_and_forth_sends_a_signal_for_each_real_transition(sent):
    subscription = subscription_in("active")
    sent.clear()

    for status in ("paused", "active", "paused"):
        subscription.status = status
        subscription.save(update_fields=["status"])

    assert sent.names() == [
        "subscription_paused",
        "subscription_activated",
        "subscription_resumed",
        "subscription_paused",
    ]


def test_payment_failed_is_not_sent_again_when_a_failed_payment_moves_to_another_failure(sent):
    payment = PaymentFactory()
    sent.clear()

    payment.status = "deny"
    payment.save()
    payment.status = "expire"
    payment.save()

    assert sent.count("payment_failed") == 1


def test_payment_success_is_sent_when_a_paid_row_is_created_as_paid(alice, sent):
    payment = PaymentFactory(user=alice, status="settlement")

    assert sent.one("payment_created").instance is payment
    assert sent.one("payment_success").instance is payment


# --- Sent inside the transaction -----------------------------------------------------


def test_receivers_see_the_change_inside_the_transaction_that_made_it(alice):
    seen = []

    def on_activated(sender, instance, **kwargs):
        seen.append(Subscription.objects.get(pk=instance.pk).status)

    signals.subscription_activated.connect(on_activated, weak=False)
    try:
        _, invoice = pending_subscription(alice)
        settle(invoice)
    finally:
        signals.subscription_activated.disconnect(on_activated)

    assert seen == ["active"]


@pytest.fixture
def deferred_welcome():
    """A receiver that does its I/O on commit, as the signals module asks."""
    calls = []

    def on_activated(sender, instance, **kwargs):
        transaction.on_commit(lambda: calls.append(instance.pk))

    signals.subscription_activated.connect(on_activated, weak=False)
    yield calls
    signals.subscription_activated.disconnect(on_activated)


def test_an_on_commit_receiver_runs_only_after_the_commit(
    alice, deferred_welcome, django_capture_on_commit_callbacks
):
    subscription, invoice = pending_subscription(alice)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        settle(invoice)
        assert deferred_welcome == []

    # Other apps' receivers (the portal's emails) defer work too: only ours is checked.
    assert callbacks
    assert deferred_welcome == [subscription.pk]


def test_nothing_is_called_and_nothing_persists_when_the_transaction_rolls_back(
    alice, sent, deferred_welcome, django_capture_on_commit_callbacks
):
    subscription, invoice = pending_subscription(alice)
    sent.clear()

    def pay_then_fail():
        with transaction.atomic():
            settle(invoice)
            raise RuntimeError("the request failed after paying")

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError):
        pay_then_fail()

    assert sent.count("subscription_activated") == 1  # sent inside the transaction...
    assert callbacks == []  # ...but its on-commit work was dropped with it
    assert deferred_welcome == []
    assert Subscription.objects.get(pk=subscription.pk).status == "pending"
    assert Invoice.objects.get(pk=invoice.pk).status == "open"
    assert not Payment.objects.filter(invoice=invoice).exists()


def test_a_service_that_fails_half_way_drops_the_on_commit_work_of_its_signals(
    alice, sent, django_capture_on_commit_callbacks
):
    from wallets.services import wallet_pay_invoice

    _, invoice = pending_subscription(alice)
    # Paying from an empty wallet fails half way: the payment row is saved (and
    # payment_created sent) before the debit is refused.
    sent.clear()
    calls = []

    def on_created(sender, instance, **kwargs):
        transaction.on_commit(lambda: calls.append(instance.order_id))

    signals.payment_created.connect(on_created, weak=False)
    try:
        with (
            django_capture_on_commit_callbacks(execute=True) as callbacks,
            pytest.raises(InsufficientFunds),
        ):
            wallet_pay_invoice(invoice=invoice, user=alice)
    finally:
        signals.payment_created.disconnect(on_created)

    assert sent.count("payment_created") == 1
    assert callbacks == []
    assert calls == []
    assert not Payment.objects.filter(invoice=invoice).exists()
    assert Invoice.objects.get(pk=invoice.pk).status == "open"


@pytest.mark.django_db(transaction=True)
def test_with_real_commits_on_commit_receivers_run_after_commit_and_never_after_rollback(alice):
    in_transaction = []
    committed = []

    def on_paused(sender, instance, **kwargs):
        in_transaction.append(connection.in_atomic_block)
        transaction.on_commit(lambda: committed.append(instance.pk))

    signals.subscription_paused.connect(on_paused, weak=False)
    try:
        first = subscription_in("active")
        subscription_pause(subscription=first)
        assert committed == [first.pk]

        second = subscription_in("active")

        def pause_then_fail():
            with transaction.atomic():
                subscription_pause(subscription=second)
                raise RuntimeError("rolled back")

        with pytest.raises(RuntimeError):
            pause_then_fail()
    finally:
        signals.subscription_paused.disconnect(on_paused)

    assert in_transaction == [True, True]
    assert committed == [first.pk]
    assert Subscription.objects.get(pk=second.pk).status == "active"


def test_paying_a_trial_conversion_invoice_sends_activated_from_trialing(sent):
    subscription = subscription_in("trialing")
    invoice = subscription_create_renewal_invoice(subscription=subscription)
    sent.clear()

    settle(invoice)

    assert sent.one("subscription_activated").kwargs == {"previous_status": "trialing"}
    assert sent.count("subscription_renewed") == 0
    assert sent.count("subscription_resumed") == 0


def test_a_failed_renewal_payment_sends_payment_failed_and_no_subscription_status_signal(sent):
    subscription = subscription_in("active")
    invoice = subscription_create_renewal_invoice(subscription=subscription)
    payment = payment_create(user=subscription.user, amount=invoice.total, invoice=invoice)
    sent.clear()

    payment_apply_status(payment=payment, transaction_status="expire")

    assert sent.names() == ["payment_failed"]
    assert Subscription.objects.get(pk=subscription.pk).status == "past_due"
    assert Invoice.objects.get(pk=invoice.pk).status == "open"


def test_update_or_create_that_changes_a_status_sends_one_signal(sent):
    payment = PaymentFactory()
    sent.clear()

    Payment.objects.update_or_create(order_id=payment.order_id, defaults={"status": "deny"})
    Payment.objects.update_or_create(order_id=payment.order_id, defaults={"status": "deny"})

    assert sent.names() == ["payment_failed"]
    assert sent.one("payment_failed").kwargs == {"previous_status": "pending"}


def test_loading_rows_from_a_fixture_sends_no_signal(sent):
    subscription = subscription_in("active")
    data = serializers.serialize("json", [subscription])
    sent.clear()

    for obj in serializers.deserialize("json", data.replace('"active"', '"paused"')):
        obj.save()

    assert Subscription.objects.get(pk=subscription.pk).status == "paused"
    assert sent.names() == []
