import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
import time_machine

from subscriptions import services, signals
from subscriptions.exceptions import InvalidTransition, PlanUnavailable, QuoteExpired
from subscriptions.models import InvoiceReason, InvoiceStatus, Subscription
from subscriptions.services.proration import remaining_fraction
from subscriptions.tests.factories import PlanFactory, SubscriptionFactory

JKT = zoneinfo.ZoneInfo("Asia/Jakarta")
pytestmark = pytest.mark.django_db


def at(year, month, day, hour=0, minute=0):
    return dt.datetime(year, month, day, hour, minute, tzinfo=JKT)


@pytest.fixture
def basic():
    return PlanFactory(name="Basic", price=Decimal("100000"))


@pytest.fixture
def pro():
    return PlanFactory(name="Pro", price=Decimal("250000"))


@pytest.fixture
def pro_yearly():
    return PlanFactory(name="Pro yearly", price=Decimal("2500000"), interval_unit="year")


def subscribed(plan, start, end, **kwargs):
    return SubscriptionFactory(
        plan=plan,
        current_period_start=start,
        current_period_end=end,
        billing_anchor=start,
        **kwargs,
    )


def pay(invoice):
    payment = services.payment_create(user=invoice.user, amount=invoice.total, invoice=invoice)
    services.payment_apply_status(payment=payment, transaction_status="settlement")


def test_remaining_fraction_is_clamped_between_zero_and_one():
    start, end = at(2026, 1, 1), at(2026, 2, 1)
    assert remaining_fraction(start, end, at(2025, 12, 1)) == 1
    assert remaining_fraction(start, end, at(2026, 3, 1)) == 0
    assert remaining_fraction(start, end, end) == 0
    assert remaining_fraction(start, start, start) == 0


def test_an_upgrade_mid_period_credits_unused_time_and_charges_the_same_share(basic, pro):
    sub = subscribed(basic, at(2026, 1, 1), at(2026, 2, 1))
    quote = services.subscription_change_plan_quote(
        subscription=sub, new_plan=pro, now=at(2026, 1, 16)
    )
    # 16 of 31 days are left.
    assert quote.kind == "upgrade"
    assert quote.credit == Decimal("51613")  # 100000 * 16/31 = 51612.90
    assert quote.charge == Decimal("129032")  # 250000 * 16/31 = 129032.26
    assert quote.amount_due == Decimal("77419")
    assert quote.next_amount == Decimal("250000")
    assert quote.new_period_start is None


def test_confirming_an_upgrade_invoices_the_quoted_difference_and_switches_when_paid(basic, pro):
    sub = subscribed(basic, at(2026, 1, 1), at(2026, 2, 1))
    now = at(2026, 1, 16)
    quote = services.subscription_change_plan_quote(subscription=sub, new_plan=pro, now=now)
    with time_machine.travel(now, tick=False):
        result = services.subscription_change_plan(
            subscription=sub, new_plan=pro, quote_token=quote.token, now=now
        )
    assert not result.applied
    invoice = result.invoice
    assert invoice.reason == InvoiceReason.PLAN_CHANGE
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.total == Decimal("77419")
    lines = list(invoice.lines.all())
    assert [line.amount for line in lines] == [Decimal("-51613"), Decimal("129032")]
    assert all(line.is_proration for line in lines)
    sub.refresh_from_db()
    assert sub.plan == basic  # not switched until paid

    changes = []
    signals.subscription_plan_changed.connect(
        lambda sender, instance, old_plan, new_plan, **kw: changes.append((old_plan, new_plan)),
        weak=False,
        dispatch_uid="test-plan-changed",
    )
    try:
        pay(invoice)
    finally:
        signals.subscription_plan_changed.disconnect(dispatch_uid="test-plan-changed")
    sub.refresh_from_db()
    assert sub.plan == pro
    assert sub.current_period_end == at(2026, 2, 1)  # the period does not move
    assert changes == [(basic, pro)]


