"""An invoice after refunds and an overpayment, in real Chromium on a phone (390 px):
the invoice page, the hosted page and the list show the refund lines and never scroll
sideways. Saves screenshots under ``var/screenshots/``."""

from __future__ import annotations

import pytest
from django.db import connections
from django.urls import reverse

from conftest import screenshot
from portal import links
from portal.tests.test_invoice_refunds import LATE, paid_invoice, refund, settled

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
LONG_REASON = (
    "Service unavailable from 3 to 17 December 2026; refunded pro rata to the wallet "
    "as agreed with customer support (ticket 48213)"
)


@pytest.fixture
def live(live_server, monkeypatch):
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    return live_server


@pytest.fixture
def refunded_invoice(alice):
    invoice, payment = paid_invoice(alice)
    refund(payment, 50000, destination="wallet", reason=LONG_REASON)
    refund(payment, 20000, destination="gateway", status="pending")
    late = settled(invoice, "233301", payment_type="bank_transfer", at=LATE, overpaid=True)
    refund(late, 233301, destination="gateway", kind="overpayment")
    return invoice


def sideways_overflow(page) -> int:
    """How many pixels the page is wider than the screen (0: no sideways scroll)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.parametrize(
    ("name", "path", "signed_in"),
    [
        ("invoice-refunded-phone", lambda i: reverse("portal:invoice_detail", args=[i.pk]), True),
        ("hosted-invoice-refunded-phone", lambda i: links.hosted_invoice_path(i.pk), False),
        ("invoices-refunded-phone", lambda i: reverse("portal:invoices"), True),
    ],
)
def test_a_refunded_invoice_fits_a_phone(
    live, page_for, alice, refunded_invoice, name, path, signed_in
):
    page = page_for(alice if signed_in else None, **PHONE)

    page.goto(live.url + path(refunded_invoice))

    if name == "invoices-refunded-phone":
        page.get_by_text("Partly refunded").first.wait_for()
        assert page.get_by_text("Net Rp 183.301").is_visible()
    else:
        page.get_by_test_id("refund-line").first.wait_for()
        assert page.get_by_test_id("refund-line").count() == 2
        assert page.get_by_test_id("overpayment").first.is_visible()
        assert page.get_by_text(LONG_REASON).first.is_visible()
    screenshot(page, name)
    assert sideways_overflow(page) <= 0
