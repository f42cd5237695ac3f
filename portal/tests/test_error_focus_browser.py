"""Errors a reader can find, and links that land where they should, in real Chromium.

- An invalid top-up on a phone: the page comes back with the reader at the error (the
  first invalid field focused and in view, the form's error summary announced), with
  JavaScript and without it (``autofocus``, rendered by the server).
- An invalid date in the pause dialog (an HTMX swap): the date field is focused and
  its message read with it.
- An emailed PDF link followed signed out: after signing in the reader is on the
  invoice's page with the download offered, not left on the sign-in form while the
  file downloads unseen.
- A stranger's invoice and ``GET /i/<token>/pay/`` with DEBUG off: branded pages that
  say what happened and where to go, not a bare 404 or a blank 405.

Screenshots (``var/screenshots/``): error-topup-phone, error-pdf-after-sign-in,
error-404, error-405-hosted-pay.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connections
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from conftest import screenshot
from portal import links
from portal.tests.test_subscription_browser import alice_on_pro, catalogue  # noqa: F401 (fixtures)
from subscriptions.tests.factories import InvoiceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def live(live_server, monkeypatch):
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    return live_server


def in_view(page, selector: str) -> bool:
    """The element's box lies inside the viewport (top to bottom)."""
    return page.eval_on_selector(
        selector,
        """el => { const r = el.getBoundingClientRect();
                   return r.top >= 0 && r.bottom <= window.innerHeight; }""",
    )