def test_a_confirmation_within_the_validity_honours_the_quote_even_after_time_passed(basic, pro):
    sub = subscribed(basic, at(2026, 1, 1), at(2026, 2, 1))
    quoted_at = at(2026, 1, 16)
    with time_machine.travel(quoted_at, tick=False):
        quote = services.subscription_change_plan_quote(
            subscription=sub, new_plan=pro, now=quoted_at
        )
    later = quoted_at + dt.timedelta(minutes=20)
    pro.price = Decimal("300000")  # a price change after the quote does not matter either
    pro.save()
    with time_machine.travel(later, tick=False):
        result = services.subscription_change_plan(
            subscription=sub, new_plan=pro, quote_token=quote.token, now=later
        )
    assert result.invoice.total == quote.amount_due == Decimal("77419")


def test_an_expired_quote_is_refused(basic, pro):
    sub = subscribed(basic, at(2026, 1, 1), at(2026, 2, 1))
    quoted_at = at(2026, 1, 16)
    with time_machine.travel(quoted_at, tick=False):
        token = services.subscription_change_plan_quote(
            subscription=sub, new_plan=pro, now=quoted_at
        ).token
    late = quoted_at + dt.timedelta(minutes=31)
    with time_machine.travel(late, tick=False), pytest.raises(QuoteExpired):
        services.subscription_change_plan(
            subscription=sub, new_plan=pro, quote_token=token, now=late
        )
    assert not sub.invoices.exists()


def test_a_tampered_quote_is_refused(basic, pro):
    sub = subscribed(basic, at(2026, 1, 1), at(2026, 2, 1))
    token = services.subscription_change_plan_quote(
        subscription=sub, new_plan=pro, now=at(2026, 1, 16)
    ).token
    with pytest.raises(QuoteExpired):
        services.subscription_change_plan(
            subscription=sub, new_plan=pro, quote_token=token[:-2] + "xx"
        )


def test_a_quote_for_another_plan_or_subscription_does_not_apply(basic, pro):
    sub = subscribed(basic, at(2026, 1, 1), at(2026, 2, 1))
    other = subscribed(basic, at(2026, 1, 1), at(2026, 2, 1))
    enterprise = PlanFactory(price=Decimal("900000"))
    with time_machine.travel(at(2026, 1, 16), tick=False):
        token = services.subscription_change_plan_quote(
            subscription=sub, new_plan=pro, now=at(2026, 1, 16)
        ).token
        with pytest.raises(QuoteExpired):
            services.subscription_change_plan(subscription=other, new_plan=pro, quote_token=token)
        with pytest.raises(QuoteExpired):
            services.subscription_change_plan(
                subscription=sub, new_plan=enterprise, quote_token=token
            )


def test_a_quote_no_longer_applies_once_the_period_moved(basic, pro):
    sub = subscribed(basic, at(2026, 1, 1), at(2026, 2, 1))
    with time_machine.travel(at(2026, 1, 16), tick=False):
        token = services.subscription_change_plan_quote(
            subscription=sub, new_plan=pro, now=at(2026, 1, 16)
        ).token
        Subscription.objects.filter(pk=sub.pk).update(current_period_end=at(2026, 3, 1))
        with pytest.raises(QuoteExpired):
            services.subscription_change_plan(subscription=sub, new_plan=pro, quote_token=token)


def test_an_upgrade_on_the_last_day_charges_only_that_day(basic, pro):
    sub = subscribed(basic, at(2026, 1, 1), at(2026, 2, 1))
    quote = services.subscription_change_plan_quote(
        subscription=sub, new_plan=pro, now=at(2026, 1, 31)
    )
    # One of 31 days left: 100000/31 = 3225.81 credit, 250000/31 = 8064.52 charge.
    assert (quote.credit, quote.charge, quote.amount_due) == (
        Decimal("3226"),
        Decimal("8065"),
        Decimal("4839"),
    )


def test_an_upgrade_with_nothing_left_of_the_period_switches_at_once_for_nothing(basic, pro):
    sub = subscribed(basic, at(2026, 1, 1), at(2026, 2, 1))
    now = at(2026, 2, 1)
    result = services.subscription_change_plan(subscription=sub, new_plan=pro, now=now)
    assert result.applied
    assert result.invoice is None
    sub.refresh_from_db()
    assert sub.plan == pro
    assert not sub.invoices.exists()


