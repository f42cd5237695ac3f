"""The seller (``PORTAL_SELLER_*``, ``portal/seller.py``) on the hosted invoice page, in
the emails (billing and allauth's) and on the invoice PDF: the logo and the brand
always, the legal name, address, tax ID (NPWP) and contact when they are set, and
nothing broken or empty-labelled when they are not.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from pypdf import PdfReader

from portal import links
from portal.emails import build_context, render_email
from portal.invoice_pdf import LOGO, _fonts_only, render_pdf
from portal.seller import DEFAULT_LOGO, seller
from subscriptions import services
from subscriptions.tests.factories import PlanFactory

BRAND = "Kopi Kita Billing"
NAME = "PT Kopi Kita Digital"
ADDRESS = "Jl. Sudirman Kav. 52-53\nJakarta Selatan 12190\nIndonesia"
TAX_ID = "01.234.567.8-901.000"
EMAIL = "tagihan@kopikita.co.id"
PASSWORD = "a much better passphrase 42"


@pytest.fixture(autouse=True)
def brand(settings):
    settings.PORTAL_BRAND_NAME = BRAND


@pytest.fixture
def seller_set(settings):
    settings.PORTAL_SELLER_NAME = NAME
    settings.PORTAL_SELLER_ADDRESS = ADDRESS
    settings.PORTAL_SELLER_TAX_ID = TAX_ID
    settings.PORTAL_SELLER_EMAIL = EMAIL
    return settings


@pytest.fixture
def invoice(alice):
    plan = PlanFactory(name="Pro", price=Decimal("150000"))
    return services.subscription_create(user=alice, plan=plan).invoices.get()


def visible(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    html = re.sub(r"<[^>]+>", " ", html)
    return " ".join(html.split())


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages).replace("\u00a0", " ")


def pdf_images(content: bytes) -> list:
    return [image for page in PdfReader(io.BytesIO(content)).pages for image in page.images]


def html_alternative(message) -> str:
    (html,) = [content for content, mimetype in message.alternatives if mimetype == "text/html"]
    return html


# --- The settings -----------------------------------------------------------------------


def test_nothing_set_is_the_brand_and_the_built_in_logo(settings):
    for name in ("NAME", "ADDRESS", "TAX_ID", "EMAIL", "LOGO"):
        if hasattr(settings, f"PORTAL_SELLER_{name}"):
            delattr(settings, f"PORTAL_SELLER_{name}")

    found = seller()

    assert found.brand == BRAND
    assert (found.name, found.address, found.tax_id, found.email) == ("", "", "", "")
    assert not found.has_details
    assert found.logo == DEFAULT_LOGO
    assert found.logo_url == "/static/img/logo.png"
    assert found.logo_absolute_url == "http://testserver/static/img/logo.png"
    assert found.logo_data_uri().startswith("data:image/png;base64,")


def test_the_address_has_one_line_per_line_typed_or_escaped(settings):
    settings.PORTAL_SELLER_ADDRESS = "  Jl. Sudirman 1\\nJakarta  \n\n Indonesia "

    assert seller().address_lines == ("Jl. Sudirman 1", "Jakarta", "Indonesia")


def test_the_settings_read_from_the_environment():
    """Settings are read once per process: a fresh one reads these variables."""
    script = (
        "import json; from portal import settings as s; print(json.dumps([s.PORTAL_SELLER_NAME,"
        " s.PORTAL_SELLER_ADDRESS, s.PORTAL_SELLER_TAX_ID, s.PORTAL_SELLER_EMAIL,"
        " s.PORTAL_SELLER_LOGO]))"
    )
    env = {
        **os.environ,
        "DEBUG": "1",
        "PORTAL_SELLER_NAME": NAME,
        "PORTAL_SELLER_ADDRESS": "Jl. Sudirman 1\\nJakarta",
        "PORTAL_SELLER_TAX_ID": TAX_ID,
        "PORTAL_SELLER_EMAIL": EMAIL,
        "PORTAL_SELLER_LOGO": "",
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert json.loads(done.stdout) == [NAME, "Jl. Sudirman 1\nJakarta", TAX_ID, EMAIL, ""]


def test_no_logo_and_a_missing_logo_are_left_out(settings):
    settings.PORTAL_SELLER_LOGO = ""
    assert (seller().logo_url, seller().logo_data_uri()) == ("", "")
    settings.PORTAL_SELLER_LOGO = "img/no-such-logo.png"
    assert seller().logo_path() is None
    assert seller().logo_data_uri() == ""
    settings.PORTAL_SELLER_LOGO = "../../portal/settings.py"
    assert seller().logo_data_uri() == ""


def test_the_pdf_renderer_embeds_the_logo_by_its_fixed_name_only(settings):
    uri = _fonts_only(LOGO, "")
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]).startswith(b"\x89PNG")
    assert _fonts_only("static/img/logo.png", "") == "data:,"
    assert _fonts_only("/work/main/static/img/logo.png", "") == "data:,"
    settings.PORTAL_SELLER_LOGO = ""
    assert _fonts_only(LOGO, "") == "data:,"


# --- The hosted invoice page ------------------------------------------------------------------


def test_the_hosted_page_names_the_seller(client, invoice, seller_set):
    html = client.get(links.hosted_invoice_path(invoice.pk)).content.decode()
    words = visible(html)

    assert '<img src="/static/img/logo.png"' in html
    assert BRAND in words
    assert NAME in words
    assert "Jl. Sudirman Kav. 52-53 Jakarta Selatan 12190 Indonesia" in words
    assert f"Tax ID (NPWP) {TAX_ID}" in words
    assert f'href="mailto:{EMAIL}"' in html


def test_the_hosted_page_without_seller_details_shows_the_brand_only(client, invoice, settings):
    settings.PORTAL_SELLER_LOGO = ""
    html = client.get(links.hosted_invoice_path(invoice.pk)).content.decode()

    assert BRAND in visible(html)
    assert 'data-testid="seller-details"' not in html
    assert "NPWP" not in html
    assert "<img" not in html


def test_the_hosted_page_in_indonesian(invoice, seller_set):
    client = Client()
    client.cookies["django_language"] = "id"
    words = visible(client.get(links.hosted_invoice_path(invoice.pk)).content.decode())

    assert f"NPWP {TAX_ID}" in words
    assert "Tax ID" not in words


# --- Emails ----------------------------------------------------------------------------


def welcome(user):
    plan = PlanFactory.build(name="Pro", price=Decimal("150000"))
    return render_email(
        "subscription_started", build_context(kind="subscription_started", user=user, plan=plan)
    )


def test_an_email_has_the_logo_and_names_the_seller(alice, seller_set):
    email = welcome(alice)

    assert 'src="http://testserver/static/img/logo.png"' in email.html
    words = visible(email.html)
    assert NAME in words
    assert "Jl. Sudirman Kav. 52-53 Jakarta Selatan 12190 Indonesia" in words
    assert f"Tax ID (NPWP) {TAX_ID}" in words
    assert f'href="mailto:{EMAIL}"' in email.html
    # The text version: under the brand, one detail a line.
    footer = email.text.split("\n--\n", 1)[1]
    assert footer.startswith(
        f"{BRAND}\n{NAME}\nJl. Sudirman Kav. 52-53\nJakarta Selatan 12190\nIndonesia\n"
        f"Tax ID (NPWP) {TAX_ID}\n{EMAIL}\nYour account: "
    )


def test_an_email_without_seller_details_is_as_before(alice):
    email = welcome(alice)

    assert "data-seller" not in email.html
    assert "NPWP" not in email.html + email.text
    footer = email.text.split("\n--\n", 1)[1]
    assert footer.startswith(f"{BRAND}\nYour account: ")
    assert 'src="http://testserver/static/img/logo.png"' in email.html


def test_an_email_with_no_logo_has_no_image(alice, settings):
    settings.PORTAL_SELLER_LOGO = ""

    assert "<img" not in welcome(alice).html


def test_the_verification_email_is_branded_like_the_others(db, seller_set, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    settings.SITE_URL = "http://127.0.0.1:8101"

    Client().post(
        reverse("account_signup"),
        {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )

    (message,) = mail.outbox
    assert message.subject.startswith(f"[{BRAND}] ")
    assert "127.0.0.1" not in message.subject
    html = html_alternative(message)
    assert 'src="http://127.0.0.1:8101/static/img/logo.png"' in html  # the brand header
    assert BRAND in visible(html)
    assert f"Tax ID (NPWP) {TAX_ID}" in visible(html)  # the seller footer
    assert "Confirm email address" in html  # the button


# --- The PDF -----------------------------------------------------------------------------


def test_the_invoice_pdf_names_the_seller_with_its_logo(client, alice, invoice, seller_set):
    client.force_login(alice)

    content = client.get(reverse("portal:invoice_pdf", args=[invoice.pk])).content
    text = pdf_text(content)

    assert BRAND in text
    assert NAME in text
    assert "Jl. Sudirman Kav. 52-53" in text
    assert "Jakarta Selatan 12190" in text
    assert f"Tax ID (NPWP) {TAX_ID}" in text
    assert EMAIL in text
    assert len(pdf_images(content)) == 1  # the logo, embedded


def test_the_invoice_pdf_without_seller_details_or_logo(client, alice, invoice, settings):
    settings.PORTAL_SELLER_LOGO = ""
    client.force_login(alice)

    content = client.get(reverse("portal:invoice_pdf", args=[invoice.pk])).content
    text = pdf_text(content)

    assert BRAND in text
    assert "Subscription billing" in text
    assert "NPWP" not in text
    assert pdf_images(content) == []


def test_the_invoice_page_shows_the_seller_too(client, alice, invoice, seller_set):
    client.force_login(alice)

    html = client.get(reverse("portal:invoice_detail", args=[invoice.pk])).content.decode()

    assert '<img src="/static/img/logo.png"' in html
    assert f"Tax ID (NPWP) {TAX_ID}" in visible(html)


def test_a_document_naming_the_logo_file_itself_gets_nothing():
    html = '<html><body><img src="/work/main/static/img/logo.png"><p>x</p></body></html>'

    assert pdf_images(render_pdf(html)) == []


# --- In Chromium ---------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", [390, 1200])
def test_the_hosted_page_shows_the_logo_and_the_seller_in_chromium(
    page_for, live_server, width, seller_set
):
    from conftest import screenshot
    from subscriptions.tests.factories import UserFactory

    plan = PlanFactory(name="Pro", price=Decimal("150000"))
    user = UserFactory(email="buyer@example.com")
    invoice = services.subscription_create(user=user, plan=plan).invoices.get()
    page = page_for(None, width=width, height=844)

    page.goto(live_server.url + links.hosted_invoice_path(invoice.pk))

    block = page.get_by_test_id("seller")
    assert block.locator("img").evaluate("img => img.complete && img.naturalWidth") == 128
    details = page.get_by_test_id("seller-details").inner_text()
    assert f"Tax ID (NPWP) {TAX_ID}" in details
    assert "Jakarta Selatan 12190" in details
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"hosted-invoice-seller-{width}")
