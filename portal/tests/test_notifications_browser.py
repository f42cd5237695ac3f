"""A failed renewal in real Chromium: the banner, the email, and the email's pay link.

The renewal invoice is refused by the (offline) sandbox; its notification reaches our
webhook on ``live_server`` over HTTP, the receivers show the banner and, once that
transaction commits, send the email (the immediate task backend, locmem outbox). The
email's signed link opens the hosted invoice page, which pays the invoice through the
sandbox; the "pay now" banner then clears by itself. Screenshots: ``var/screenshots/``.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from conftest import screenshot
from portal.checkout import finish_url_for
from portal.models import Notification
from subscriptions import services
from subscriptions.services.billing_run import run_billing
from subscriptions.tests.factories import PlanFactory, SubscriptionFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def emails_of(kind: str) -> list:
    return [m for m in mail.outbox if m.extra_headers["X-Billing-Email"] == kind]


def test_a_failed_renewal_shows_a_banner_and_an_email_whose_link_pays_it(
    page_for, sandbox_gateway, alice
):
    live = sandbox_gateway.url
    now = timezone.now()
    SubscriptionFactory(
        user=alice,
        plan=PlanFactory(name="Pro", price=Decimal("150000")),
        current_period_start=now - dt.timedelta(days=30),
        current_period_end=now - dt.timedelta(minutes=5),
    )
    Notification.objects.all().delete()  # the welcome of the row made above
    run_billing(now=now)  # the renewal invoice, open: nothing pays it automatically
    invoice = alice.invoices.get(reason="renewal")
    [issued] = emails_of("invoice_issued")
    assert issued.subject.startswith(f"Invoice {invoice.number} for Rp 150.000, due ")

    # Alice tries to pay by card; the bank refuses.
    attempt = services.checkout_start(invoice=invoice, user=alice, finish_url=finish_url_for)
    page = page_for(alice)
    page.goto(attempt.redirect_url)
    page.get_by_role("button", name="Deny", exact=True).click()
    page.wait_for_url("**/finish/**")

    page.goto(f"{live}/billing/")
    banner = page.locator('[data-banner="payment_failed"]')
    banner.wait_for()
    assert f"Payment failed for {invoice.number}: pay now" in banner.inner_text()
    # One "pay now" banner per invoice: the failure replaced the new-invoice banner.
    assert page.locator("[data-banner]").count() == 1
    screenshot(page, "notifications-payment-failed-banner")

    [email] = emails_of("payment_failed")
    assert email.to == [alice.email]
    assert invoice.number in email.subject
    pay_link = re.search(r"Pay now \(no sign-in needed\): (\S+)", email.body).group(1)
    assert pay_link.startswith(f"{live}/i/")

    # The email's link: the hosted invoice page, then the sandbox, then back.
    page.goto(pay_link)
    page.get_by_text(invoice.number).first.wait_for()
    screenshot(page, "hosted-invoice")
    page.get_by_role("button", name=re.compile(r"^Pay Rp 150\.000 now$")).click()
    page.wait_for_url("**/sandbox/pay/**")
    page.get_by_role("button", name="Pay", exact=True).click()
    page.wait_for_url(re.compile(r"/i/.+\?order="))
    page.get_by_text("Paid. Thank you!").wait_for()
    screenshot(page, "hosted-invoice-paid")

    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert invoice.subscription.status == "active"
    assert len(emails_of("payment_receipt")) == 1

    page.goto(f"{live}/billing/")
    page.locator('[data-banner="payment_received"]').wait_for()
    assert page.locator('[data-banner="payment_failed"]').count() == 0
    assert page.locator('[data-banner="invoice_issued"]').count() == 0
    screenshot(page, "notifications-after-payment")

    # Dismissing with HTMX: the region is swapped out of band.
    page.locator('[data-banner="payment_received"] button[aria-label^="Dismiss"]').click()
    page.locator('[data-banner="payment_received"]').wait_for(state="detached")
    assert page.url == f"{live}/billing/"
