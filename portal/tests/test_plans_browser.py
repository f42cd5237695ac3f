"""Plan changes and dialogs in real Chromium (Playwright) against ``live_server`` (issue 15):

- on Business monthly, the yearly tab names each plan for what choosing it does: Starter
  and Pro yearly are downgrades (fewer features, at the period end, nothing due today),
  Business yearly a switch of billing period; yearly prices show their saving;
- a confirmation dialog opens with focus on its heading, never on the button that
  commits (Enter must not pay or cancel);
- Escape on the account menu closes it and gives focus back to its button;
- "Cancel this sign-up" opens a dialog page titled for what it is.

Screenshots (``var/screenshots/``): plans-yearly-from-business, plan-change-yearly-downgrade.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conftest import screenshot
from subscriptions.models import Invoice, Subscription, SubscriptionStatus
from subscriptions.services import payment_apply_status, payment_create, subscription_create
from subscriptions.tests.factories import PlanFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FEATURES = {
    "starter": {"max_projects": 3, "max_members": 1, "support": "email"},
    "pro": {"max_projects": 20, "max_members": 5, "custom_domain": True, "api_access": True},
    "business": {"max_projects": -1, "max_members": 50, "api_access": True, "sso": True},
}


@pytest.fixture
def catalogue(db):
    """The demo catalogue: three tiers, monthly and yearly (ten months' worth)."""
    tiers = [("Starter", "starter", 49000, 10, 0), ("Pro", "pro", 149000, 20, 14)]
    tiers.append(("Business", "business", 499000, 30, 14))
    plans = {}
    for name, slug, monthly, order, trial in tiers:
        for unit, price, offset in (("month", monthly, 0), ("year", monthly * 10, 1)):
            plans[f"{slug}-{unit}ly"] = PlanFactory(
                name=name,
                slug=f"{slug}-{unit}ly",
                price=Decimal(price),
                interval_unit=unit,
                trial_period_days=trial,
                features=FEATURES[slug],
                sort_order=order + offset,
            )
    return plans


def paid_subscription(user, plan) -> Subscription:
    """``user`` on ``plan``, paid, ten days into the period."""
    start = timezone.now() - dt.timedelta(days=10)
    subscription = subscription_create(user=user, plan=plan, allow_trial=False, now=start)
    invoice = subscription.invoices.get()
    payment = payment_create(user=user, amount=invoice.total, invoice=invoice)
    payment_apply_status(payment=payment, transaction_status="settlement")
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE
    return subscription


def test_on_business_monthly_the_yearly_tab_names_cheaper_tiers_a_downgrade(
    page_for, live_server, alice, catalogue
):
    subscription = paid_subscription(alice, catalogue["business-monthly"])
    page = page_for(alice)
    dialog = page.locator("#portal-dialog")

    page.goto(f"{live_server.url}/billing/plans/")
    page.get_by_role("link", name="Yearly").click()
    starter = page.get_by_test_id("plan-starter-yearly")
    expect(starter).to_be_visible()
    # Nothing cheaper is called an upgrade; the same tier yearly is a switch of period.
    for slug in ("starter-yearly", "pro-yearly"):
        card = page.get_by_test_id(f"plan-{slug}")
        expect(card.get_by_role("link", name=re.compile("^Downgrade"))).to_be_visible()
        expect(card.get_by_role("link", name=re.compile("^Upgrade"))).to_have_count(0)
    business = page.get_by_test_id("plan-business-yearly")
    expect(business.get_by_role("link", name=re.compile("^Switch to yearly"))).to_be_visible()
    # Ten months' price for twelve: the saving against the monthly twin, computed.
    expect(starter.get_by_test_id("plan-saving")).to_contain_text("Save 17%")
    expect(starter).to_contain_text("2 months free")
    screenshot(page, "plans-yearly-from-business")

    # Starter yearly: fewer features at the period end, nothing due today.
    starter.get_by_role("link", name=re.compile("^Downgrade")).click()
    expect(dialog.get_by_role("heading", name="Downgrade to Starter (yearly)")).to_be_visible()
    effect = dialog.get_by_test_id("quote-effect")
    expect(effect).to_contain_text("nothing charged now")
    expect(effect).to_contain_text("fewer features")
    expect(effect).not_to_contain_text("as soon as you pay")
    expect(dialog.get_by_test_id("quote-due")).to_have_text("Rp\xa00")
    screenshot(page, "plan-change-yearly-downgrade")
    dialog.get_by_role("button", name="Schedule the downgrade").click()
    page.wait_for_url("**/billing/")

    subscription.refresh_from_db()
    assert subscription.plan == catalogue["business-monthly"]  # Business until the period end
    assert subscription.scheduled_plan == catalogue["starter-yearly"]
    assert not Invoice.objects.filter(reason="plan_change").exists()
    scheduled = page.locator("#subscription-card").get_by_test_id("scheduled-plan_change")
    expect(scheduled).to_contain_text("Starter (yearly)")
    expect(scheduled.get_by_role("button", name="Keep Business (monthly)")).to_be_visible()


def test_the_same_tier_yearly_is_a_switch_paid_now_for_a_new_year(
    page_for, live_server, alice, catalogue
):
    paid_subscription(alice, catalogue["business-monthly"])
    page = page_for(alice)
    dialog = page.locator("#portal-dialog")

    page.goto(f"{live_server.url}/billing/plans/?interval=year")
    business = page.get_by_test_id("plan-business-yearly")
    business.get_by_role("link", name=re.compile("^Switch to yearly")).click()
    expect(dialog.get_by_role("heading", name="Switch to Business (yearly)")).to_be_visible()
    expect(dialog.get_by_test_id("quote-effect")).to_contain_text("features stay the same")
    due = dialog.get_by_test_id("quote-due").inner_text().replace("\xa0", " ")
    dialog.get_by_role("button", name=f"Switch and pay {due}").click()
    page.wait_for_url("**/billing/subscription/pay/**")
    expect(page.get_by_role("heading", name="Switch to Business (yearly)")).to_be_visible()
    expect(page.get_by_test_id("pay-total")).to_have_text(due)


def test_a_dialog_opens_on_its_heading_so_enter_commits_nothing(
    page_for, live_server, alice, catalogue
):
    subscription = paid_subscription(alice, catalogue["pro-monthly"])
    page = page_for(alice)
    dialog = page.locator("#portal-dialog")
    page.goto(f"{live_server.url}/billing/plans/")

    for slug, commit in (
        ("business-monthly", re.compile("^Confirm and pay")),
        ("starter-monthly", re.compile("^Schedule the downgrade")),
    ):
        page.get_by_test_id(f"plan-{slug}").get_by_role("link").click()
        heading = dialog.locator("#dialog-title")
        expect(heading).to_be_focused()
        expect(dialog.get_by_role("button", name=commit)).not_to_be_focused()
        page.keyboard.press("Enter")
        page.wait_for_timeout(300)
        expect(dialog).to_be_visible()  # Enter on the heading does nothing
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()

    # The cancel dialog: not its first radio either (Enter there submits the form).
    page.goto(f"{live_server.url}/billing/")
    page.locator("#subscription-card").get_by_role("link", name="Cancel subscription").click()
    expect(dialog.locator("#dialog-title")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    expect(dialog).to_be_visible()
    # Tab reaches the choices in order from the heading.
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Close")).to_be_focused()

    subscription.refresh_from_db()
    assert subscription.plan == catalogue["pro-monthly"]
    assert subscription.scheduled_plan is None
    assert not subscription.cancel_at_period_end
    assert not Invoice.objects.filter(reason="plan_change").exists()


def test_escape_on_the_account_menu_closes_it_and_returns_focus_to_its_button(
    page_for, live_server, alice
):
    page = page_for(alice)
    page.goto(f"{live_server.url}/billing/")
    menu = page.locator("details[data-menu]").filter(has=page.get_by_text("Signed in as"))
    button = menu.locator("summary")

    button.focus()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("open", "")
    page.keyboard.press("Tab")
    expect(menu.get_by_role("link", name="Manage account")).to_be_focused()

    page.keyboard.press("Escape")
    expect(menu).not_to_have_attribute("open", "")
    expect(button).to_be_focused()


def test_cancel_this_sign_up_opens_a_page_titled_for_it(page_for, live_server, alice, catalogue):
    subscription = subscription_create(user=alice, plan=catalogue["starter-monthly"])
    invoice = subscription.invoices.get()
    page = page_for(alice)

    page.goto(f"{live_server.url}/billing/subscription/pay/{invoice.pk}/")
    page.get_by_role("link", name="Cancel this sign-up").click()
    expect(page.get_by_role("heading", name="Cancel this sign-up")).to_be_visible()
    expect(page).to_have_title(re.compile("^Cancel this sign-up"))
    expect(page.get_by_role("heading", name="Cancel your subscription")).to_have_count(0)
    page.get_by_role("button", name="Cancel sign-up").click()
    page.wait_for_url("**/billing/")
    expect(page.locator("#notifications")).to_contain_text("Your sign-up is cancelled")
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.CANCELLED
