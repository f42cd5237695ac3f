"""The sandbox checkout in real Chromium (Playwright) against ``live_server``.

Saves screenshots of the sandbox payment page and the finish page under
``var/screenshots/`` (or ``$SCREENSHOT_DIR``).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.conf import settings as django_settings

from conftest import screenshot
from subscriptions import services
from subscriptions.models import Payment
from subscriptions.tests.factories import PlanFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def browser_page(page_for, sandbox_gateway, alice):
    return page_for(alice, width=1100, height=1000)


def start_checkout(user) -> Payment:
    plan = PlanFactory(price=Decimal("150000"), name="Pro")
    invoice = services.subscription_create(user=user, plan=plan).invoices.get()
    return services.checkout_start(
        invoice=invoice,
        user=user,
        finish_url=lambda order_id: (
            f"{django_settings.SITE_URL}/billing/checkout/{order_id}/finish/"
        ),
    )


@pytest.mark.django_db(transaction=True)
def test_paying_in_the_browser_activates_the_subscription(browser_page, alice):
    payment = start_checkout(alice)
    page = browser_page

    page.goto(payment.redirect_url)
    assert page.get_by_test_id("amount").inner_text() == "Rp 150.000"
    screenshot(page, "sandbox-payment-page")

    page.get_by_label("QRIS").check()
    page.get_by_role("button", name="Pay", exact=True).click()
    page.wait_for_url("**/finish/**")
    page.get_by_role("heading", name="Payment received").wait_for()
    screenshot(page, "checkout-finish-paid")

    payment.refresh_from_db()
    assert (payment.status, payment.payment_type) == ("settlement", "qris")
    assert payment.invoice.status == "paid"
    assert payment.subscription.status == "active"


@pytest.mark.django_db(transaction=True)
def test_pay_later_waits_then_the_poll_shows_the_settlement(browser_page, alice):
    payment = start_checkout(alice)
    page = browser_page

    page.goto(payment.redirect_url)
    page.get_by_role("button", name="Pay later").click()
    page.wait_for_url("**/finish/**")
    page.get_by_text("Waiting for confirmation").wait_for()
    screenshot(page, "checkout-finish-waiting")

    # Pay from another tab; the waiting page picks it up through its HTMX poll.
    other = page.context.new_page()
    other.goto(payment.redirect_url)
    other.get_by_role("button", name="Pay", exact=True).click()
    other.wait_for_url("**/finish/**")
    page.get_by_role("heading", name="Payment received").wait_for(timeout=10_000)
    assert page.url.endswith("transaction_status=pending")  # the URL says pending; we don't care
