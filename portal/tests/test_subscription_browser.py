"""The plans & subscription journeys in real Chromium (Playwright) against ``live_server``:
upgrade with the quote shown and paid in the sandbox; a scheduled downgrade and its undo;
pause and resume; cancel at the period end and undo.

Screenshots (``var/screenshots/``): plans, plan-change-quote, cancel-dialog,
dashboard-scheduled-downgrade.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone, translation
from playwright.sync_api import expect

from conftest import screenshot
from portal import presenters
from subscriptions.models import Subscription, SubscriptionStatus
from subscriptions.services import payment_apply_status, payment_create, subscription_create
from subscriptions.tests.factories import PlanFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def catalogue(db):
    tiers = [
        ("Starter", "starter", "For individuals getting started.", 49000, 10, 0),
        ("Pro", "pro", "For growing teams that ship every week.", 149000, 20, 14),
        ("Business", "business", "For organisations with many teams.", 499000, 30, 14),
    ]
    features = {
        "starter": {"max_projects": 3, "max_members": 1, "support": "email"},
        "pro": {"max_projects": 20, "max_members": 5, "custom_domain": True, "api_access": True},
        "business": {"max_projects": -1, "max_members": 50, "api_access": True, "sso": True},
    }
    plans = {}
    for name, slug, description, monthly, order, trial in tiers:
        for unit, price, offset in (("month", monthly, 0), ("year", monthly * 10, 1)):
            plans[f"{slug}-{unit}ly"] = PlanFactory(
                name=name,
                slug=f"{slug}-{unit}ly",
                description=description,
                price=Decimal(price),
                interval_unit=unit,
                trial_period_days=trial,
                features=features[slug],
                sort_order=order + offset,
            )
    return plans


@pytest.fixture
def alice_on_pro(alice, catalogue):
    """Alice on Pro monthly, paid, ten days into the period."""
    start = timezone.now() - dt.timedelta(days=10)
    subscription = subscription_create(
        user=alice, plan=catalogue["pro-monthly"], allow_trial=False, now=start
    )
    invoice = subscription.invoices.get()
    payment = payment_create(user=alice, amount=invoice.total, invoice=invoice)
    payment_apply_status(payment=payment, transaction_status="settlement")
    # created_at is auto_now_add; date it back with the period ("Subscriber since").
    Subscription.objects.filter(pk=subscription.pk).update(created_at=start)
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE
    return subscription


def card(page):
    return page.locator("#subscription-card")


def test_an_upgrade_shows_the_quote_is_paid_in_the_sandbox_and_lands_on_the_new_plan(
    page_for, sandbox_gateway, alice, alice_on_pro
):
    page = page_for(alice)
    page.goto(f"{sandbox_gateway.url}/billing/plans/")
    expect(page.get_by_test_id("plan-pro-monthly")).to_contain_text("Current plan")
    screenshot(page, "plans")

    # The yearly tab swaps the grid in place and keeps a real URL.
    page.get_by_role("link", name="Yearly").click()
    expect(page.get_by_test_id("plan-business-yearly")).to_be_visible()
    expect(page).to_have_url(re.compile(r"\?interval=year$"))
    page.get_by_role("link", name="Monthly").click()

    upgrade = page.get_by_test_id("plan-business-monthly").get_by_role("link", name="Upgrade")
    upgrade.click()
    dialog = page.locator("#portal-dialog")
    expect(dialog.get_by_role("heading", name="Upgrade to Business")).to_be_visible()
    # Escape closes the dialog and gives focus back to the button that opened it.
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(upgrade).to_be_focused()

    upgrade.click()
    expect(dialog.get_by_role("heading", name="Upgrade to Business")).to_be_visible()
    due = dialog.get_by_test_id("quote-due").inner_text().replace("\xa0", " ")
    assert re.fullmatch(r"Rp [\d.]+", due)
    expect(dialog).to_contain_text("Credit for unused time on Pro")
    screenshot(page, "plan-change-quote")

    dialog.get_by_role("button", name=re.compile(r"^Confirm and pay")).click()
    page.wait_for_url("**/billing/subscription/pay/**")
    expect(page.get_by_test_id("pay-total")).to_have_text(due)  # the quote is what is charged

    page.get_by_role("button", name=f"Pay {due}").click()
    page.wait_for_url("**/sandbox/**")
    page.get_by_label("QRIS").check()
    page.get_by_role("button", name="Pay", exact=True).click()
    page.get_by_role("heading", name="Payment received").wait_for()
    page.get_by_role("link", name="Back to billing").click()

    expect(card(page).get_by_test_id("plan-name")).to_have_text("Business")
    expect(card(page).get_by_test_id("status")).to_have_text("Active")


def test_a_scheduled_downgrade_pause_resume_and_cancel_undo_from_the_dashboard(
    page_for, live_server, alice, alice_on_pro
):
    page = page_for(alice)
    dialog = page.locator("#portal-dialog")
    notifications = page.locator("#notifications")

    # Downgrade: scheduled for the period end, nothing charged; then keep Pro after all.
    page.goto(f"{live_server.url}/billing/plans/")
    page.get_by_test_id("plan-starter-monthly").get_by_role("link", name="Downgrade").click()
    expect(dialog.get_by_test_id("quote-effect")).to_contain_text("nothing charged now")
    dialog.get_by_role("button", name="Schedule the downgrade").click()
    page.wait_for_url("**/billing/")
    scheduled = card(page).get_by_test_id("scheduled-plan_change")
    expect(scheduled).to_contain_text("your plan changes to Starter")
    expect(page.get_by_test_id("upcoming-amount")).to_have_text("Rp 49.000")
    screenshot(page, "dashboard-scheduled-downgrade")

    scheduled.get_by_role("button", name="Keep Pro").click()
    expect(card(page).get_by_test_id("scheduled-plan_change")).to_have_count(0)
    expect(page.get_by_test_id("upcoming-amount")).to_have_text("Rp 149.000")

    # Pause now, then resume.
    page.goto(f"{live_server.url}/billing/")
    card(page).get_by_role("link", name="Pause").click()
    expect(dialog.get_by_role("heading", name="Pause your subscription")).to_be_visible()
    # The date is typed day first (a text input with its hint, not the browser's picker).
    resume_field = dialog.get_by_label("Resume automatically on")
    # The dialog opens on its heading (Enter commits nothing); the field is a Tab away.
    expect(dialog.locator("#dialog-title")).to_be_focused()
    expect(resume_field).to_have_attribute("placeholder", "dd/mm/yyyy")
    resume_on = timezone.localdate() + dt.timedelta(days=40)
    resume_field.fill(resume_on.strftime("%d/%m/%Y"))
    dialog.get_by_role("button", name="Pause subscription").click()
    expect(dialog).to_be_hidden()
    expect(card(page).get_by_test_id("status")).to_have_text("Paused")
    with translation.override("en"):
        resumes = presenters.format_date(resume_on)
    expect(notifications).to_contain_text(f"Your subscription is paused. It resumes on {resumes}.")
    expect(card(page).get_by_test_id("next-step")).to_have_text(f"Paused, resumes on {resumes}.")
    expect(page.locator("#upcoming-invoice")).to_contain_text("Nothing is billed while")

    card(page).get_by_role("link", name="Resume").click()
    dialog.get_by_role("button", name="Resume now").click()
    expect(card(page).get_by_test_id("status")).to_have_text("Active")
    expect(notifications).to_contain_text("Welcome back!")

    # Cancel at the period end (the dialog offers to pause instead), then undo.
    card(page).get_by_role("link", name="Cancel subscription").click()
    expect(dialog.get_by_test_id("pause-instead")).to_be_visible()
    dialog.get_by_label("Why are you cancelling?").select_option("too_expensive")
    screenshot(page, "cancel-dialog")
    dialog.get_by_role("button", name="Cancel subscription").click()
    expect(card(page).get_by_test_id("next-step")).to_contain_text("Cancels on")
    expect(page.locator("#upcoming-invoice")).to_contain_text("No more invoices")
    card(page).get_by_role("button", name="Don't cancel").click()
    expect(card(page).get_by_test_id("next-step")).to_contain_text("Renews on")
    alice_on_pro.refresh_from_db()
    assert not alice_on_pro.cancel_at_period_end
    assert alice_on_pro.cancellation_reason == ""
