"""The main journeys in Indonesian, in real Chromium: choose Bahasa Indonesia on the
sign-in page, sign in, upgrade with the quote paid in the sandbox, top up the wallet
with an amount typed the Indonesian way ("150.000"), open an invoice.

Screenshots (``var/screenshots/``, the README's Indonesian ones): id-sign-in,
id-dashboard, id-plan-change-quote, id-wallet, id-invoice-detail, and id-dashboard-phone.
"""

from __future__ import annotations

import re

import pytest
from django.db import connections
from django.urls import reverse
from django.utils import translation
from playwright.sync_api import expect

from conftest import screenshot
from portal import presenters
from portal.models import Preferences
from portal.tests.test_subscription_browser import alice_on_pro, catalogue  # noqa: F401 (fixtures)
from subscriptions.models import Invoice

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def indonesian(text: str, **params) -> str:
    with translation.override("id"):
        said = translation.gettext(text)
    assert said != text or text in ("Email", "Status"), f"{text!r} has no Indonesian"
    return said % params if params else said


@pytest.fixture
def live(sandbox_gateway, monkeypatch):
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    return sandbox_gateway


@pytest.mark.usefixtures("alice_on_pro")
def test_sign_in_upgrade_top_up_and_an_invoice_in_indonesian(live, page_for, alice):
    page = page_for(None)
    page.goto(live.url + reverse("account_login"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("button", name="Bahasa Indonesia").click()
    expect(page.locator("html")).to_have_attribute("lang", "id")
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    screenshot(page, "id-sign-in")

    page.get_by_label(indonesian("Password")).fill("correct horse battery")
    page.get_by_label("Email").fill(alice.email)
    page.get_by_role("button", name=indonesian("Sign in")).click()
    page.wait_for_url("**/billing/")
    # The choice made before signing in is the account's, for every device and email.
    assert Preferences.objects.get(user=alice).language == "id"
    expect(page.locator("#subscription-card").get_by_test_id("status")).to_have_text(
        indonesian("Active")
    )
    screenshot(page, "id-dashboard")

    # Upgrade: the quote in Indonesian, paid in the sandbox (its page in Indonesian too).
    page.get_by_role("link", name=indonesian("Plans"), exact=True).first.click()
    business = page.get_by_test_id("plan-business-monthly")
    business.get_by_role("link", name=indonesian("Upgrade")).click()
    dialog = page.locator("#portal-dialog")
    expect(dialog.get_by_role("heading", name=indonesian("Upgrade to %(plan)s", plan="Business")))
    due = dialog.get_by_test_id("quote-due").inner_text().replace("\xa0", " ")
    assert re.fullmatch(r"Rp [\d.]+", due)
    screenshot(page, "id-plan-change-quote")
    confirm = indonesian("Confirm and pay %(amount)s", amount="")
    dialog.get_by_role("button", name=re.compile("^" + re.escape(confirm.strip()))).click()
    page.wait_for_url("**/billing/subscription/pay/**")
    expect(page.locator("html")).to_have_attribute("lang", "id")
    page.get_by_role("button", name=re.compile("^" + indonesian("Pay"))).first.click()
    page.wait_for_url("**/sandbox/**")
    expect(page.locator("html")).to_have_attribute("lang", "id")
    page.get_by_label("QRIS").check()
    page.get_by_role("button", name=indonesian("Pay"), exact=True).click()
    page.get_by_role("heading", name=indonesian("Payment received")).wait_for()
    page.get_by_role("link", name=indonesian("Back to billing")).click()
    expect(page.locator("#subscription-card").get_by_test_id("plan-name")).to_have_text("Business")

    # A top-up of "150.000": one hundred and fifty thousand rupiah.
    page.goto(live.url + reverse("portal:wallet"))
    page.get_by_label(indonesian("Another amount")).fill("150.000")
    page.get_by_role("button", name=indonesian("Continue to payment")).click()
    page.wait_for_url("**/sandbox/pay/**")
    assert page.get_by_test_id("amount").inner_text() == "Rp 150.000"
    page.get_by_label("QRIS").check()
    page.get_by_role("button", name=indonesian("Pay"), exact=True).click()
    page.get_by_role(
        "heading", name=indonesian("%(amount)s added to your wallet", amount="Rp 150.000")
    ).wait_for()
    page.get_by_role("link", name=indonesian("Back to wallet")).click()
    page.wait_for_url("**/billing/wallet/")
    assert page.get_by_test_id("wallet-balance").inner_text() == "Rp 150.000"
    screenshot(page, "id-wallet")

    # The upgrade's invoice, its date written the Indonesian way.
    invoice = Invoice.objects.filter(user=alice, reason="plan_change").get()
    page.get_by_role("link", name=indonesian("Invoices"), exact=True).first.click()
    page.get_by_role("link", name=invoice.number, exact=True).click()
    page.wait_for_url(f"**{reverse('portal:invoice_detail', args=[invoice.pk])}")
    with translation.override("id"):
        issued = presenters.format_date(invoice.issued_at or invoice.created_at)
    assert re.search(
        r"(Januari|Februari|Maret|April|Mei|Juni|Juli|Agustus|September|Oktober|November|Desember)",
        issued,
    )
    expect(page.locator("main")).to_contain_text(issued)
    expect(page.get_by_role("link", name=re.compile(indonesian("Download PDF")))).to_be_visible()
    screenshot(page, "id-invoice-detail")


@pytest.mark.usefixtures("alice_on_pro")
def test_the_dashboard_in_indonesian_on_a_phone(live, page_for, alice):
    Preferences.objects.create(user=alice, language="id")
    page = page_for(alice, width=390, height=844)
    page.goto(live.url + reverse("portal:dashboard"))
    expect(page.locator("html")).to_have_attribute("lang", "id")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide on a 390px phone"
    screenshot(page, "id-dashboard-phone")
