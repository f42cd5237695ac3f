"""The plans page, the plan-change quote and its confirmation, subscribing, and the
review-and-pay page: who may use them, what they say, and that the price a customer
is shown is the price they are charged."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse

from subscriptions.models import Invoice, InvoiceReason, Subscription, SubscriptionStatus
from subscriptions.services import (
    payment_apply_status,
    payment_create,
    subscription_cancel,
    subscription_change_plan_quote,
    subscription_create,
)
from subscriptions.tests.factories import PlanFactory, SubscriptionFactory
from wallets.tests.factories import funded_wallet

JAKARTA = ZoneInfo("Asia/Jakarta")
PLANS = "/billing/plans/"


def at(year, month, day, hour=10, minute=0):
    return dt.datetime(year, month, day, hour, minute, tzinfo=JAKARTA)


# 18 Dec 2026, 10:00 in Jakarta: 16 of the 31 days of the period 3 Dec to 3 Jan are left.
NOW = at(2026, 12, 18)


def text(response) -> str:
    """The response's HTML with entities decoded and non-breaking spaces as spaces."""
    return unescape(response.content.decode()).replace("\u00a0", " ")


def change_url(plan) -> str:
    return reverse("portal:plan_change", args=[plan.slug])


def token_in(response) -> str:
    match = re.search(r'name="quote_token" value="([^"]+)"', response.content.decode())
    assert match, "the page has no quote to confirm"
    return match.group(1)


HTMX = {"HX-Request": "true"}


