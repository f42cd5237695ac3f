"""What the plans page and its dialogs call a plan change, from the service's own
decision (issue 15): labels, headings, sentences and "Due today" that agree with what
confirming does; yearly savings; the trial kept after an abandoned sign-up; a pending
sign-up's cancel page; dialogs that open on their heading."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from portal import presenters
from subscriptions.models import Plan, SubscriptionStatus
from subscriptions.services import (
    subscription_cancel,
    subscription_change_plan,
    subscription_change_plan_quote,
    subscription_create,
    subscription_expire,
)
from subscriptions.tests.factories import PlanFactory, SubscriptionFactory

JAKARTA = ZoneInfo("Asia/Jakarta")
PLANS = "/billing/plans/"
S = SubscriptionStatus


def at(year, month, day, hour=10):
    return dt.datetime(year, month, day, hour, tzinfo=JAKARTA)


NOW = at(2026, 12, 18)


def text(response) -> str:
    return unescape(response.content.decode()).replace("\u00a0", " ")


def plain(value: str) -> str:
    """A presenter's sentence with its non-breaking spaces as spaces."""
    return value.replace("\u00a0", " ")


def offer(body: str, slug: str) -> str:
    match = re.search(rf'data-testid="plan-{slug}".*?</li>', body, re.S)
    assert match, f"no card for {slug}"
    return match.group(0)


@pytest.fixture
def now(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


@pytest.fixture
def tiers(db):
    """The demo catalogue: Starter, Pro (14-day trial) and Business, monthly and
    yearly (ten months' worth)."""
    made = {}
    for order, (name, monthly, trial) in enumerate(
        (("Starter", 49000, 0), ("Pro", 149000, 14), ("Business", 499000, 14))
    ):
        for offset, (unit, price) in enumerate((("month", monthly), ("year", monthly * 10))):
            slug = f"{name.lower()}-{unit}ly"
            made[slug] = PlanFactory(
                name=name,
                slug=slug,
                price=Decimal(price),
                interval_unit=unit,
                trial_period_days=trial,
                sort_order=10 * order + offset,
            )
    return made


@pytest.fixture
def signed_in(client, alice, now):
    client.force_login(alice)
    return client


def on(user, plan) -> object:
    """``user`` on ``plan``, active, in the period 3 Dec 2026 to 3 Jan 2027."""
    return SubscriptionFactory(
        user=user,
        plan=plan,
        current_period_start=at(2026, 12, 3),
        current_period_end=at(2027, 1, 3),
        billing_anchor=at(2026, 12, 3),
    )


# --- the label decision ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "target", "label", "title"),
    [
        ("business-monthly", "starter-yearly", "Downgrade", "Downgrade to Starter (yearly)"),
        ("business-monthly", "pro-yearly", "Downgrade", "Downgrade to Pro (yearly)"),
        ("business-monthly", "business-yearly", "Switch to yearly", "Switch to Business (yearly)"),
        (
            "business-yearly",
            "business-monthly",
            "Switch to monthly",
            "Switch to Business (monthly)",
        ),
        ("pro-monthly", "business-yearly", "Upgrade", "Upgrade to Business (yearly)"),
        ("pro-monthly", "business-monthly", "Upgrade", "Upgrade to Business"),
        ("pro-monthly", "starter-monthly", "Downgrade", "Downgrade to Starter"),
    ],
)
def test_the_card_and_the_dialog_name_the_change_from_the_same_quote(
    alice, tiers, now, current, target, label, title
):
    subscription = on(alice, tiers[current])
    new_plan = tiers[target]
    quote = subscription_change_plan_quote(subscription=subscription, new_plan=new_plan)

    assert presenters.change_label(quote, new_plan, subscription.plan) == label
    summary = presenters.quote_summary(quote, new_plan, subscription.plan)
    assert summary.title == title
    # "Due today" is what confirming invoices now; nothing when it waits.
    assert summary.has_charge == (quote.amount_due > 0)
    if quote.at_period_end:
        assert plain(summary.due_now) == "Rp 0"
        assert "nothing charged now" in summary.effect
        assert summary.confirm_label.startswith("Schedule the")
    else:
        assert "nothing charged now" not in summary.effect or not summary.has_charge


def test_a_cheaper_tier_on_a_longer_period_says_fewer_features_at_the_period_end(alice, tiers, now):
    subscription = on(alice, tiers["business-monthly"])
    quote = subscription_change_plan_quote(
        subscription=subscription, new_plan=tiers["starter-yearly"]
    )

    summary = presenters.quote_summary(quote, tiers["starter-yearly"], subscription.plan)

    assert plain(summary.effect) == (
        "Takes effect on 3 Jan 2027, nothing charged now. You keep Business (monthly) until "
        "then; Starter (yearly) has fewer features."
    )
    assert plain(summary.due_now) == "Rp 0"
    assert plain(summary.then) == "Then Rp 490.000 every year, from 3 Jan 2027."
    assert summary.confirm_label == "Schedule the downgrade"


