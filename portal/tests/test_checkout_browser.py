"""The sandbox checkout in real Chromium (Playwright) against ``live_server``.

Saves screenshots of the sandbox payment page and the finish page under
``var/screenshots/`` (or ``$SCREENSHOT_DIR``).
"""

from __future__ import annotations

import os
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connections

from subscriptions import services
from subscriptions.models import Payment
from subscriptions.tests.factories import PlanFactory

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(
    os.environ.get("SCREENSHOT_DIR", django_settings.BASE_DIR / "var" / "screenshots")
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium"),
]


@pytest.fixture
def browser_page(client, alice, live_server, settings, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls made here
    # between browser steps are plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    settings.MIDTRANS_SERVER_KEY = ""
    settings.SUBSCRIPTIONS_GATEWAY = ""
    settings.SUBSCRIPTIONS_SANDBOX_ALLOWED = True
    settings.MIDTRANS_NOTIFICATION_URL = ""
    settings.SITE_URL = live_server.url
    client.force_login(alice)
    cookie = client.cookies["sessionid"].value
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1100, "height": 1000})
        context.add_cookies([{"name": "sessionid", "value": cookie, "url": live_server.url}])
        page = context.new_page()
        page.set_default_timeout(15_000)
        yield page
        browser.close()
        # Playwright's greenlet gets database connections of its own (asgiref's Local is
        # context-aware); close them, or PostgreSQL cannot drop the test database.
        connections.close_all()


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
    page.screenshot(path=SCREENSHOTS / "sandbox-payment-page.png", full_page=True)

    page.get_by_label("QRIS").check()
    page.get_by_role("button", name="Pay", exact=True).click()
    page.wait_for_url("**/finish/**")
    page.get_by_text("Payment received").wait_for()
    page.screenshot(path=SCREENSHOTS / "checkout-finish-paid.png", full_page=True)

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
    page.screenshot(path=SCREENSHOTS / "checkout-finish-waiting.png", full_page=True)

    # Pay from another tab; the waiting page picks it up through its HTMX poll.
    other = page.context.new_page()
    other.goto(payment.redirect_url)
    other.get_by_role("button", name="Pay", exact=True).click()
    other.wait_for_url("**/finish/**")
    page.get_by_text("Payment received").wait_for(timeout=10_000)
    assert page.url.endswith("transaction_status=pending")  # the URL says pending; we don't care
