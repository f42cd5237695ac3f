"""The invoice pages, the wallet, the hosted invoice page, the sandbox payment page and
the invoice PDF in Indonesian: a browser asking for ``id`` reads them in Indonesian,
with Indonesian dates ("8 Desember 2026"), and types amounts the Indonesian way
("Rp 1.500.000"); the English pages and amounts are unchanged."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django import forms
from django.test import Client
from django.urls import reverse
from django.utils import translation
from pypdf import PdfReader

from conftest import local, local_day
from portal import links, presenters
from portal.forms_wallet import TopUpForm, parse_amount
from portal.invoice_pdf import FONTS, NOTHING, _fonts_only, render_pdf
from portal.languages import remember
from portal.views_invoices import line_label
from subscriptions import services
from subscriptions.models import Payment
from subscriptions.services import LineSpec, invoice_create
from subscriptions.tests.factories import PlanFactory, UserFactory
from wallets.models import TopUp
from wallets.tests.factories import funded_wallet

ID_MONTHS = (
    "Januari", "Februari", "Maret", "April", "Mei", "Juni",
    "Juli", "Agustus", "September", "Oktober", "November", "Desember",
)  # fmt: skip
WALLET = "/billing/wallet/"
TOPUP = "/billing/wallet/top-up/"
INVOICES = "/billing/invoices/"


def id_day(value: dt.datetime) -> str:
    """``value``'s day in the project's time zone as Indonesian pages write it."""
    day = local(value)
    return f"{day.day} {ID_MONTHS[day.month - 1]} {day.year}"


def text(response) -> str:
    return response.content.decode().replace("\u00a0", " ")


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages).replace("\u00a0", " ")


def pdf_fonts(content: bytes) -> set[str]:
    reader = PdfReader(io.BytesIO(content))
    return {
        str(font.get_object()["/BaseFont"])
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
    }


@pytest.fixture(autouse=True)
def language_left_as_found():
    """A request in Indonesian leaves "id" active in this thread (Django activates a
    request's language and never resets it); the next test in this worker would read
    Indonesian, and signing in there would store it on the account."""
    with translation.override(translation.get_language()):
        yield


def sign_in(client: Client, user) -> None:
    """``force_login`` without leaving the account's language active in this thread
    (signing in activates it, for the rest of a real request), where it would leak
    into the tests that run after this one."""
    with translation.override(translation.get_language()):
        client.force_login(user)


@pytest.fixture
def rene(db):
    return UserFactory(email="rene@example.com", first_name="René", last_name="Dupré")


@pytest.fixture
def indonesian(client, rene) -> Client:
    """René, who reads Indonesian (his account's language, and his browser's)."""
    remember(rene, "id")
    sign_in(client, rene)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "id"
    return client


@pytest.fixture
def english(client, rene) -> Client:
    remember(rene, "en")
    sign_in(client, rene)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def sandbox(settings):
    settings.MIDTRANS_SERVER_KEY = ""
    settings.SUBSCRIPTIONS_GATEWAY = ""
    settings.SUBSCRIPTIONS_SANDBOX_ALLOWED = True
    return settings


@pytest.fixture
def subscribed_invoice(rene):
    """The first invoice of a Pro subscription: one period line, stored in English."""
    plan = PlanFactory(name="Pro", slug="pro", price=Decimal("150000"))
    return services.subscription_create(user=rene, plan=plan).invoices.get()


# --- Invoice lines ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "english", "indonesian"),
    [
        (
            "Pro (08 Dec 2026 – 08 Jan 2027)",
            "Pro (8 Dec 2026 – 8 Jan 2027)",
            "Pro (8 Desember 2026 – 8 Januari 2027)",
        ),
        (
            "Unused time on Starter (after 15 Dec 2026)",
            "Unused time on Starter (after 15 Dec 2026)",
            "Sisa waktu tak terpakai paket Starter (setelah 15 Desember 2026)",
        ),
        (
            "Remaining time on Pro Plus (15 Dec 2026 – 08 Jan 2027)",
            "Remaining time on Pro Plus (15 Dec 2026 – 8 Jan 2027)",
            "Sisa periode paket Pro Plus (15 Desember 2026 – 8 Januari 2027)",
        ),
        ("Setup", "Setup", "Setup"),  # typed by staff: shown as written
        ("Pro (monthly)", "Pro (monthly)", "Pro (monthly)"),
        ("Pro (31 Feb 2026 – 08 Jan 2027)", "Pro (31 Feb 2026 – 8 Jan 2027)", None),
    ],
)
def test_invoice_lines_are_shown_in_the_readers_language_with_one_date_format(
    stored, english, indonesian
):
    with translation.override("en"):
        assert line_label(stored) == english
    if indonesian is not None:
        with translation.override("id"):
            assert line_label(stored) == indonesian


# --- Invoice list and detail ------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.clock_sensitive
def test_the_invoice_list_reads_in_indonesian(indonesian, subscribed_invoice):
    response = indonesian.get(INVOICES)

    page = text(response)
    assert response.status_code == 200
    assert '<html lang="id"' in page
    assert "Semua tagihan langganan Anda, lengkap dengan PDF-nya." in page
    for label in ("Semua", "Belum dibayar", "Lunas", "Lewat jatuh tempo", "Dibatalkan"):
        assert f">{label}</a>" in page
    assert 'aria-label="Saring menurut status"' in page
    assert id_day(subscribed_invoice.issued_at) in page
    assert "Dec 20" not in page


@pytest.mark.django_db
def test_an_empty_filter_says_so_in_indonesian(indonesian, subscribed_invoice):
    page = text(indonesian.get(INVOICES + "?status=void"))

    assert "Tidak ada tagihan dibatalkan" in page
    assert "Tampilkan semua tagihan" in page


@pytest.mark.django_db
@pytest.mark.clock_sensitive
def test_the_invoice_page_reads_in_indonesian(indonesian, subscribed_invoice):
    invoice = subscribed_invoice
    line = invoice.lines.get()

    response = indonesian.get(reverse("portal:invoice_detail", args=[invoice.pk]))

    page = text(response)
    assert response.status_code == 200
    for words in (
        "Ditagihkan kepada",
        "Tanggal terbit",
        "Harga satuan",
        "Jumlah yang harus dibayar",
        "Unduh PDF",
        "Bayar dengan transfer bank, e-wallet, atau kartu",
    ):
        assert words in page
    assert f'<td class="inv-num">{id_day(invoice.issued_at)}</td>' in page
    assert f"Rp 150.000 jatuh tempo {id_day(invoice.due_date)}" in page
    assert f"Pro ({id_day(line.period_start)} – {id_day(line.period_end)})" in page
    assert "Due date" not in page


@pytest.mark.django_db
@pytest.mark.clock_sensitive
def test_the_english_invoice_page_writes_every_date_one_way(english, subscribed_invoice):
    invoice = subscribed_invoice
    line = invoice.lines.get()

    page = text(english.get(reverse("portal:invoice_detail", args=[invoice.pk])))

    assert f"Rp 150.000 due {local_day(invoice.due_date)}" in page
    assert f"Pro ({local_day(line.period_start)} – {local_day(line.period_end)})" in page
    assert f"{local(line.period_start):%d %b %Y}" not in page.replace(
        local_day(line.period_start), ""
    )


@pytest.mark.django_db
def test_a_plan_change_invoice_shows_its_proration_lines_in_indonesian(indonesian, rene):
    plan = PlanFactory(name="Pro", slug="pro", price=Decimal("150000"))
    invoice = invoice_create(
        user=rene,
        plan=plan,
        reason="plan_change",
        lines=[
            LineSpec(
                description="Unused time on Starter (after 15 Dec 2026)",
                unit_amount=Decimal("-50000"),
                is_proration=True,
            ),
            LineSpec(
                description="Remaining time on Pro (15 Dec 2026 – 08 Jan 2027)",
                unit_amount=Decimal("200000"),
                is_proration=True,
            ),
        ],
    )

    page = text(indonesian.get(reverse("portal:invoice_detail", args=[invoice.pk])))

    assert "Sisa waktu tak terpakai paket Starter (setelah 15 Desember 2026)" in page
    assert "Sisa periode paket Pro (15 Desember 2026 – 8 Januari 2027)" in page
    assert "PRORATA" in page


# --- The PDF ----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.clock_sensitive
def test_the_pdf_is_in_the_readers_language_and_its_font_draws_every_name(
    indonesian, subscribed_invoice
):
    invoice = subscribed_invoice

    response = indonesian.get(reverse("portal:invoice_pdf", args=[invoice.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    content = pdf_text(response.content)
    assert "Tagihan" in content
    assert "DITAGIHKAN KEPADA" in content  # the label is upper case in the PDF
    assert "Penagihan langganan" in content
    assert id_day(invoice.issued_at) in content
    assert f"jatuh tempo {id_day(invoice.due_date)}" in content
    assert "René Dupré" in content
    assert "Invoice number" not in content
    fonts = pdf_fonts(response.content)
    assert any(font.endswith("+DejaVuSans") for font in fonts)
    assert any(font.endswith("+DejaVuSans-Bold") for font in fonts)


@pytest.mark.django_db
def test_the_english_pdf_stays_english(english, subscribed_invoice):
    response = english.get(reverse("portal:invoice_pdf", args=[subscribed_invoice.pk]))

    content = pdf_text(response.content)
    assert "Invoice number" in content
    assert "René Dupré" in content
    assert "Tagihan" not in content
    # The period's two dates keep the spaces around their dash (its halves are spans).
    with translation.override("en"):
        start = presenters.format_date(subscribed_invoice.period_start)
        end = presenters.format_date(subscribed_invoice.period_end)
    assert f"{start} – {end}" in content


def test_the_pdf_font_draws_what_helvetica_cannot():
    pdf = render_pdf(
        '<html><head><meta charset="utf-8"><style>'
        '@font-face { font-family: "Invoice Sans"; src: url("pdf-font:regular"); }'
        'body { font-family: "Invoice Sans"; }</style></head>'
        "<body><p>Łukasz Şükrü · René – 8 Desember 2026 → Rp 150.000</p></body></html>"
    )

    assert "Łukasz Şükrü · René – 8 Desember 2026 → Rp 150.000" in pdf_text(pdf)


@pytest.mark.parametrize(
    "uri",
    [
        "file:///etc/passwd",
        "/etc/passwd",
        "https://example.com/logo.png",
        str(FONTS["pdf-font:regular"]),  # the font's own path: only its name opens it
        "pdf-font:../../settings.py",
    ],
)
def test_the_pdf_renderer_opens_the_fonts_by_name_and_nothing_else(uri):
    assert _fonts_only(uri, "") == NOTHING
    assert _fonts_only("pdf-font:regular", "") == str(FONTS["pdf-font:regular"])
    assert all(path.is_file() for path in FONTS.values())


# --- Wallet: the page and amounts -------------------------------------------------------


@pytest.mark.django_db
def test_the_wallet_reads_in_indonesian(indonesian, rene, sandbox):
    funded_wallet(rene, 250000)
    indonesian.post(TOPUP, {"preset": "100000"})
    topup = TopUp.objects.get()

    page = text(indonesian.get(WALLET))

    assert "Saldo tersedia" in page
    assert "Bayar otomatis perpanjangan" in page
    assert "Antara Rp 10.000 dan Rp 50.000.000." in page
    assert 'placeholder="150.000"' in page
    assert "Lanjut ke pembayaran</button>" in page
    assert "Pengisian saldo terakhir" in page
    created = local(topup.created_at)
    assert f"{id_day(topup.created_at)}, {created:%H.%M}" in page
    assert "Menunggu pembayaran" in page


@pytest.mark.django_db
def test_the_english_wallet_shows_an_english_amount_example(english):
    assert 'placeholder="150,000"' in text(english.get(WALLET))


@pytest.mark.parametrize(
    ("language", "typed", "amount"),
    [
        ("id", "150.000", Decimal("150000")),
        ("id", "Rp 150.000", Decimal("150000")),
        ("id", "Rp\u00a0150.000", Decimal("150000")),
        ("id", "1.500.000", Decimal("1500000")),
        ("id", "150000", Decimal("150000")),
        ("en", "150,000", Decimal("150000")),
        ("en", "1,500,000", Decimal("1500000")),
        ("en", "Rp 150.000", Decimal("150000")),  # rupiah are grouped by dots on every page
        ("en", "150.000", Decimal("150000")),
    ],
)
def test_rupiah_are_read_the_active_languages_way(language, typed, amount):
    with translation.override(language):
        assert parse_amount(typed, "IDR") == amount


@pytest.mark.parametrize(
    ("language", "typed"),
    [("id", "150.000,50"), ("id", "150000,5"), ("en", "150000.50"), ("en", "150,000.5")],
)
def test_a_fraction_of_a_rupiah_is_refused_in_either_language(language, typed):
    with translation.override(language), pytest.raises(forms.ValidationError) as refused:
        parse_amount(typed, "IDR")
    assert refused.value.code == "decimal"


@pytest.mark.parametrize(
    ("language", "typed", "amount"),
    [
        ("id", "150.000,50", Decimal("150000.50")),
        ("id", "1.500", Decimal("1500")),
        ("en", "150000.50", Decimal("150000.50")),
        ("en", "1,500.5", Decimal("1500.5")),
    ],
)
def test_a_currency_with_cents_reads_the_decimal_separator_of_the_language(language, typed, amount):
    with translation.override(language):
        assert parse_amount(typed, "USD") == amount


@pytest.mark.parametrize(("language", "typed"), [("en", "1.500"), ("id", "150000.50")])
def test_a_currency_with_cents_refuses_the_other_languages_decimals(language, typed):
    with translation.override(language), pytest.raises(forms.ValidationError) as refused:
        parse_amount(typed, "USD")
    assert refused.value.code == "invalid"


def test_the_amount_example_follows_the_language():
    for language, example in (("id", "150.000"), ("en", "150,000")):
        with translation.override(language):
            form = TopUpForm(currency="IDR")
            assert form.fields["custom_amount"].widget.attrs["placeholder"] == example


@pytest.mark.django_db
def test_a_top_up_typed_the_indonesian_way_asks_for_that_amount(indonesian, rene, sandbox):
    response = indonesian.post(TOPUP, {"custom_amount": "Rp 1.500.000"})

    assert response.status_code == 302
    assert TopUp.objects.get().amount == Decimal("1500000")


@pytest.mark.django_db
def test_a_fraction_typed_in_indonesian_is_refused_in_indonesian(indonesian, rene, sandbox):
    response = indonesian.post(TOPUP, {"custom_amount": "150.000,50"})

    assert response.status_code == 200
    assert "Isi saldo dalam rupiah bulat: hapus angka desimalnya." in text(response)
    assert not TopUp.objects.exists()


@pytest.mark.django_db
def test_an_amount_below_the_minimum_is_refused_in_indonesian(indonesian, rene, sandbox):
    response = indonesian.post(TOPUP, {"custom_amount": "9.999"})

    assert "Pengisian saldo minimal Rp 10.000." in text(response)
    assert not TopUp.objects.exists()


# --- The hosted invoice page ------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.clock_sensitive
def test_the_hosted_invoice_page_follows_the_visitors_language(subscribed_invoice):
    invoice = subscribed_invoice
    line = invoice.lines.get()
    visitor = Client(HTTP_ACCEPT_LANGUAGE="id")  # not signed in: the link is the permission

    response = visitor.get(links.hosted_invoice_path(invoice.pk))

    page = text(response)
    assert response.status_code == 200
    assert '<html lang="id"' in page
    assert f"Jatuh tempo {id_day(invoice.due_date)}" in page
    assert f"Pro ({id_day(line.period_start)} – {id_day(line.period_end)})" in page
    assert "Bayar Rp 150.000 sekarang" in page
    assert "Rincian tagihan" in page


@pytest.mark.django_db
def test_a_broken_hosted_link_says_so_in_indonesian(db):
    visitor = Client(HTTP_ACCEPT_LANGUAGE="id")

    response = visitor.get(reverse("hosted:invoice", args=["not-a-token"]))

    assert response.status_code == 404
    assert "Tautan ini tidak berfungsi" in text(response)


# --- The sandbox payment page -----------------------------------------------------------


@pytest.mark.django_db
def test_the_sandbox_payment_page_reads_in_indonesian(sandbox_settings, subscribed_invoice):
    visitor = Client(HTTP_ACCEPT_LANGUAGE="id")
    response = visitor.post(links.hosted_invoice_path(subscribed_invoice.pk) + "pay/")
    assert response.status_code == 302
    parts = urlsplit(response["Location"])
    payment = Payment.objects.get(invoice=subscribed_invoice)

    page = text(visitor.get(f"{parts.path}?{parts.query}"))

    assert "Sandbox pembayaran." in page
    assert "Jumlah yang harus dibayar" in page
    assert f"Untuk tagihan {subscribed_invoice.number}" in page
    assert "Virtual account BCA" in page
    assert ">Bayar nanti</button>" in page
    assert ">Bayar</button>" in page
    assert "Kartu kredit" in page
    assert "Halaman pembayaran ini berlaku sampai" in page
    assert "Pay later" not in page
    assert payment.status == "pending"