def test_leap_february_periods_prorate_over_29_days(basic, pro):
    sub = subscribed(basic, at(2028, 2, 1), at(2028, 3, 1))
    quote = services.subscription_change_plan_quote(
        subscription=sub, new_plan=pro, now=at(2028, 2, 15)
    )
    # 15 of 29 days left.
    assert quote.credit == Decimal("51724")  # 100000 * 15/29 = 51724.14
    assert quote.charge == Decimal("129310")  # 250000 * 15/29 = 129310.34


def test_a_downgrade_is_scheduled_for_the_period_end_and_charges_nothing(basic, pro):
    sub = subscribed(pro, at(2026, 1, 31), at(2026, 2, 28))
    result = services.subscription_change_plan(
        subscription=sub, new_plan=basic, now=at(2026, 2, 10)
    )
    assert result.kind == "downgrade"
    assert result.scheduled_at == at(2026, 2, 28)
    sub.refresh_from_db()
    assert sub.plan == pro
    assert sub.scheduled_plan == basic
    assert sub.scheduled_change_at == at(2026, 2, 28)
    assert not sub.invoices.exists()


def test_a_scheduled_downgrade_takes_effect_at_renewal_on_the_anchored_calendar(basic, pro):
    sub = subscribed(pro, at(2026, 1, 31), at(2026, 2, 28))
    services.subscription_change_plan(subscription=sub, new_plan=basic, now=at(2026, 2, 10))
    invoice = services.subscription_create_renewal_invoice(subscription=sub, now=at(2026, 2, 28))
    assert invoice.total == basic.price
    assert invoice.plan == basic
    assert (invoice.period_start, invoice.period_end) == (at(2026, 2, 28), at(2026, 3, 31))
    pay(invoice)
    sub.refresh_from_db()
    assert sub.plan == basic
    assert sub.scheduled_plan is None
    assert (sub.current_period_start, sub.current_period_end) == (at(2026, 2, 28), at(2026, 3, 31))


def test_a_scheduled_downgrade_can_be_cancelled(basic, pro):
    sub = subscribed(pro, at(2026, 1, 1), at(2026, 2, 1))
    services.subscription_change_plan(subscription=sub, new_plan=basic, now=at(2026, 1, 10))
    services.subscription_cancel_scheduled_change(subscription=sub)
    sub.refresh_from_db()
    assert sub.scheduled_plan is None
    assert sub.scheduled_change_at is None
    with pytest.raises(InvalidTransition):
        services.subscription_cancel_scheduled_change(subscription=sub)


def test_monthly_to_yearly_starts_a_new_yearly_period_with_the_unused_month_credited(
    basic, pro_yearly
):
    sub = subscribed(basic, at(2026, 1, 1), at(2026, 2, 1))
    now = at(2026, 1, 16)
    quote = services.subscription_change_plan_quote(subscription=sub, new_plan=pro_yearly, now=now)
    assert quote.kind == "upgrade"
    assert quote.credit == Decimal("51613")
    assert quote.charge == Decimal("2500000")
    assert quote.amount_due == Decimal("2448387")
    assert (quote.new_period_start, quote.new_period_end) == (now, at(2027, 1, 16))
    result = services.subscription_change_plan(subscription=sub, new_plan=pro_yearly, now=now)
    pay(result.invoice)
    sub.refresh_from_db()
    assert sub.plan == pro_yearly
    assert (sub.current_period_start, sub.current_period_end) == (now, at(2027, 1, 16))


def test_yearly_to_monthly_is_a_downgrade_at_the_period_end(basic, pro_yearly):
    sub = subscribed(pro_yearly, at(2026, 1, 1), at(2027, 1, 1))
    quote = services.subscription_change_plan_quote(
        subscription=sub, new_plan=basic, now=at(2026, 6, 1)
    )
    assert quote.kind == "downgrade"
    assert quote.amount_due == 0
    assert quote.effective_at == at(2027, 1, 1)


