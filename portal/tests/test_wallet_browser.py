"""The wallet and an invoice in real Chromium (Playwright) against ``live_server``:
top up Rp 100.000 through the sandbox (its notification reaches our webhook over
HTTP), see the balance, then pay an open invoice from the wallet in place.

Saves screenshots of the wallet, the invoice list, the invoice and page 1 of its
PDF (with ``pdftoppm``, where poppler-utils is installed) under ``var/screenshots/``.
"""

from __future__ import annotations

import shutil
import subprocess
from decimal import Decimal

import pytest
from django.db import connections
from django.urls import reverse
from playwright.sync_api import expect

from conftest import SCREENSHOTS, screenshot
from subscriptions import services
from subscriptions.services import LineSpec, invoice_create, invoice_mark_paid_offline
from subscriptions.tests.factories import PlanFactory
from wallets.models import TopUp, Wallet

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def live(sandbox_gateway, monkeypatch):
    # The browser keeps connections open (the HTMX poll); let the live server's threads
    # close their database connection after each request.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    return sandbox_gateway


def some_history(user, plan) -> None:
    """Two earlier invoices, paid, so that the list looks like a real account's."""
    for month in ("September", "October"):
        invoice = invoice_create(
            user=user,
            plan=plan,
            reason="renewal",
            lines=[LineSpec(description=f"{plan.name} ({month} 2026)", unit_amount=plan.price)],
        )
        invoice_mark_paid_offline(invoice=invoice, reference=f"BANK-{month}")


def test_top_up_through_the_sandbox_then_pay_an_invoice_from_the_wallet(live, page_for, alice):
    plan = PlanFactory(name="Starter", slug="starter", price=Decimal("99000"))
    some_history(alice, plan)
    invoice = services.subscription_create(user=alice, plan=plan).invoices.get()
    page = page_for(alice)

    # Top up Rp 100.000: the gateway's page, then back to ours until the webhook lands.
    page.goto(live.url + reverse("portal:wallet"))
    assert page.get_by_test_id("wallet-balance").inner_text() == "Rp 0"
    page.get_by_text("Rp 100.000", exact=True).click()
    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_url("**/sandbox/pay/**")
    assert page.get_by_test_id("amount").inner_text() == "Rp 100.000"
    page.get_by_label("QRIS").check()
    page.get_by_role("button", name="Pay", exact=True).click()
    page.wait_for_url("**/billing/wallet/top-ups/**")
    page.get_by_role("heading", name="Rp 100.000 added to your wallet").wait_for()
    screenshot(page, "topup-finish")

    topup = TopUp.objects.get()
    assert (topup.status, topup.payment.status) == ("success", "settlement")
    page.get_by_role("link", name="Back to wallet").click()
    page.wait_for_url("**/billing/wallet/")
    assert page.get_by_test_id("wallet-balance").inner_text() == "Rp 100.000"
    page.get_by_text("Top-up", exact=True).first.wait_for()
    screenshot(page, "wallet")

    # The invoice list, then the open invoice paid from the wallet without a reload.
    page.get_by_role("link", name="Invoices", exact=True).first.click()
    page.wait_for_url("**/billing/invoices/")
    page.get_by_role("link", name=invoice.number, exact=True).wait_for()
    screenshot(page, "invoices")

    page.get_by_role("link", name=invoice.number, exact=True).click()
    page.wait_for_url(f"**{reverse('portal:invoice_detail', args=[invoice.pk])}")
    assert page.get_by_test_id("invoice-status").inner_text() == "Open"
    page.get_by_role("button", name="Pay from wallet").click()
    notifications = page.get_by_role("region", name="Notifications")
    notifications.get_by_text(f"Invoice {invoice.number} is paid from your wallet.").wait_for()
    assert page.get_by_test_id("invoice-status").inner_text() == "Paid"
    assert page.url.endswith(reverse("portal:invoice_detail", args=[invoice.pk]))
    screenshot(page, "invoice-detail")

    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert invoice.subscription.status == "active"
    assert Wallet.objects.get(user=alice).balance == Decimal("1000")

    # The PDF, downloaded with the browser's session.
    pdf = page.request.get(live.url + reverse("portal:invoice_pdf", args=[invoice.pk]))
    assert pdf.ok
    assert pdf.headers["content-disposition"] == f'attachment; filename="{invoice.number}.pdf"'
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / "invoice.pdf"
    path.write_bytes(pdf.body())
    if shutil.which("pdftoppm"):
        subprocess.run(
            ["pdftoppm", "-png", "-r", "110", "-f", "1", "-l", "1", "-singlefile", str(path),
             str(SCREENSHOTS / "invoice-pdf")],
            check=True,
            timeout=60,
        )  # fmt: skip
        assert (SCREENSHOTS / "invoice-pdf.png").stat().st_size > 10_000


def test_the_wallet_on_a_phone(live, page_for, alice):
    page = page_for(alice, width=390, height=844)

    page.goto(live.url + reverse("portal:wallet"))
    page.get_by_text("No transactions yet").wait_for()

    # The auto-pay switch flips in place (HTMX), with its banner.
    page.evaluate("window.notReloaded = true")
    page.get_by_role("switch").click()
    page.locator('[role="switch"][aria-checked="true"]').wait_for()
    page.get_by_role("region", name="Notifications").get_by_text("Auto-pay is on").wait_for()
    assert page.evaluate("window.notReloaded") is True
    assert Wallet.objects.get(user=alice).auto_pay is True

    page.get_by_label("Another amount").fill("9.500")
    page.get_by_role("button", name="Continue to payment").click()

    # Said in the form's error summary and under the field, which has the focus.
    expect(page.get_by_text("The smallest top-up is Rp 10.000.")).to_have_count(2)
    amount = page.get_by_label("Another amount")
    assert amount.get_attribute("aria-invalid") == "true"
    expect(amount).to_be_focused()
    assert not TopUp.objects.exists()
    screenshot(page, "wallet-phone")
