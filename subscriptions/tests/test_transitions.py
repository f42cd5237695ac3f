"""Every allowed and every forbidden transition of the three tables in transitions.py.

Each pair (from, to) of the full cartesian product of statuses is driven through
the service that performs that move: an allowed move lands in the database, a
forbidden one raises a domain error (``InvalidTransition``, a ``BillingError``) or,
for gateway statuses, is ignored as stale or duplicate, and leaves the row exactly
as it was.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from subscriptions.exceptions import BillingError, InvalidTransition, InvoiceNotPayable
from subscriptions.models import (
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    Subscription,
    SubscriptionStatus,
)
from subscriptions.services import (
    invoice_issue,
    invoice_mark_overdue,
    invoice_mark_paid_offline,
    invoice_mark_uncollectible,
    invoice_void,
    payment_apply_status,
    payment_refund,
    subscription_activate,
    subscription_cancel,
    subscription_expire,
    subscription_mark_past_due,
    subscription_pause,
    subscription_reactivate,
    subscription_resume,
)
from subscriptions.tests.factories import (
    PAID_PAYMENT_STATUSES,
    InvoiceFactory,
    PaymentFactory,
    SubscriptionFactory,
)
from subscriptions.transitions import (
    INVOICE_TRANSITIONS,
    PAYMENT_TRANSITIONS,
    SUBSCRIPTION_TRANSITIONS,
    check_invoice,
    check_subscription,
    payment_can_move,
)

pytestmark = pytest.mark.django_db

S = SubscriptionStatus
I = InvoiceStatus  # noqa: E741
P = PaymentStatus


def row(instance) -> dict:
    """Every column of the row as stored now."""
    fresh = type(instance).objects.get(pk=instance.pk)
    return {f.attname: getattr(fresh, f.attname) for f in fresh._meta.concrete_fields}


def pairs(statuses):
    return list(itertools.product(statuses, statuses))


def pair_id(pair) -> str:
    return f"{pair[0]}->{pair[1]}"


# --- The tables themselves --------------------------------------------------------------


# The state machines as documented (DESIGN.md, issue #2): written out again here so
# that a change to transitions.py has to be made on purpose, in both places.
DOCUMENTED_SUBSCRIPTION_MOVES = {
    "pending": {"trialing", "active", "cancelled", "expired"},
    "trialing": {"active", "past_due", "cancelled", "expired"},
    "active": {"past_due", "paused", "cancelled", "expired"},
    "past_due": {"active", "cancelled", "expired"},
    "paused": {"active", "cancelled"},
    "cancelled": {"pending"},
    "expired": {"pending"},
}
DOCUMENTED_INVOICE_MOVES = {
    "draft": {"open", "void"},
    "open": {"paid", "overdue", "void", "uncollectible"},
    "overdue": {"paid", "void", "uncollectible"},
    "uncollectible": {"paid", "void"},
    "paid": set(),
    "void": set(),
}
DOCUMENTED_PAYMENT_MOVES = {
    "pending": {"authorize", "capture", "settlement", "deny", "cancel", "expire", "failure"},
    "authorize": {"capture", "settlement", "deny", "cancel", "expire", "failure"},
    "capture": {"settlement", "deny", "cancel", "refund", "partial_refund"},
    "settlement": {"refund", "partial_refund"},
    "partial_refund": {"partial_refund", "refund"},
    "refund": set(),
    "deny": set(),
    "cancel": set(),
    "expire": set(),
    "failure": set(),
}


@pytest.mark.parametrize(
    ("table", "documented"),
    [
        (SUBSCRIPTION_TRANSITIONS, DOCUMENTED_SUBSCRIPTION_MOVES),
        (INVOICE_TRANSITIONS, DOCUMENTED_INVOICE_MOVES),
        (PAYMENT_TRANSITIONS, DOCUMENTED_PAYMENT_MOVES),
    ],
    ids=["subscription", "invoice", "payment"],
)
def test_each_table_is_the_documented_state_machine(table, documented):
    assert {str(k): {str(t) for t in v} for k, v in table.items()} == documented


@pytest.mark.parametrize(
    ("table", "choices"),
    [
        (SUBSCRIPTION_TRANSITIONS, S),
        (INVOICE_TRANSITIONS, I),
        (PAYMENT_TRANSITIONS, P),
    ],
    ids=["subscription", "invoice", "payment"],
)
def test_each_table_lists_every_status_and_only_known_statuses(table, choices):
    assert set(table) == set(choices.values)
    for targets in table.values():
        assert targets <= set(choices.values)


def test_invalid_transition_is_a_billing_error_that_names_both_statuses():
    with pytest.raises(InvalidTransition) as caught:
        check_subscription("expired", "active")

    assert isinstance(caught.value, BillingError)
    assert caught.value.current == "expired"
    assert caught.value.target == "active"
    assert str(caught.value) == "A subscription that is expired cannot become active."


def test_no_status_may_follow_itself_except_a_further_partial_refund():
    for table in (SUBSCRIPTION_TRANSITIONS, INVOICE_TRANSITIONS):
        assert all(status not in targets for status, targets in table.items())
    assert [s for s, targets in PAYMENT_TRANSITIONS.items() if s in targets] == [P.PARTIAL_REFUND]


def test_paid_and_void_invoices_and_final_payments_are_terminal():
    assert INVOICE_TRANSITIONS[I.PAID] == INVOICE_TRANSITIONS[I.VOID] == frozenset()
    for final in (P.REFUND, P.DENY, P.CANCEL, P.EXPIRE, P.FAILURE):
        assert PAYMENT_TRANSITIONS[final] == frozenset()


# --- Subscriptions ----------------------------------------------------------------------


def subscription_in(status: str) -> Subscription:
    now = timezone.now()
    extra = {
        S.TRIALING: {"trial_end": now + dt.timedelta(days=14)},
        S.PAUSED: {"paused_at": now - dt.timedelta(days=2)},
        S.CANCELLED: {"cancelled_at": now, "ended_at": now},
        S.EXPIRED: {"ended_at": now},
    }.get(status, {})
    return SubscriptionFactory(status=status, **extra)


def move_subscription(subscription: Subscription, target: str) -> Subscription:
    """Move ``subscription`` to ``target`` with the service that does it."""
    if target == S.PENDING:
        return subscription_reactivate(subscription=subscription)
    if target == S.ACTIVE:
        if subscription.status == S.PAUSED:
            return subscription_resume(subscription=subscription)
        return subscription_activate(subscription=subscription)
    if target == S.PAST_DUE:
        return subscription_mark_past_due(subscription=subscription)
    if target == S.PAUSED:
        return subscription_pause(subscription=subscription)
    if target == S.CANCELLED:
        return subscription_cancel(subscription=subscription, at_period_end=False)
    if target == S.EXPIRED:
        return subscription_expire(subscription=subscription)
    raise AssertionError(f"no service moves a subscription to {target}")


SUBSCRIPTION_PAIRS = [pair for pair in pairs(S.values) if pair[1] != S.TRIALING]


@pytest.mark.parametrize(
    ("source", "target"),
    [p for p in SUBSCRIPTION_PAIRS if p[1] in SUBSCRIPTION_TRANSITIONS[p[0]]],
    ids=pair_id,
)
def test_an_allowed_subscription_transition_is_performed_by_its_service(source, target):
    subscription = subscription_in(source)

    result = move_subscription(subscription, target)

    assert result.status == target
    assert Subscription.objects.get(pk=subscription.pk).status == target


@pytest.mark.parametrize(
    ("source", "target"),
    [p for p in SUBSCRIPTION_PAIRS if p[1] not in SUBSCRIPTION_TRANSITIONS[p[0]]],
    ids=pair_id,
)
def test_a_forbidden_subscription_transition_raises_and_leaves_the_row_unchanged(source, target):
    subscription = subscription_in(source)
    before = row(subscription)

    # A caller that goes on after a refusal gives the service a savepoint to roll back to.
    with pytest.raises(InvalidTransition) as caught, transaction.atomic():
        move_subscription(subscription, target)

    assert isinstance(caught.value, BillingError)
    assert row(subscription) == before


@pytest.mark.parametrize(("source", "target"), pairs(S.values), ids=pair_id)
def test_the_subscription_table_check_agrees_with_the_table(source, target):
    if target in SUBSCRIPTION_TRANSITIONS[source]:
        check_subscription(source, target)
    else:
        with pytest.raises(InvalidTransition):
            check_subscription(source, target)


def test_only_a_pending_subscription_may_become_a_trial():
    # No service moves an existing subscription into a trial (a trial is how one is
    # created); the table allows it from pending only.
    assert [s for s, targets in SUBSCRIPTION_TRANSITIONS.items() if S.TRIALING in targets] == [
        S.PENDING
    ]


@pytest.mark.parametrize(
    "source",
    [
        S.PENDING,
        S.TRIALING,
        S.PAST_DUE,
        S.ACTIVE,
        S.CANCELLED,
        S.EXPIRED,
    ],
)
def test_only_a_paused_subscription_can_be_resumed(source):
    subscription = subscription_in(source)
    before = row(subscription)

    with pytest.raises(InvalidTransition):
        subscription_resume(subscription=subscription)

    assert row(subscription) == before


def test_a_paused_subscription_is_resumed_not_activated():
    subscription = subscription_in(S.PAUSED)
    before = row(subscription)

    with pytest.raises(InvalidTransition), transaction.atomic():
        subscription_activate(subscription=subscription)

    assert row(subscription) == before


@pytest.mark.parametrize("source", [S.PENDING, S.PAST_DUE, S.PAUSED, S.CANCELLED, S.EXPIRED])
def test_only_an_active_or_trialing_subscription_can_be_cancelled_at_the_period_end(source):
    subscription = subscription_in(source)
    before = row(subscription)

    with pytest.raises(InvalidTransition):
        subscription_cancel(subscription=subscription, at_period_end=True)

    assert row(subscription) == before


# --- Invoices ---------------------------------------------------------------------------

INVOICE_SERVICES = {
    I.OPEN: lambda invoice: invoice_issue(invoice=invoice),
    I.PAID: lambda invoice: invoice_mark_paid_offline(invoice=invoice, reference="BANK-1").invoice,
    I.OVERDUE: lambda invoice: invoice_mark_overdue(invoice=invoice),
    I.VOID: lambda invoice: invoice_void(invoice=invoice, reason="Issued by mistake"),
    I.UNCOLLECTIBLE: lambda invoice: invoice_mark_uncollectible(invoice=invoice),
}
INVOICE_PAIRS = [pair for pair in pairs(I.values) if pair[1] != I.DRAFT]


def _allowed_invoice_pairs():
    for source, target in INVOICE_PAIRS:
        if target not in INVOICE_TRANSITIONS[source]:
            continue
        yield pytest.param(source, target, id=f"{source}->{target}")


@pytest.mark.parametrize(("source", "target"), list(_allowed_invoice_pairs()))
def test_an_allowed_invoice_transition_is_performed_by_its_service(source, target):
    invoice = InvoiceFactory(status=source)

    result = INVOICE_SERVICES[target](invoice)

    assert result.status == target
    stored = Invoice.objects.get(pk=invoice.pk)
    assert stored.status == target
    if target != I.VOID:
        assert stored.number  # an invoice that can be paid or chased has a number


@pytest.mark.parametrize(
    ("source", "target"),
    [p for p in INVOICE_PAIRS if p[1] not in INVOICE_TRANSITIONS[p[0]]],
    ids=pair_id,
)
def test_a_forbidden_invoice_transition_raises_and_leaves_the_row_unchanged(source, target):
    invoice = InvoiceFactory(status=source)
    before = row(invoice)
    # Paying an unpayable invoice is refused with its own, more precise domain error.
    expected = InvoiceNotPayable if target == I.PAID else InvalidTransition

    with pytest.raises(expected) as caught:
        INVOICE_SERVICES[target](invoice)

    assert isinstance(caught.value, BillingError)
    assert row(invoice) == before


@pytest.mark.parametrize(("source", "target"), pairs(I.values), ids=pair_id)
def test_the_invoice_table_check_agrees_with_the_table(source, target):
    if target in INVOICE_TRANSITIONS[source]:
        check_invoice(source, target)
    else:
        with pytest.raises(InvalidTransition):
            check_invoice(source, target)


def test_issuing_a_draft_gives_it_a_number_and_a_due_date():
    invoice = InvoiceFactory(status=I.DRAFT)
    assert invoice.number is None

    issued = invoice_issue(invoice=invoice)

    assert issued.number
    assert issued.issued_at is not None
    assert issued.due_date > issued.issued_at


# --- Payments ---------------------------------------------------------------------------


def apply_kwargs(payment: Payment, target: str) -> dict:
    """What a gateway notification for ``target`` carries: refunds name the new total."""
    if target == P.PARTIAL_REFUND:
        return {"refunded_amount": payment.refunded_amount + Decimal("10000")}
    return {}


def expected_outcome(source: str, target: str) -> str:
    # The factory's capture is paid (fraud accept): collected money is given back by a
    # refund, so a failure status for it is stale, though the table allows it for a
    # capture still under a fraud challenge.
    if source in PAID_PAYMENT_STATUSES and target in ("deny", "cancel", "expire", "failure"):
        return "stale"
    if target in PAYMENT_TRANSITIONS[source]:
        return "applied"
    return "duplicate" if source == target else "stale"


@pytest.mark.parametrize(("source", "target"), pairs(P.values), ids=pair_id)
def test_applying_a_gateway_status_follows_the_payment_table(source, target):
    payment = PaymentFactory(status=source)
    before = row(payment)

    update = payment_apply_status(
        payment=payment, transaction_status=target, **apply_kwargs(payment, target)
    )

    assert update.outcome == expected_outcome(source, target)
    assert update.changed is (update.outcome == "applied")
    after = row(payment)
    if update.outcome == "applied":
        assert after["status"] == target
    else:
        assert after == before


@pytest.mark.parametrize(("source", "target"), pairs(P.values), ids=pair_id)
def test_payment_can_move_agrees_with_the_table(source, target):
    assert payment_can_move(source, target) is (target in PAYMENT_TRANSITIONS[source])


def test_a_capture_whose_fraud_check_is_decided_later_is_applied_not_a_duplicate():
    payment = PaymentFactory(status=P.PENDING)
    payment_apply_status(payment=payment, transaction_status=P.CAPTURE, fraud_status="challenge")

    update = payment_apply_status(
        payment=payment, transaction_status=P.CAPTURE, fraud_status="accept"
    )

    assert update.outcome == "applied"
    assert Payment.objects.get(pk=payment.pk).is_paid is True


def test_an_unknown_gateway_status_is_refused():
    payment = PaymentFactory()
    before = row(payment)

    with pytest.raises(BillingError), transaction.atomic():
        payment_apply_status(payment=payment, transaction_status="chargeback")

    assert row(payment) == before


@pytest.mark.parametrize(
    ("source", "allowed"),
    [
        (P.CAPTURE, True),
        (P.SETTLEMENT, True),
        (P.PARTIAL_REFUND, True),
        (P.PENDING, False),
        (P.AUTHORIZE, False),
        (P.REFUND, False),
        (P.DENY, False),
        (P.CANCEL, False),
        (P.EXPIRE, False),
        (P.FAILURE, False),
    ],
)
def test_only_a_paid_payment_with_money_left_can_be_refunded(source, allowed):
    payment = PaymentFactory(status=source)
    before = row(payment)

    if allowed:
        refunded = payment_refund(
            payment=payment, amount=Decimal("10000"), reason="test", destination="wallet"
        ).payment
        assert refunded.status == P.PARTIAL_REFUND
        assert refunded.refunded_amount == before["refunded_amount"] + Decimal("10000")
    else:
        with pytest.raises(BillingError):
            payment_refund(
                payment=payment, amount=Decimal("10000"), reason="test", destination="wallet"
            )
        assert row(payment) == before


def test_a_challenged_capture_can_still_be_denied():
    payment = PaymentFactory(status=P.PENDING)
    payment_apply_status(payment=payment, transaction_status=P.CAPTURE, fraud_status="challenge")

    update = payment_apply_status(payment=payment, transaction_status=P.DENY, fraud_status="deny")

    assert update.outcome == "applied"
    stored = Payment.objects.get(pk=payment.pk)
    assert (stored.status, stored.is_paid) == (P.DENY, False)