def test_a_same_price_switch_and_a_change_during_a_trial_apply_at_once_for_nothing(basic):
    twin = PlanFactory(price=basic.price)
    sub = subscribed(basic, at(2026, 1, 1), at(2026, 2, 1))
    assert services.subscription_change_plan(
        subscription=sub, new_plan=twin, now=at(2026, 1, 5)
    ).applied
    trial = subscribed(basic, at(2026, 1, 1), at(2026, 1, 15), status="trialing")
    expensive = PlanFactory(price=Decimal("999000"))
    result = services.subscription_change_plan(
        subscription=trial, new_plan=expensive, now=at(2026, 1, 5)
    )
    assert result.applied
    assert result.kind == "switch"
    assert not trial.invoices.exists()


def test_a_newer_upgrade_supersedes_an_unpaid_one(basic, pro):
    sub = subscribed(basic, at(2026, 1, 1), at(2026, 2, 1))
    first = services.subscription_change_plan(
        subscription=sub, new_plan=pro, now=at(2026, 1, 10)
    ).invoice
    business = PlanFactory(price=Decimal("500000"))
    second = services.subscription_change_plan(
        subscription=sub, new_plan=business, now=at(2026, 1, 11)
    ).invoice
    first.refresh_from_db()
    assert first.status == InvoiceStatus.VOID
    assert second.status == InvoiceStatus.OPEN


@pytest.mark.parametrize("status", ["paused", "past_due", "cancelled", "expired"])
def test_only_an_active_or_trialing_subscription_can_change_plan(basic, pro, status):
    sub = subscribed(basic, at(2026, 1, 1), at(2026, 2, 1), status=status)
    with pytest.raises(InvalidTransition):
        services.subscription_change_plan_quote(subscription=sub, new_plan=pro, now=at(2026, 1, 5))


def test_changing_to_the_same_or_an_inactive_plan_is_refused(basic, pro):
    sub = subscribed(basic, at(2026, 1, 1), at(2026, 2, 1))
    with pytest.raises(PlanUnavailable, match="already on this plan"):
        services.subscription_change_plan_quote(subscription=sub, new_plan=basic)
    pro.is_active = False
    pro.save()
    with pytest.raises(PlanUnavailable):
        services.subscription_change_plan_quote(subscription=sub, new_plan=pro)


def test_an_unpaid_sign_up_switches_plan_with_a_new_first_invoice(basic, pro, alice):
    now = at(2026, 1, 10)
    sub = services.subscription_create(user=alice, plan=basic, now=at(2026, 1, 9))
    first = sub.invoices.get()
    quote = services.subscription_change_plan_quote(subscription=sub, new_plan=pro, now=now)
    assert (quote.kind, quote.amount_due, quote.credit) == ("switch", Decimal("250000"), 0)
    with time_machine.travel(now, tick=False):
        result = services.subscription_change_plan(
            subscription=sub, new_plan=pro, quote_token=quote.token, now=now
        )
    first.refresh_from_db()
    sub.refresh_from_db()
    assert first.status == InvoiceStatus.VOID
    assert sub.status == "pending"
    assert sub.plan == pro
    assert (sub.current_period_start, sub.current_period_end) == (now, at(2026, 2, 10))
    assert result.invoice.reason == InvoiceReason.SUBSCRIPTION_CREATE
    assert result.invoice.total == Decimal("250000")
    pay(result.invoice)
    sub.refresh_from_db()
    assert (sub.status, sub.plan) == ("active", pro)


def test_an_unpaid_sign_up_switching_to_a_free_plan_is_active_at_once(basic, alice):
    free = PlanFactory(price=Decimal("0"))
    sub = services.subscription_create(user=alice, plan=basic)
    result = services.subscription_change_plan(subscription=sub, new_plan=free)
    sub.refresh_from_db()
    assert result.applied
    assert result.invoice is None
    assert (sub.status, sub.plan) == ("active", free)
    assert not sub.invoices.payable().exists()