def focused_id(page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


def test_an_invalid_top_up_takes_the_reader_to_the_error(live, page_for, alice):
    page = page_for(alice, **PHONE)
    page.goto(live.url + reverse("portal:wallet"))
    page.get_by_label("Another amount").fill("500")
    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_load_state()

    field = page.locator("#id_custom_amount")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_focused()
    assert in_view(page, "#id_custom_amount")
    # The error is read with the field, and the summary above the form is an alert
    # whose link leads to the field.
    described = field.get_attribute("aria-describedby").split()
    assert page.locator(f"#{described[0]}").inner_text() == "The smallest top-up is Rp 10.000."
    summary = page.get_by_role("alert").filter(has_text="The smallest top-up is Rp 10.000.")
    expect(summary.get_by_role("link", name="The smallest top-up is Rp 10.000.")).to_have_attribute(
        "href", "#id_custom_amount"
    )
    screenshot(page, "error-topup-phone")

    # No amount at all: the presets are the first invalid field.
    page.get_by_label("Another amount").fill("")
    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_load_state()
    expect(page.locator("#id_preset_0")).to_be_focused()
    assert in_view(page, "#div_id_preset")
    expect(page.get_by_role("alert").filter(has_text="Choose an amount")).to_be_visible()


def test_without_javascript_the_server_focuses_the_first_error(live, chromium, client, alice):
    context = chromium.new_context(java_script_enabled=False, viewport=PHONE)
    try:
        client.force_login(alice)
        cookie = client.cookies["sessionid"].value
        context.add_cookies([{"name": "sessionid", "value": cookie, "url": live.url}])
        page = context.new_page()
        page.goto(live.url + reverse("portal:wallet"))
        page.get_by_label("Another amount").fill("12,5")
        page.get_by_role("button", name="Continue to payment").click()
        page.wait_for_load_state()

        assert focused_id(page) == "id_custom_amount"
        assert in_view(page, "#id_custom_amount")
        summary = page.locator("[data-error-summary]")
        expect(summary).to_have_attribute("role", "alert")
        expect(summary).to_contain_text("Top-ups are in whole rupiah: leave out the decimals.")
    finally:
        context.close()
        connections.close_all()


def described_by(page, locator) -> list[str]:
    """The texts of the elements the field's aria-describedby names (those that exist)."""
    ids = (locator.get_attribute("aria-describedby") or "").split()
    return [page.locator(f"#{i}").inner_text() for i in ids if page.locator(f"#{i}").count()]


@pytest.mark.usefixtures("alice_on_pro")
def test_an_invalid_pause_date_in_the_dialog_focuses_the_field(live, page_for, alice):
    page = page_for(alice)
    page.goto(live.url + reverse("portal:dashboard"))
    page.locator("#subscription-card").get_by_role("link", name="Pause").click()
    dialog = page.locator("#portal-dialog")
    field = dialog.get_by_label("Resume automatically on")
    field.fill((timezone.localdate() - dt.timedelta(days=1)).strftime("%d/%m/%Y"))
    dialog.get_by_role("button", name="Pause subscription").click()

    field = dialog.get_by_label("Resume automatically on")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_focused()
    assert "Choose a date after today." in dialog.inner_text()


@pytest.mark.usefixtures("alice_on_pro")
def test_an_invalid_pause_date_is_read_with_its_field(live, page_for, alice):
    page = page_for(alice)
    page.goto(live.url + reverse("portal:dashboard"))
    page.locator("#subscription-card").get_by_role("link", name="Pause").click()
    dialog = page.locator("#portal-dialog")
    field = dialog.get_by_label("Resume automatically on")
    field.fill((timezone.localdate() - dt.timedelta(days=1)).strftime("%d/%m/%Y"))
    dialog.get_by_role("button", name="Pause subscription").click()

    field = dialog.get_by_label("Resume automatically on")
    expect(field).to_be_focused()
    assert "Choose a date after today." in described_by(page, field)


def test_an_emailed_pdf_link_signed_out_lands_on_the_invoice_with_the_download(
    live, page_for, alice
):
    invoice = InvoiceFactory(user=alice, status="paid")
    page = page_for(None)

    # The link as the email writes it.
    pdf = links.invoice_pdf_path(invoice.pk)
    page.goto(live.url + pdf)
    page.wait_for_url("**/accounts/login/**")
    page.get_by_label("Email").fill(alice.email)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()

    detail = reverse("portal:invoice_detail", args=[invoice.pk])
    page.wait_for_url(re.compile(re.escape(detail) + r"(\?[^/]*)?$"))
    expect(page.get_by_role("heading", name=invoice.number, level=1)).to_be_visible()
    offer = page.get_by_test_id("pdf-download-offer")
    expect(offer).to_be_visible()
    screenshot(page, "error-pdf-after-sign-in")
    with page.expect_download() as download:
        offer.get_by_role("link", name="Download the PDF").click()
    assert download.value.suggested_filename == f"{invoice.number}.pdf"
    assert page.url.endswith("?download=pdf")  # the reader stays on the page

    # Signed in, the same link downloads at once (as a button on the page does).
    response = page.request.get(live.url + pdf)
    assert response.ok
    assert response.headers["content-type"] == "application/pdf"


def test_the_404_and_405_pages_with_debug_off(live, page_for, settings, alice, bob):
    settings.DEBUG = False
    invoice = InvoiceFactory(user=bob, status="open")
    page = page_for(alice)

    response = page.goto(live.url + reverse("portal:invoice_detail", args=[invoice.pk]))
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("We can't find that page")
    expect(page.get_by_test_id("error-page")).to_contain_text(
        "You are signed in as alice@example.com."
    )
    expect(page.get_by_role("link", name="Go to your billing")).to_be_visible()
    screenshot(page, "error-404")

    ours = InvoiceFactory(user=alice, status="open")
    token = links.hosted_invoice_token(ours.pk)
    anonymous = page_for(None)
    response = anonymous.goto(live.url + reverse("hosted:pay", args=[token]))
    assert response.status == 405
    expect(anonymous.get_by_role("heading", level=1)).to_have_text(
        "This link only works from the invoice page"
    )
    anonymous.get_by_role("link", name="Go to the invoice").click()
    anonymous.wait_for_url(f"**{reverse('hosted:invoice', args=[token])}")
    expect(anonymous.get_by_role("button", name=re.compile("^Pay"))).to_be_visible()
    anonymous.go_back()
    screenshot(anonymous, "error-405-hosted-pay")
