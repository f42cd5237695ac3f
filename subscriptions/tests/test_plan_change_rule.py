"""What a plan change is and when it takes effect (``plan_change_rule``), and that the
quote and the confirmation do what it says (issue 15, item 1).

Tiers are compared by their monthly rate (a yearly price counted a twelfth per
month); the same plan name on another period is the same tier.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest

from subscriptions import services
from subscriptions.models import Plan
from subscriptions.services.proration import (
    PlanChangeRule,
    ProrationQuote,
    monthly_rate,
    plan_change_rule,
)
from subscriptions.tests.factories import PlanFactory, SubscriptionFactory

JKT = zoneinfo.ZoneInfo("Asia/Jakarta")


def at(year, month, day):
    return dt.datetime(year, month, day, tzinfo=JKT)


def plan(name: str, price: int, unit: str = "month") -> Plan:
    return Plan(name=name, price=Decimal(price), interval_unit=unit, interval=1)


STARTER_M, STARTER_Y = plan("Starter", 49000), plan("Starter", 490000, "year")
PRO_M, PRO_Y = plan("Pro", 149000), plan("Pro", 1490000, "year")
BUSINESS_M, BUSINESS_Y = plan("Business", 499000), plan("Business", 4990000, "year")

UPGRADE_NOW = PlanChangeRule("upgrade", at_period_end=False, new_period=False)
UPGRADE_NEW_PERIOD = PlanChangeRule("upgrade", at_period_end=False, new_period=True)
DOWNGRADE_LATER = PlanChangeRule("downgrade", at_period_end=True, new_period=False)
DOWNGRADE_LATER_LONGER = PlanChangeRule("downgrade", at_period_end=True, new_period=True)
SWITCH_NOW = PlanChangeRule("switch", at_period_end=False, new_period=False)
SWITCH_NEW_PERIOD = PlanChangeRule("switch", at_period_end=False, new_period=True)
SWITCH_LATER = PlanChangeRule("switch", at_period_end=True, new_period=False)


def test_a_yearly_price_counts_a_twelfth_per_month():
    assert monthly_rate(BUSINESS_M) == Decimal(499000)
    assert round(monthly_rate(STARTER_Y)) == 40833
    assert monthly_rate(plan("Quarterly", 300000, "month")) == 300000


@pytest.mark.parametrize(
    ("old", "new", "rule"),
    [
        # The issue: on Business monthly, Starter yearly costs more than a month of
        # Business but is a lower tier: a downgrade at the period end, not an upgrade.
        (BUSINESS_M, STARTER_Y, DOWNGRADE_LATER_LONGER),
        (BUSINESS_M, PRO_Y, DOWNGRADE_LATER_LONGER),
        (BUSINESS_M, PRO_M, DOWNGRADE_LATER),
        (BUSINESS_Y, STARTER_M, DOWNGRADE_LATER),
        (PRO_Y, STARTER_Y, DOWNGRADE_LATER),
        # A higher tier is an upgrade now, whatever the period.
        (STARTER_M, PRO_M, UPGRADE_NOW),
        (PRO_M, BUSINESS_Y, UPGRADE_NEW_PERIOD),
        (STARTER_M, PRO_Y, UPGRADE_NEW_PERIOD),
        (PRO_Y, BUSINESS_M, UPGRADE_NOW),
        # The same plan on another period: a switch, longer now, shorter later.
        (BUSINESS_M, BUSINESS_Y, SWITCH_NEW_PERIOD),
        (PRO_Y, PRO_M, SWITCH_LATER),
        # Another plan at the same monthly rate: a switch now.
        (PRO_M, plan("Pro Plus", 149000), SWITCH_NOW),
    ],
)
def test_what_a_change_is_and_when(old, new, rule):
    assert plan_change_rule(old, new) == rule


@pytest.fixture
def tiers(db):
    made = {}
    for name, monthly in (("Starter", 49000), ("Pro", 149000), ("Business", 499000)):
        for unit, price in (("month", monthly), ("year", monthly * 10)):
            made[f"{name.lower()}-{unit}ly"] = PlanFactory(
                name=name, price=Decimal(price), interval_unit=unit
            )
    return made


def subscribed(plan, start, end):
    return SubscriptionFactory(
        plan=plan, current_period_start=start, current_period_end=end, billing_anchor=start
    )


@pytest.mark.django_db
def test_business_monthly_to_starter_yearly_is_scheduled_and_charges_nothing(tiers):
    sub = subscribed(tiers["business-monthly"], at(2026, 12, 3), at(2027, 1, 3))
    now = at(2026, 12, 18)

    quote = services.subscription_change_plan_quote(
        subscription=sub, new_plan=tiers["starter-yearly"], now=now
    )
    assert (quote.kind, quote.at_period_end, quote.amount_due) == ("downgrade", True, 0)
    assert quote.effective_at == at(2027, 1, 3)

    result = services.subscription_change_plan(
        subscription=sub, new_plan=tiers["starter-yearly"], quote_token=quote.token, now=now
    )
    sub.refresh_from_db()
    assert result.invoice is None
    assert result.scheduled_at == at(2027, 1, 3)
    assert sub.plan == tiers["business-monthly"]  # Business's features until then
    assert sub.scheduled_plan == tiers["starter-yearly"]

    # At the period end the renewal bills a year of Starter.
    start, end, plan_then = services.subscriptions.renewal_period(sub)
    assert (start, end, plan_then) == (at(2027, 1, 3), at(2028, 1, 3), tiers["starter-yearly"])


@pytest.mark.django_db
def test_the_same_plan_yearly_is_a_switch_paid_now_for_a_new_year(tiers):
    sub = subscribed(tiers["business-monthly"], at(2026, 12, 3), at(2027, 1, 3))
    now = at(2026, 12, 18)

    quote = services.subscription_change_plan_quote(
        subscription=sub, new_plan=tiers["business-yearly"], now=now
    )
    assert (quote.kind, quote.at_period_end) == ("switch", False)
    assert quote.charge == Decimal("4990000")
    assert quote.credit == Decimal("257548")  # 499.000 * 16/31 days left
    assert (quote.new_period_start, quote.new_period_end) == (now, at(2027, 12, 18))
    result = services.subscription_change_plan(
        subscription=sub, new_plan=tiers["business-yearly"], quote_token=quote.token, now=now
    )
    assert result.invoice.total == quote.amount_due
    assert result.invoice.metadata["kind"] == "switch"


@pytest.mark.django_db
def test_the_same_plan_monthly_from_yearly_waits_for_the_year_to_end(tiers):
    sub = subscribed(tiers["pro-yearly"], at(2026, 6, 1), at(2027, 6, 1))

    result = services.subscription_change_plan(
        subscription=sub, new_plan=tiers["pro-monthly"], now=at(2026, 12, 18)
    )

    assert (result.kind, result.scheduled_at, result.invoice) == ("switch", at(2027, 6, 1), None)


@pytest.mark.django_db
def test_a_higher_tier_on_a_shorter_period_is_charged_its_monthly_rate_for_the_rest(tiers):
    # Half a year left of Pro yearly (1.490.000), upgrading to Business monthly (499.000).
    sub = subscribed(tiers["pro-yearly"], at(2026, 1, 1), at(2027, 1, 1))
    now = at(2026, 7, 2) + dt.timedelta(hours=12)
    quote = services.subscription_change_plan_quote(
        subscription=sub, new_plan=tiers["business-monthly"], now=now
    )
    fraction = Decimal(int((at(2027, 1, 1) - now).total_seconds())) / Decimal(365 * 86400)

    assert (quote.kind, quote.at_period_end, quote.new_period_start) == ("upgrade", False, None)
    assert quote.credit == round(Decimal(1490000) * fraction)
    assert quote.charge == round(Decimal(499000) * 12 * fraction)
    result = services.subscription_change_plan(
        subscription=sub, new_plan=tiers["business-monthly"], now=now
    )
    assert result.invoice.total == quote.amount_due
    payment = services.payment_create(
        user=sub.user, amount=result.invoice.total, invoice=result.invoice
    )
    services.payment_apply_status(payment=payment, transaction_status="settlement")
    sub.refresh_from_db()
    assert sub.plan == tiers["business-monthly"]
    assert sub.current_period_end == at(2027, 1, 1)  # the paid-for period is kept


@pytest.mark.django_db
def test_a_quote_signed_before_at_period_end_existed_keeps_its_meaning(tiers):
    sub = subscribed(tiers["pro-monthly"], at(2026, 12, 3), at(2027, 1, 3))
    quote = services.subscription_change_plan_quote(
        subscription=sub, new_plan=tiers["starter-monthly"], now=at(2026, 12, 18)
    )
    from django.core import signing

    from subscriptions.services.proration import SALT

    data = signing.loads(quote.token, salt=SALT)
    del data["at_period_end"], data["sign_up"]
    old_token = signing.dumps(data, salt=SALT, compress=True)

    loaded = ProrationQuote.from_token(
        old_token, subscription=sub, new_plan=tiers["starter-monthly"], now=at(2026, 12, 18)
    )
    assert loaded.at_period_end