def test_the_same_plan_yearly_is_a_switch_paid_now(alice, tiers, now):
    subscription = on(alice, tiers["business-monthly"])
    quote = subscription_change_plan_quote(
        subscription=subscription, new_plan=tiers["business-yearly"]
    )

    summary = presenters.quote_summary(quote, tiers["business-yearly"], subscription.plan)

    assert "a new billing period starts today" in summary.effect
    assert "Your features stay the same." in summary.effect
    assert plain(summary.due_now) == f"Rp {quote.amount_due:,.0f}".replace(",", ".")
    assert plain(summary.confirm_label) == f"Switch and pay {plain(summary.due_now)}"


def test_the_same_plan_monthly_from_yearly_is_a_switch_at_the_period_end(alice, tiers, now):
    subscription = on(alice, tiers["business-yearly"])
    quote = subscription_change_plan_quote(
        subscription=subscription, new_plan=tiers["business-monthly"]
    )

    summary = presenters.quote_summary(quote, tiers["business-monthly"], subscription.plan)

    assert plain(summary.effect) == (
        "Takes effect on 3 Jan 2027, when your current period ends; nothing charged now. "
        "Your features stay the same."
    )
    assert summary.confirm_label == "Schedule the switch"


def test_on_business_monthly_the_yearly_tab_calls_nothing_cheaper_an_upgrade(
    signed_in, alice, tiers
):
    on(alice, tiers["business-monthly"])

    body = text(signed_in.get(PLANS, {"interval": "year"}))

    assert "Downgrade" in offer(body, "starter-yearly")
    assert "Downgrade" in offer(body, "pro-yearly")
    assert "Switch to yearly" in offer(body, "business-yearly")
    assert "Upgrade" not in body.split('id="plan-grid"')[1]


def test_confirming_the_yearly_downgrade_schedules_it_and_says_so(signed_in, alice, tiers):
    subscription = on(alice, tiers["business-monthly"])
    url = reverse("portal:plan_change", args=["starter-yearly"])
    token = re.search(r'name="quote_token" value="([^"]+)"', text(signed_in.get(url))).group(1)

    response = signed_in.post(url, {"quote_token": token}, follow=True)

    subscription.refresh_from_db()
    assert subscription.plan == tiers["business-monthly"]
    assert subscription.scheduled_plan == tiers["starter-yearly"]
    assert "Your plan switches to Starter (yearly) on 3 Jan 2027. Nothing is charged now." in text(
        response
    )


def test_review_and_pay_names_a_switch_of_period_a_switch(signed_in, alice, tiers):
    subscription = on(alice, tiers["business-monthly"])
    result = subscription_change_plan(subscription=subscription, new_plan=tiers["business-yearly"])

    body = text(signed_in.get(reverse("portal:subscription_pay", args=[result.invoice.pk])))

    assert "Switch to Business (yearly)" in body
    assert "Upgrade to" not in body


# --- yearly savings -------------------------------------------------------------------------


def test_a_yearly_price_shows_its_saving_against_the_monthly_twin(tiers):
    catalogue = list(tiers.values())

    saving = presenters.plan_saving(tiers["starter-yearly"], catalogue)

    assert saving == presenters.PlanSaving(
        badge="Save 17%", note="2 months free compared with paying monthly"
    )
    assert presenters.plan_saving(tiers["starter-monthly"], catalogue) is None


def test_a_saving_that_is_not_whole_months_is_said_as_an_amount(db):
    monthly = PlanFactory(name="Team", price=Decimal("150000"))
    yearly = PlanFactory(name="Team", price=Decimal("1490000"), interval_unit="year")

    saving = presenters.plan_saving(yearly, [monthly, yearly])

    # 12 x 150.000 = 1.800.000: 310.000 less, 17.2%.
    assert saving.badge == "Save 17%"
    assert plain(saving.note) == "Rp 310.000 less than paying monthly"


@pytest.mark.parametrize(
    "monthly",
    [
        None,  # no monthly twin
        Plan(name="Solo", price=Decimal("40000"), interval_unit="month", interval=1),  # dearer
        Plan(name="Solo", price=Decimal("50000"), currency="USD", interval_unit="month"),
    ],
)
def test_no_saving_is_claimed_without_a_cheaper_monthly_twin(monthly):
    yearly = Plan(pk=1, name="Solo", price=Decimal("490000"), interval_unit="year", interval=1)
    if monthly is not None:
        monthly.pk = 2

    assert presenters.plan_saving(yearly, [p for p in (yearly, monthly) if p]) is None


