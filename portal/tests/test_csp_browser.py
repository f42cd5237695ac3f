"""The Content-Security-Policy in real Chromium: the journeys the other browser tests do
not walk (sign-in and account pages, the admin, the hosted invoice paid in the sandbox
by a signed-out reader, Snap's redirect, the invoice page's styles, the email
previews, the top-up form's script) work under it, and Chromium reports no violation.

``page_for`` (conftest.py) fails any browser test whose pages report a violation; the
first test here shows that it notices one.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connections
from django.urls import reverse
from playwright.sync_api import expect

from conftest import screenshot
from portal import links
from subscriptions import services
from subscriptions.models import Payment
from subscriptions.tests.factories import PlanFactory
from subscriptions.tests.midtrans_samples import SERVER_KEY

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def live(sandbox_gateway, monkeypatch):
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    return sandbox_gateway


def open_invoice(user):
    plan = PlanFactory(name="Pro", price=Decimal("150000"))
    return services.subscription_create(user=user, plan=plan).invoices.get()


def test_chromium_reports_code_the_policy_refuses(live, page_for):
    page = page_for(None)
    page.goto(live.url + reverse("account_login"))

    with pytest.raises(Exception, match=r"Content Security Policy|Refused"):
        page.add_script_tag(content="window.injected = true")
    page.wait_for_timeout(200)

    assert page.evaluate("window.injected === undefined")
    assert any("script-src" in str(report) for report in page_for.csp_violations)
    page_for.csp_violations.clear()


def test_sign_in_sign_up_and_password_reset_pages(live, page_for, alice):
    page = page_for(None)
    for name in ("account_signup", "account_reset_password", "account_login"):
        page.goto(live.url + reverse(name))
        expect(page.locator("form").last).to_be_visible()

    page.get_by_label("Email").fill(alice.email)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/billing/")

    page.goto(live.url + reverse("mfa_index"))
    page.goto(live.url + reverse("account_email"))
    screenshot(page, "csp-account-email")


def test_the_admin_pages_and_an_action_form(live, page_for, staff, alice):
    invoice = open_invoice(alice)
    staff.user_permissions.add(*Permission.objects.all())
    page = page_for(staff)

    page.goto(live.url + reverse("admin:index"))
    page.goto(live.url + reverse("admin:subscriptions_invoice_changelist"))
    page.get_by_role("link", name=invoice.number).first.click()
    page.wait_for_url("**/change/")
    page.goto(live.url + reverse("admin:subscriptions_invoice_changelist"))
    page.locator(f"input[name=_selected_action][value='{invoice.pk}']").check()
    page.locator("select[name=action]").select_option("void_invoices")
    page.locator("button[name=index], button[type=submit]").first.click()
    page.wait_for_load_state()
    screenshot(page, "csp-admin-action")


def test_a_signed_out_reader_pays_the_hosted_invoice_in_the_sandbox(live, page_for, alice):
    invoice = open_invoice(alice)
    page = page_for(None)

    page.goto(live.url + links.hosted_invoice_path(invoice.pk))
    page.get_by_role("button", name=re.compile(r"^Pay .* now$")).click()
    page.wait_for_url("**/sandbox/pay/**")
    page.get_by_role("button", name="Pay", exact=True).click()
    page.wait_for_url("**/i/**")
    expect(page.locator('[data-state="paid"]')).to_be_visible()

    invoice.refresh_from_db()
    assert invoice.status == "paid"


def test_a_payment_form_redirects_the_browser_to_snap(
    page_for, live_server, settings, httpserver, alice
):
    """Snap's page is on Midtrans' host: the redirect that answers our POST must pass the
    policy's form-action (Chromium blocks it otherwise)."""
    snap = httpserver.url_for("").rstrip("/")
    settings.MIDTRANS_SERVER_KEY = SERVER_KEY
    settings.SUBSCRIPTIONS_GATEWAY = "midtrans"
    settings.MIDTRANS_SNAP_BASE_URL = snap
    settings.MIDTRANS_API_BASE_URL = snap
    settings.SITE_URL = live_server.url
    httpserver.expect_request("/snap/v1/transactions", method="POST").respond_with_json(
        {"token": "3f9a1c", "redirect_url": f"{snap}/snap/v4/redirection/3f9a1c"}, status=201
    )
    httpserver.expect_request("/snap/v4/redirection/3f9a1c").respond_with_data(
        "<!doctype html><title>Snap</title><h1>Snap payment page</h1>", content_type="text/html"
    )
    invoice = open_invoice(alice)
    page = page_for(alice)

    page.goto(live_server.url + reverse("portal:subscription_pay", args=[invoice.pk]))
    page.locator(f"form[action='{reverse('checkout:pay', args=[invoice.pk])}'] button").click()
    page.wait_for_url(f"{snap}/snap/v4/redirection/3f9a1c")

    expect(page.get_by_role("heading", name="Snap payment page")).to_be_visible()
    assert Payment.objects.get().gateway == "midtrans"


def test_the_invoice_page_keeps_its_styles_and_the_top_up_form_its_script(live, page_for, alice):
    invoice = open_invoice(alice)
    page = page_for(alice)

    page.goto(live.url + reverse("portal:invoice_detail", args=[invoice.pk]))
    brand = page.locator(".invoice-doc .inv-brand").first
    # invoice.css, inline under the request's nonce: the brand colour is applied.
    assert brand.evaluate("el => getComputedStyle(el).color") == "rgb(67, 56, 202)"

    page.goto(live.url + reverse("portal:wallet"))
    custom = page.locator("[data-custom-amount]")
    custom.fill("250000")
    page.get_by_text("Rp 100.000", exact=True).click()
    expect(custom).to_have_value("")  # choosing a preset clears the typed amount
    custom.fill("250000")
    assert page.locator("[data-preset]:checked").count() == 0


def test_the_email_previews(live, page_for, staff):
    page = page_for(staff)

    page.goto(live.url + reverse("portal:email_previews"))
    page.goto(live.url + reverse("portal:email_preview", args=["invoice_issued"]))
    # The email, in its sandboxed frame (the frame inherits the page's policy): its inline
    # style attributes apply, and none of its markup spills into the page.
    frame = page.frame_locator("iframe").first
    expect(frame.get_by_text("INV-2026-000042").first).to_be_visible()
    assert frame.locator("body").evaluate("el => el.style.margin") == "0px"
    assert page.locator("body > table, main table[role=presentation]").count() == 0
    screenshot(page, "csp-email-preview")
