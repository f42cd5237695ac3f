"""One free trial per customer (``user_trial_available``), used up once a subscription of
theirs has run, and not by a sign-up abandoned before paying (issue 15, item 8)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from subscriptions import services
from subscriptions.models import SubscriptionStatus
from subscriptions.services import user_trial_available
from subscriptions.tests.factories import PlanFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db
S = SubscriptionStatus


@pytest.fixture
def starter():
    return PlanFactory(name="Starter", price=Decimal("49000"))


@pytest.fixture
def pro():
    return PlanFactory(name="Pro", price=Decimal("149000"), trial_period_days=14)


def pay(invoice):
    payment = services.payment_create(user=invoice.user, amount=invoice.total, invoice=invoice)
    services.payment_apply_status(payment=payment, transaction_status="settlement")


def test_a_new_customer_has_the_trial(alice, pro):
    assert user_trial_available(alice)
    assert services.subscription_create(user=alice, plan=pro).status == S.TRIALING


@pytest.mark.parametrize("end", ["cancel", "expire"])
def test_a_sign_up_abandoned_before_paying_keeps_the_trial_for_another_plan(
    alice, starter, pro, end
):
    abandoned = services.subscription_create(user=alice, plan=starter)
    assert abandoned.status == S.PENDING
    if end == "cancel":
        services.subscription_cancel(subscription=abandoned, at_period_end=False)
    else:
        services.subscription_expire(subscription=abandoned)

    assert user_trial_available(alice)
    subscription = services.subscription_create(user=alice, plan=pro)
    assert subscription.status == S.TRIALING
    assert subscription.trial_end is not None


def test_an_abandoned_sign_up_of_the_same_plan_keeps_its_trial(alice, pro):
    abandoned = services.subscription_create(user=alice, plan=pro, allow_trial=False)
    services.subscription_cancel(subscription=abandoned, at_period_end=False)

    assert services.subscription_create(user=alice, plan=pro).status == S.TRIALING


def test_a_pending_sign_up_does_not_use_the_trial(alice, starter):
    services.subscription_create(user=alice, plan=starter)

    assert user_trial_available(alice)  # (a live one still blocks a second sign-up)


def test_a_trial_used_once_is_not_offered_again(alice, pro, starter):
    trial = services.subscription_create(user=alice, plan=pro)
    services.subscription_cancel(subscription=trial, at_period_end=False)

    assert not user_trial_available(alice)
    assert services.subscription_create(user=alice, plan=pro).status == S.PENDING


def test_a_paid_subscription_uses_the_trial_even_once_cancelled(alice, starter, pro):
    paid = services.subscription_create(user=alice, plan=starter)
    pay(paid.invoices.get())
    services.subscription_cancel(subscription=paid, at_period_end=False)

    assert not user_trial_available(alice)
    assert services.subscription_create(user=alice, plan=pro).status == S.PENDING


def test_a_free_plan_that_ran_uses_the_trial(alice):
    free = PlanFactory(name="Free", price=Decimal("0"))
    subscription = services.subscription_create(user=alice, plan=free)
    assert subscription.status == S.ACTIVE
    services.subscription_cancel(subscription=subscription, at_period_end=False)

    assert not user_trial_available(alice)


@pytest.mark.parametrize("status", [S.ACTIVE, S.PAST_DUE, S.PAUSED])
def test_a_subscription_that_is_running_uses_the_trial(alice, starter, status):
    SubscriptionFactory(user=alice, plan=starter, status=status)

    assert not user_trial_available(alice)


def test_someone_elses_history_does_not_count(alice, bob, pro):
    services.subscription_create(user=bob, plan=pro)

    assert user_trial_available(alice)