@pytest.fixture
def now(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


@pytest.fixture
def starter(db):
    return PlanFactory(
        name="Starter",
        slug="starter-monthly",
        price=Decimal("49000"),
        features={"max_projects": 3, "support": "email"},
        sort_order=10,
    )


@pytest.fixture
def pro(db):
    return PlanFactory(
        name="Pro",
        slug="pro-monthly",
        price=Decimal("150000"),
        trial_period_days=14,
        features={"max_projects": 20, "api_access": True, "audit_log": False},
        sort_order=20,
    )


@pytest.fixture
def business(db):
    return PlanFactory(
        name="Business",
        slug="business-monthly",
        price=Decimal("499000"),
        features={"max_projects": -1, "sso": True},
        sort_order=30,
    )


@pytest.fixture
def pro_yearly(db):
    return PlanFactory(
        name="Pro",
        slug="pro-yearly",
        price=Decimal("1490000"),
        interval_unit="year",
        sort_order=21,
    )


@pytest.fixture
def catalogue(starter, pro, business, pro_yearly):
    return {"starter": starter, "pro": pro, "business": business, "pro_yearly": pro_yearly}


@pytest.fixture
def signed_in(client, alice, now):
    # Signed in at NOW: a session started in real time would have expired by then.
    client.force_login(alice)
    return client


@pytest.fixture
def on_pro(alice, pro, now):
    """Alice on Pro, active, in the period 3 Dec 2026 to 3 Jan 2027."""
    return SubscriptionFactory(
        user=alice,
        plan=pro,
        current_period_start=at(2026, 12, 3),
        current_period_end=at(2027, 1, 3),
        billing_anchor=at(2026, 12, 3),
    )


def offer(body: str, slug: str) -> str:
    """The HTML of one plan's card on the plans page."""
    match = re.search(rf'data-testid="plan-{slug}".*?</li>', body, re.S)
    assert match, f"no card for {slug}"
    return match.group(0)


# --- access -------------------------------------------------------------------------------


def test_the_subscription_pages_are_routed_under_billing():
    assert reverse("portal:plans") == PLANS
    assert reverse("portal:plan_change", args=["pro"]) == "/billing/plans/pro/change/"
    assert reverse("portal:subscribe", args=["pro"]) == "/billing/plans/pro/subscribe/"
    assert reverse("portal:subscription_pay", args=[7]) == "/billing/subscription/pay/7/"


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", PLANS),
        ("get", "/billing/plans/pro-monthly/change/"),
        ("post", "/billing/plans/pro-monthly/change/"),
        ("post", "/billing/plans/pro-monthly/subscribe/"),
        ("get", "/billing/subscription/pay/1/"),
    ],
)
def test_an_anonymous_visitor_is_sent_to_sign_in_and_back(client, catalogue, method, url):
    response = getattr(client, method)(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next={url}"


def test_subscribing_refuses_get(signed_in, pro):
    assert signed_in.get(reverse("portal:subscribe", args=[pro.slug])).status_code == 405


def test_the_plans_page_only_answers_get(signed_in, catalogue):
    assert signed_in.post(PLANS).status_code == 405


def test_a_plan_change_answers_only_get_and_post(signed_in, on_pro, business):
    assert signed_in.put(change_url(business)).status_code == 405


def test_posts_without_a_csrf_token_are_refused(alice, on_pro, business, starter, now):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    assert client.post(change_url(business), {"quote_token": "x"}).status_code == 403
    assert client.post(reverse("portal:subscribe", args=[starter.slug])).status_code == 403
    assert Invoice.objects.count() == 0


def test_an_unknown_or_retired_plan_is_not_found(signed_in, on_pro):
    retired = PlanFactory(slug="legacy", is_active=False)

    assert signed_in.get(change_url(retired)).status_code == 404
    assert signed_in.get("/billing/plans/nope/change/").status_code == 404
    assert signed_in.post(reverse("portal:subscribe", args=["legacy"])).status_code == 404


# --- the catalogue ---------------------------------------------------------------------------


def test_the_plans_page_is_in_the_main_navigation(signed_in, catalogue):
    body = text(signed_in.get(PLANS))

    assert f'href="{PLANS}" aria-current="page"' in body


def test_the_catalogue_lists_active_monthly_plans_with_prices_and_features(signed_in, catalogue):
    PlanFactory(name="Retired", slug="retired", is_active=False)

    body = text(signed_in.get(PLANS))

    for slug in ("starter-monthly", "pro-monthly", "business-monthly"):
        assert f'data-testid="plan-{slug}"' in body
    assert 'data-testid="plan-pro-yearly"' not in body
    assert "Retired" not in body
    assert "Rp 49.000" in body
    assert "Rp 150.000" in body
    assert "Up to 20 projects" in body
    assert "API access" in body
    assert "Audit log" not in body
    assert "Unlimited projects" in body
    assert "Single sign-on (SSO)" in body


def test_the_yearly_tab_works_without_javascript(signed_in, catalogue):
    body = text(signed_in.get(PLANS, {"interval": "year"}))

    assert 'data-testid="plan-pro-yearly"' in body
    assert "Rp 1.490.000" in body
    assert 'data-testid="plan-pro-monthly"' not in body
    assert 'aria-current="page"' in offer_tab(body, "year")


def offer_tab(body: str, key: str) -> str:
    match = re.search(rf'<a href="{PLANS}\?interval={key}"[^>]*>', body)
    assert match
    return match.group(0)


def test_an_htmx_switch_of_interval_gets_only_the_grid(signed_in, catalogue):
    response = signed_in.get(
        PLANS, {"interval": "year"}, headers={**HTMX, "HX-Target": "plan-grid"}
    )

    body = text(response)
    assert body.lstrip().startswith('<section id="plan-grid"')
    assert "<html" not in body
    assert 'data-testid="plan-pro-yearly"' in body
    assert "HX-Request" in response["Vary"]


def test_an_unknown_interval_falls_back_to_monthly(signed_in, catalogue):
    body = text(signed_in.get(PLANS, {"interval": "fortnight"}))

    assert 'data-testid="plan-pro-monthly"' in body


def test_with_one_billing_period_there_is_no_switch(signed_in, starter, pro):
    body = text(signed_in.get(PLANS))

    assert "?interval=" not in body


def test_a_new_customer_is_offered_a_trial_or_a_subscription(signed_in, catalogue):
    body = text(signed_in.get(PLANS))

    assert "Start 14-day trial" in offer(body, "pro-monthly")
    assert "14-day free trial" in offer(body, "pro-monthly")
    assert "Subscribe" in offer(body, "starter-monthly")
    assert f'action="{reverse("portal:subscribe", args=["starter-monthly"])}"' in body


def test_a_subscriber_sees_the_current_plan_and_upgrade_or_downgrade(signed_in, on_pro, catalogue):
    body = text(signed_in.get(PLANS))

    assert "Current plan" in offer(body, "pro-monthly")
    assert change_url(catalogue["pro"]) not in body
    business = offer(body, "business-monthly")
    assert "Upgrade" in business
    assert f'hx-get="{change_url(catalogue["business"])}"' in business
    assert f'href="{change_url(catalogue["business"])}"' in business
    assert "Downgrade" in offer(body, "starter-monthly")
    assert "Start 14-day trial" not in body


def test_a_subscriber_on_monthly_sees_the_same_plan_yearly_as_a_switch(
    signed_in, on_pro, catalogue
):
    # Issue 15: the same plan billed yearly is a switch of period, not an upgrade.
    body = text(signed_in.get(PLANS, {"interval": "year"}))

    assert "Switch to yearly" in offer(body, "pro-yearly")
    assert "Upgrade" not in offer(body, "pro-yearly")


def test_a_yearly_subscriber_lands_on_the_yearly_tab(signed_in, alice, catalogue, now):
    SubscriptionFactory(user=alice, plan=catalogue["pro_yearly"])

    body = text(signed_in.get(PLANS))

    assert "Current plan" in offer(body, "pro-yearly")


def test_during_a_trial_other_plans_are_a_switch(signed_in, alice, catalogue, now):
    subscription_create(user=alice, plan=catalogue["pro"])

    body = text(signed_in.get(PLANS))

    assert "Switch" in offer(body, "business-monthly")
    assert "Switch" in offer(body, "starter-monthly")


def test_a_scheduled_downgrade_is_marked_on_its_plan(signed_in, on_pro, starter):
    on_pro.scheduled_plan = starter
    on_pro.scheduled_change_at = on_pro.current_period_end
    on_pro.save()

    card = offer(text(signed_in.get(PLANS)), "starter-monthly")

    assert "Scheduled" in card
    assert "Your plan switches to this one on 3 Jan 2027." in card


def test_a_paused_subscriber_is_told_why_plans_cannot_change(signed_in, on_pro, catalogue):
    Subscription.objects.filter(pk=on_pro.pk).update(status=SubscriptionStatus.PAUSED)

    card = offer(text(signed_in.get(PLANS)), "business-monthly")

    assert "A paused subscription cannot change plan." in card
    assert change_url(catalogue["business"]) not in card


def test_a_pending_subscriber_is_offered_to_pay_the_current_plan(signed_in, alice, catalogue):
    subscription = subscription_create(user=alice, plan=catalogue["starter"])
    invoice = subscription.invoices.get()

    body = text(signed_in.get(PLANS))

    card = offer(body, "starter-monthly")
    assert reverse("portal:subscription_pay", args=[invoice.pk]) in card
    assert "Pay Rp 49.000" in card
    # Nothing is paid yet, so another plan is a switch that replaces the first invoice.
    assert "Switch" in offer(body, "pro-monthly")


def test_a_pending_subscriber_switching_plan_gets_a_new_first_invoice_to_pay(
    signed_in, alice, catalogue
):
    subscription = subscription_create(user=alice, plan=catalogue["starter"])
    first = subscription.invoices.get()
    change_url = reverse("portal:plan_change", args=[catalogue["pro"].slug])

    quote_page = text(signed_in.get(change_url))
    assert "Your unpaid first invoice is replaced by one for Pro" in quote_page
    token = re.search(r'name="quote_token" value="([^"]+)"', quote_page).group(1)
    response = signed_in.post(change_url, {"quote_token": token})

    first.refresh_from_db()
    new_invoice = subscription.invoices.payable().get()
    assert first.status == "void"
    assert new_invoice.plan == catalogue["pro"]
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:subscription_pay", args=[new_invoice.pk])


def test_a_cancelled_subscriber_can_resubscribe_without_a_new_trial(signed_in, alice, catalogue):
    subscription = subscription_create(user=alice, plan=catalogue["pro"])
    subscription_cancel(subscription=subscription, at_period_end=False)

    body = text(signed_in.get(PLANS))

    assert "Resubscribe" in offer(body, "pro-monthly")
    assert "Subscribe" in offer(body, "business-monthly")
    assert "trial" not in offer(body, "pro-monthly").lower()


@pytest.mark.parametrize("extra_plans", [0, 30])
def test_the_plans_page_runs_a_constant_number_of_queries(
    signed_in, on_pro, catalogue, extra_plans, django_assert_max_num_queries
):
    for i in range(extra_plans):
        PlanFactory(name=f"Extra {i}", price=Decimal(1000 * (i + 1)))

    # session, user, subscription, plans (+1 spare for the session save after login).
    with django_assert_max_num_queries(5):
        response = signed_in.get(PLANS)

    assert response.status_code == 200


# --- the quote --------------------------------------------------------------------------------


def test_an_upgrade_quote_shows_credit_charge_and_what_is_due_now(signed_in, on_pro, business):
    body = text(signed_in.get(change_url(business)))

    assert "Upgrade to Business" in body
    # 16 of 31 days left: credit 150.000 * 16/31, charge 499.000 * 16/31.
    assert "Credit for unused time on Pro" in body
    assert "-Rp 77.419" in body
    assert "Business for the rest of this period, until 3 Jan 2027" in body
    assert "Rp 257.548" in body
    assert re.search(r'data-testid="quote-due">Rp 180.129<', body)
    assert "Then Rp 499.000 every month, from 3 Jan 2027." in body
    assert "Confirm and pay Rp 180.129" in body
    assert "This quote is held until 10:30." in body


def test_a_downgrade_quote_takes_effect_at_the_period_end_for_nothing_now(
    signed_in, on_pro, starter
):
    body = text(signed_in.get(change_url(starter)))

    assert "Downgrade to Starter" in body
    assert "Takes effect on 3 Jan 2027, nothing charged now." in body
    assert re.search(r'data-testid="quote-due">Rp 0<', body)
    assert "Then Rp 49.000 every month, from 3 Jan 2027." in body
    assert "Schedule the downgrade" in body


def test_a_monthly_to_yearly_quote_starts_a_new_year(signed_in, on_pro, pro_yearly):
    body = text(signed_in.get(change_url(pro_yearly)))

    assert "Pro (yearly), 18 Dec 2026 – 18 Dec 2027" in body
    assert "Rp 1.490.000" in body
    assert "Then Rp 1.490.000 every year, from 18 Dec 2027." in body


def test_plans_of_the_same_name_are_told_apart_by_their_cycle(signed_in, on_pro, pro_yearly):
    body = text(signed_in.get(change_url(pro_yearly)))

    assert "Switch to Pro (yearly)" in body
    assert "Credit for unused time on Pro (monthly)" in body


def test_an_htmx_request_gets_the_quote_as_a_dialog_body(signed_in, on_pro, business):
    response = signed_in.get(change_url(business), headers=HTMX)

    body = text(response)
    assert "<html" not in body
    assert 'id="dialog-title"' in body
    assert "data-dialog-close" in body
    assert f'hx-post="{change_url(business)}"' in body
    assert "HX-Request" in response["Vary"]


def test_the_page_without_javascript_is_a_whole_page_with_a_plain_form(signed_in, on_pro, business):
    body = text(signed_in.get(change_url(business)))

    assert "<html" in body
    assert f'action="{change_url(business)}"' in body
    assert "hx-post" not in body.split('id="quote"')[1]


def test_the_quote_refuses_a_plan_change_that_is_not_possible_in_words(signed_in, on_pro, business):
    Subscription.objects.filter(pk=on_pro.pk).update(cancel_at_period_end=True)

    body = text(signed_in.get(change_url(business)))

    assert "This subscription cancels at the period end. Undo the cancellation first." in body
    assert 'name="quote_token"' not in body


def test_without_a_live_subscription_a_plan_change_leads_to_the_plans(signed_in, business):
    response = signed_in.get(change_url(business))

    assert response.status_code == 302
    assert response["Location"] == PLANS


def test_over_htmx_that_redirect_is_a_whole_page_redirect(signed_in, business):
    response = signed_in.get(change_url(business), headers=HTMX)

    assert response["HX-Redirect"] == PLANS


# --- confirming the quote ----------------------------------------------------------------------


def test_the_amount_shown_is_the_amount_invoiced_on_confirm(signed_in, on_pro, business):
    page = signed_in.get(change_url(business))
    shown = re.search(r'data-testid="quote-due">([^<]+)<', text(page)).group(1)

    response = signed_in.post(change_url(business), {"quote_token": token_in(page)})

    invoice = Invoice.objects.get(reason=InvoiceReason.PLAN_CHANGE)
    assert invoice.total_display == shown == "Rp 180.129"
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:subscription_pay", args=[invoice.pk])
    on_pro.refresh_from_db()
    assert on_pro.plan.name == "Pro"  # applied once paid


def test_a_quote_confirmed_later_still_charges_what_was_quoted(
    signed_in, on_pro, business, time_machine
):
    page = signed_in.get(change_url(business))
    time_machine.shift(dt.timedelta(minutes=20))  # a re-quote now would be lower

    signed_in.post(change_url(business), {"quote_token": token_in(page)})

    invoice = Invoice.objects.get(reason=InvoiceReason.PLAN_CHANGE)
    assert invoice.total == Decimal("180129")
    fresh = subscription_change_plan_quote(subscription=on_pro, new_plan=business)
    assert fresh.amount_due < invoice.total


def test_an_expired_quote_is_refused_with_a_message_and_a_fresh_quote(
    signed_in, on_pro, business, time_machine
):
    page = signed_in.get(change_url(business))
    old_token = token_in(page)
    time_machine.shift(dt.timedelta(minutes=31))

    response = signed_in.post(change_url(business), {"quote_token": old_token})

    body = text(response)
    assert response.status_code == 200
    assert "The price quote has expired or no longer applies. Please review it again." in body
    assert token_in(response) != old_token
    assert "Upgrade to Business" in body
    assert Invoice.objects.count() == 0
    on_pro.refresh_from_db()
    assert on_pro.plan.name == "Pro"


def test_an_expired_quote_over_htmx_comes_back_into_the_dialog(
    signed_in, on_pro, business, time_machine
):
    token = token_in(signed_in.get(change_url(business)))
    time_machine.shift(dt.timedelta(minutes=31))

    response = signed_in.post(change_url(business), {"quote_token": token}, headers=HTMX)

    body = text(response)
    assert response.status_code == 200
    assert "<html" not in body
    assert "The price quote has expired" in body
    assert 'name="quote_token"' in body
    assert "HX-Redirect" not in response


def test_a_tampered_or_missing_quote_changes_nothing(signed_in, on_pro, business):
    token = token_in(signed_in.get(change_url(business)))

    tampered = signed_in.post(change_url(business), {"quote_token": token[:-3] + "abc"})
    missing = signed_in.post(change_url(business), {})

    assert "The price quote has expired" in text(tampered)
    assert "The price quote was missing" in text(missing)
    assert Invoice.objects.count() == 0


def test_a_quote_for_another_plan_cannot_be_used(signed_in, on_pro, business, starter):
    token = token_in(signed_in.get(change_url(business)))

    response = signed_in.post(change_url(starter), {"quote_token": token})

    assert "The price quote has expired" in text(response)
    assert Invoice.objects.count() == 0
    on_pro.refresh_from_db()
    assert on_pro.scheduled_plan is None


def test_confirming_a_downgrade_schedules_it_and_says_when(signed_in, on_pro, starter):
    token = token_in(signed_in.get(change_url(starter)))

    response = signed_in.post(change_url(starter), {"quote_token": token}, follow=True)

    on_pro.refresh_from_db()
    assert on_pro.scheduled_plan == starter
    assert on_pro.plan.name == "Pro"
    assert Invoice.objects.count() == 0
    assert response.redirect_chain[-1][0] == reverse("portal:dashboard")
    assert "Your plan switches to Starter on 3 Jan 2027. Nothing is charged now." in text(response)


def test_confirming_over_htmx_redirects_the_whole_page_and_announces_the_change(
    signed_in, on_pro, starter
):
    token = token_in(signed_in.get(change_url(starter)))

    response = signed_in.post(change_url(starter), {"quote_token": token}, headers=HTMX)

    assert response["HX-Redirect"] == reverse("portal:dashboard")
    assert "subscription-changed" in response["HX-Trigger"]


def test_a_switch_during_a_trial_applies_at_once(signed_in, alice, pro, business, now):
    subscription = subscription_create(user=alice, plan=pro)
    token = token_in(signed_in.get(change_url(business)))

    response = signed_in.post(change_url(business), {"quote_token": token}, follow=True)

    subscription.refresh_from_db()
    assert subscription.plan == business
    assert "You are now on Business." in text(response)


def test_a_stranger_cannot_confirm_someone_elses_quote(client, alice, bob, on_pro, business):
    client.force_login(alice)
    token = token_in(client.get(change_url(business)))
    SubscriptionFactory(user=bob, plan=on_pro.plan, current_period_end=on_pro.current_period_end)
    client.force_login(bob)

    response = client.post(change_url(business), {"quote_token": token})

    assert "The price quote has expired" in text(response)
    assert Invoice.objects.count() == 0


# --- subscribing --------------------------------------------------------------------------------


def subscribe(client, plan, **kwargs):
    return client.post(reverse("portal:subscribe", args=[plan.slug]), **kwargs)


def test_subscribing_to_a_plan_with_a_trial_starts_it(signed_in, alice, pro, now):
    response = subscribe(signed_in, pro, follow=True)

    subscription = alice.subscriptions.get()
    assert subscription.status == SubscriptionStatus.TRIALING
    assert response.redirect_chain[-1][0] == reverse("portal:dashboard")
    assert "Your trial of Pro has started. It ends on 1 Jan 2027; cancel any time before." in text(
        response
    )
    assert Invoice.objects.count() == 0


def test_subscribing_to_a_paid_plan_goes_to_review_and_pay(signed_in, alice, starter):
    response = subscribe(signed_in, starter)

    subscription = alice.subscriptions.get()
    invoice = subscription.invoices.get()
    assert subscription.status == SubscriptionStatus.PENDING
    assert response["Location"] == reverse("portal:subscription_pay", args=[invoice.pk])


def test_a_free_plan_is_active_at_once(signed_in, alice):
    free = PlanFactory(name="Free", price=Decimal("0"))

    response = subscribe(signed_in, free, follow=True)

    assert alice.subscriptions.get().status == SubscriptionStatus.ACTIVE
    assert "You are now subscribed to Free." in text(response)


def test_a_live_subscriber_cannot_subscribe_twice(signed_in, alice, on_pro, starter):
    response = subscribe(signed_in, starter, follow=True)

    assert alice.subscriptions.count() == 1
    assert "You already have a subscription. Change its plan instead." in text(response)


def test_resubscribing_to_the_previous_plan_brings_the_subscription_back(signed_in, alice, pro):
    subscription = subscription_create(user=alice, plan=pro)
    subscription_cancel(subscription=subscription, at_period_end=False)

    response = subscribe(signed_in, pro)

    subscription.refresh_from_db()
    assert alice.subscriptions.count() == 1
    assert subscription.status == SubscriptionStatus.PENDING
    invoice = subscription.invoices.get(reason=InvoiceReason.REACTIVATION)
    assert response["Location"] == reverse("portal:subscription_pay", args=[invoice.pk])


def test_a_former_subscriber_choosing_another_plan_starts_a_new_one_without_trial(
    signed_in, alice, starter, pro
):
    old = subscription_create(user=alice, plan=starter)
    invoice = old.invoices.get()
    payment = payment_create(user=alice, amount=invoice.total, invoice=invoice)
    payment_apply_status(payment=payment, transaction_status="settlement")  # it ran: paid
    subscription_cancel(subscription=old, at_period_end=False)

    subscribe(signed_in, pro)

    new = alice.subscriptions.exclude(pk=old.pk).get()
    assert new.plan == pro
    assert new.status == SubscriptionStatus.PENDING  # no second trial


# --- review and pay --------------------------------------------------------------------------------


def pay_url(invoice) -> str:
    return reverse("portal:subscription_pay", args=[invoice.pk])


def test_review_and_pay_shows_the_lines_and_posts_to_the_checkout(signed_in, on_pro, business):
    token = token_in(signed_in.get(change_url(business)))
    signed_in.post(change_url(business), {"quote_token": token})
    invoice = Invoice.objects.get()

    body = text(signed_in.get(pay_url(invoice)))

    assert "Upgrade to Business" in body
    assert "Unused time on Pro" in body
    assert "-Rp 77.419" in body
    assert re.search(r'data-testid="pay-total">Rp 180.129<', body)
    assert f'action="{reverse("checkout:pay", args=[invoice.pk])}"' in body
    assert "Pay Rp 180.129" in body


def test_a_wallet_that_covers_the_invoice_can_pay_it_and_the_upgrade_applies(
    signed_in, alice, on_pro, business
):
    token = token_in(signed_in.get(change_url(business)))
    signed_in.post(change_url(business), {"quote_token": token})
    invoice = Invoice.objects.get()
    funded_wallet(alice, 200000)
    wallet_pay = reverse("portal:invoice_pay_wallet", args=[invoice.pk])

    body = text(signed_in.get(pay_url(invoice)))
    signed_in.post(wallet_pay)

    assert f'action="{wallet_pay}"' in body
    assert "Pay from wallet (Rp 200.000)" in body
    on_pro.refresh_from_db()
    assert on_pro.plan == business


def test_a_wallet_that_falls_short_is_not_offered(signed_in, alice, starter):
    invoice = subscription_create(user=alice, plan=starter).invoices.get()
    funded_wallet(alice, 10000)

    body = text(signed_in.get(pay_url(invoice)))

    assert "Pay from wallet" not in body
    assert "Pay Rp 49.000" in body


def test_review_and_pay_is_the_owners_only(client, alice, bob, starter):
    invoice = subscription_create(user=alice, plan=starter).invoices.get()
    client.force_login(bob)

    assert client.get(pay_url(invoice)).status_code == 404


def test_review_and_pay_of_a_paid_invoice_goes_back_to_billing(signed_in, alice, starter):
    invoice = subscription_create(user=alice, plan=starter).invoices.get()
    payment = payment_create(user=alice, amount=invoice.total, invoice=invoice)
    payment_apply_status(payment=payment, transaction_status="settlement")

    response = signed_in.get(pay_url(invoice), follow=True)

    assert response.redirect_chain[-1][0] == reverse("portal:dashboard")
    assert f"Invoice {invoice.number} is paid." in text(response)


def test_a_pending_sign_up_can_be_cancelled_from_review_and_pay(signed_in, alice, starter):
    subscription = subscription_create(user=alice, plan=starter)

    body = text(signed_in.get(pay_url(subscription.invoices.get())))

    assert reverse("portal:subscription_cancel_confirm", args=[subscription.pk]) in body