def test_the_yearly_tab_shows_the_saving(signed_in, tiers):
    body = text(signed_in.get(PLANS, {"interval": "year"}))

    card = offer(body, "pro-yearly")
    assert 'data-testid="plan-saving"' in card
    assert "Save 17%" in card
    assert "2 months free compared with paying monthly" in card
    assert 'data-testid="plan-saving"' not in text(signed_in.get(PLANS))


# --- the trial after an abandoned sign-up ---------------------------------------------------


@pytest.mark.parametrize("end", ["cancel", "expire"])
def test_after_abandoning_a_starter_sign_up_pro_still_offers_its_trial(
    signed_in, alice, tiers, end
):
    abandoned = subscription_create(user=alice, plan=tiers["starter-monthly"])
    if end == "cancel":
        subscription_cancel(subscription=abandoned, at_period_end=False)
    else:
        subscription_expire(subscription=abandoned)

    body = text(signed_in.get(PLANS))

    assert "Start 14-day trial" in offer(body, "pro-monthly")
    assert "Resubscribe" not in offer(body, "starter-monthly")  # never subscribed
    assert "Subscribe" in offer(body, "starter-monthly")

    signed_in.post(reverse("portal:subscribe", args=["pro-monthly"]))
    assert alice.subscriptions.get(plan=tiers["pro-monthly"]).status == S.TRIALING


def test_an_abandoned_sign_up_of_pro_itself_still_gets_its_trial(signed_in, alice, tiers):
    abandoned = subscription_create(user=alice, plan=tiers["pro-monthly"], allow_trial=False)
    subscription_cancel(subscription=abandoned, at_period_end=False)

    assert "Start 14-day trial" in offer(text(signed_in.get(PLANS)), "pro-monthly")
    signed_in.post(reverse("portal:subscribe", args=["pro-monthly"]))

    started = alice.subscriptions.exclude(pk=abandoned.pk).get()
    assert started.status == S.TRIALING


# --- cancelling a sign-up -------------------------------------------------------------------


def test_cancel_this_sign_up_is_titled_for_it(signed_in, alice, tiers):
    subscription = subscription_create(user=alice, plan=tiers["starter-monthly"])
    url = reverse("portal:subscription_cancel_confirm", args=[subscription.pk])

    body = text(signed_in.get(url))

    assert "<title>Cancel this sign-up" in body
    assert re.search(r'<h2 id="dialog-title"[^>]*>Cancel this sign-up</h2>', body)
    assert "Cancel your subscription" not in body
    assert "access ends immediately" not in body  # there was no access to end
    assert "Cancel sign-up" in body
    assert 'type="hidden" name="when" value="now"' in body

    response = signed_in.post(
        reverse("portal:subscription_cancel", args=[subscription.pk]), {"when": "now"}, follow=True
    )
    subscription.refresh_from_db()
    assert subscription.status == S.CANCELLED
    assert "Your sign-up is cancelled." in text(response)


def test_a_paying_subscriber_still_cancels_their_subscription(signed_in, alice, tiers):
    subscription = on(alice, tiers["pro-monthly"])

    body = text(
        signed_in.get(reverse("portal:subscription_cancel_confirm", args=[subscription.pk]))
    )

    assert "Cancel your subscription" in body
    assert "Cancel this sign-up" not in body


def test_the_dashboard_offers_to_cancel_a_pending_sign_up_by_that_name(signed_in, alice, tiers):
    subscription_create(user=alice, plan=tiers["starter-monthly"])

    body = text(signed_in.get(reverse("portal:dashboard")))

    assert "Cancel this sign-up" in body


# --- dialogs open on their heading ----------------------------------------------------------


def test_confirmations_have_a_focusable_heading_and_no_autofocused_commit_button(
    signed_in, alice, tiers
):
    subscription = on(alice, tiers["pro-monthly"])
    HTMX = {"HX-Request": "true"}
    for url in (
        reverse("portal:plan_change", args=["business-monthly"]),
        reverse("portal:subscription_cancel_confirm", args=[subscription.pk]),
        reverse("portal:subscription_pause_confirm", args=[subscription.pk]),
    ):
        body = text(signed_in.get(url, headers=HTMX))
        assert re.search(r'<h2 id="dialog-title" tabindex="-1"', body), url
        assert not re.search(r"<button[^>]*type=\"submit\"[^>]*autofocus", body), url
    subscription.status = S.PAUSED
    subscription.save()
    body = text(
        signed_in.get(
            reverse("portal:subscription_resume_confirm", args=[subscription.pk]), headers=HTMX
        )
    )
    assert "Resume now" in body
    assert "autofocus" not in body
