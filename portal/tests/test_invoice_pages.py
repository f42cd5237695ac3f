"""The invoice pages: the list by status, one invoice with its lines and payments,
paying it from the wallet (all or nothing), and its PDF from the same template."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pypdf import PdfReader

from conftest import local_day
from portal.invoice_pdf import render_pdf
from subscriptions.models import Invoice, Payment
from subscriptions.services import (
    LineSpec,
    invoice_create,
    invoice_void,
    payment_apply_status,
    payment_create,
)
from subscriptions.tests.factories import InvoiceFactory, PlanFactory
from wallets.models import Wallet, WalletTransaction
from wallets.services import wallet_pay_invoice
from wallets.tests.factories import funded_wallet

LIST = "/billing/invoices/"


def detail_url(invoice: Invoice) -> str:
    return reverse("portal:invoice_detail", args=[invoice.pk])


def pdf_url(invoice: Invoice) -> str:
    return reverse("portal:invoice_pdf", args=[invoice.pk])


def pay_url(invoice: Invoice) -> str:
    return reverse("portal:invoice_pay_wallet", args=[invoice.pk])


def text(response) -> str:
    return response.content.decode().replace("\u00a0", " ")


@pytest.fixture
def signed_in(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def pro(db):
    return PlanFactory(name="Pro", slug="pro", price=Decimal("150000"))


def upgrade_invoice(user, plan) -> Invoice:
    """An issued plan-change invoice: a proration credit and a prorated charge."""
    return invoice_create(
        user=user,
        plan=plan,
        reason="plan_change",
        lines=[
            LineSpec(
                description="Unused time on Starter",
                unit_amount=Decimal("-50000"),
                is_proration=True,
            ),
            LineSpec(
                description="Remaining time on Pro",
                unit_amount=Decimal("200000"),
                is_proration=True,
            ),
            LineSpec(description="Setup", unit_amount=Decimal("25000"), quantity=2),
        ],
    )


def simple_invoice(user, plan, amount="150000") -> Invoice:
    return invoice_create(
        user=user,
        plan=plan,
        lines=[LineSpec(description="Pro (monthly)", unit_amount=Decimal(amount))],
    )


def listed(response) -> str:
    """The invoice list itself (not the banners above it, which may name invoices too)."""
    return text(response).split('id="invoice-list"', 1)[1]


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages).replace("\u00a0", " ")


# --- Access -----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["detail", "pdf", "pay"])
def test_another_users_invoice_is_not_found(client, alice, bob, pro, name):
    invoice = simple_invoice(alice, pro)
    funded_wallet(bob, 500000)
    client.force_login(bob)

    url = {"detail": detail_url, "pdf": pdf_url, "pay": pay_url}[name](invoice)
    response = client.post(url) if name == "pay" else client.get(url)

    assert response.status_code == 404
    invoice.refresh_from_db()
    assert invoice.status == "open"
    assert not Payment.objects.exists()
    assert Wallet.objects.get(user=bob).balance == Decimal("500000")


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["detail", "pdf", "pay"])
def test_a_draft_is_not_shown_even_to_its_owner(signed_in, alice, pro, name):
    draft = invoice_create(
        user=alice,
        plan=pro,
        issue=False,
        lines=[LineSpec(description="x", unit_amount=Decimal("1"))],
    )
    url = {"detail": detail_url, "pdf": pdf_url, "pay": pay_url}[name](draft)

    response = signed_in.post(url) if name == "pay" else signed_in.get(url)

    assert response.status_code == 404


@pytest.mark.django_db
def test_every_invoice_url_sends_an_anonymous_visitor_to_sign_in_and_back(client, alice, pro):
    invoice = simple_invoice(alice, pro)

    for method, url in [
        ("get", LIST),
        ("get", detail_url(invoice)),
        ("get", pdf_url(invoice)),
        ("post", pay_url(invoice)),
    ]:
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        # The PDF comes back to the invoice's page, with the PDF offered.
        back = f"{detail_url(invoice)}?download=pdf" if url == pdf_url(invoice) else url
        assert response["Location"] == f"{reverse('account_login')}?next={quote(back, safe='/')}"
    assert not Payment.objects.exists()


@pytest.mark.django_db
def test_paying_from_the_wallet_refuses_a_get(signed_in, alice, pro):
    invoice = simple_invoice(alice, pro)
    funded_wallet(alice, 500000)

    assert signed_in.get(pay_url(invoice)).status_code == 405
    assert Invoice.objects.get(pk=invoice.pk).status == "open"


@pytest.mark.django_db
def test_paying_from_the_wallet_refuses_a_post_without_the_csrf_token(alice, pro):
    invoice = simple_invoice(alice, pro)
    funded_wallet(alice, 500000)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    assert client.post(pay_url(invoice)).status_code == 403
    assert Invoice.objects.get(pk=invoice.pk).status == "open"
    assert Wallet.objects.get(user=alice).balance == Decimal("500000")


# --- List -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_list_shows_the_owners_invoices_newest_first_with_status_badges(
    signed_in, alice, bob, pro
):
    first = simple_invoice(alice, pro)
    second = simple_invoice(alice, pro, amount="99000")
    invoice_void(invoice=first, reason="Duplicate")
    strangers = simple_invoice(bob, pro)

    response = signed_in.get(LIST)
    page = listed(response)

    assert page.index(second.number) < page.index(first.number)
    assert strangers.number not in page
    assert "Rp 99.000" in page
    assert 'class="badge badge-info"' in page  # open
    assert 'class="badge badge-neutral"' in page  # void
    assert pdf_url(first) in page
    assert f'href="{LIST}" aria-current="page"' in text(response)  # the nav


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["open", "paid", "overdue", "void"])
def test_the_list_filters_by_status(signed_in, alice, status):
    wanted = InvoiceFactory(user=alice, status=status)
    others = [InvoiceFactory(user=alice, status=s) for s in ("open", "paid", "overdue", "void")]

    page = listed(signed_in.get(f"{LIST}?status={status}"))

    assert wanted.number in page
    for other in others:
        assert (other.number in page) == (other.status == status)
    assert re.search(rf'href="{LIST}\?status={status}"[^>]*aria-current="page"', page)


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["bogus", "draft", "PAID", "<script>", "o" * 5000])
def test_an_unknown_status_filter_is_ignored(signed_in, alice, status):
    invoices = [InvoiceFactory(user=alice, status=s) for s in ("open", "paid", "void")]
    InvoiceFactory(user=alice, status="draft")

    response = signed_in.get(LIST, {"status": status})

    page = listed(response)
    assert response.status_code == 200
    assert all(invoice.number in page for invoice in invoices)
    assert "<script>" not in page


@pytest.mark.django_db
def test_an_empty_filter_says_so(signed_in, alice):
    InvoiceFactory(user=alice, status="paid")

    page = text(signed_in.get(LIST + "?status=overdue"))

    assert "No overdue invoices" in page
    assert "Show all invoices" in page


@pytest.mark.django_db
def test_the_list_pages_25_at_a_time_keeping_the_filter(signed_in, alice):
    for _ in range(30):
        InvoiceFactory(user=alice, status="paid")
    InvoiceFactory(user=alice, status="open")

    first = text(signed_in.get(LIST + "?status=paid"))
    second = text(signed_in.get(LIST + "?status=paid&page=2"))
    bad = signed_in.get(LIST + "?status=paid&page=zzz")

    assert first.count("badge-success") == 25
    assert second.count("badge-success") == 5
    assert "Page 2 of 2" in second
    assert "?status=paid&amp;page=2" in first
    assert bad.status_code == 200
    assert text(bad).count("badge-success") == 25


@pytest.mark.django_db
def test_htmx_filtering_returns_only_the_list(signed_in, alice):
    InvoiceFactory(user=alice, status="paid")

    response = signed_in.get(
        LIST + "?status=paid", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="invoice-list"
    )

    body = text(response)
    assert body.lstrip().startswith('<div id="invoice-list"')
    assert "<html" not in body
    assert 'hx-trigger="invoices-changed from:body"' in body
    assert "HX-Target" in response["Vary"]


@pytest.mark.django_db
def test_the_list_runs_the_same_queries_with_a_thousand_invoices(
    client, alice, bob, pro, django_assert_max_num_queries
):
    InvoiceFactory(user=bob, plan=pro)
    Invoice.objects.bulk_create(
        InvoiceFactory.build(user=alice, plan=pro, status="paid", number=f"BULK-{i:05d}")
        for i in range(1000)
    )

    client.force_login(bob)
    with CaptureQueriesContext(connection) as one:
        assert client.get(LIST).status_code == 200
    client.force_login(alice)
    with django_assert_max_num_queries(len(one)):
        response = client.get(LIST + "?status=paid&page=3")

    assert "Page 3 of 40" in text(response)
    assert len(one) <= 10, [q["sql"] for q in one]


# --- Detail -----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.clock_sensitive
def test_the_detail_shows_number_dates_lines_with_proration_totals_and_payments(
    signed_in, alice, pro
):
    invoice = upgrade_invoice(alice, pro)
    failed = payment_create(user=alice, amount=invoice.total, invoice=invoice, gateway="sandbox")
    payment_apply_status(payment=failed, transaction_status="deny", payment_type="credit_card")

    page = text(signed_in.get(detail_url(invoice)))

    assert (
        f'<h1 class="text-2xl font-semibold tracking-tight text-gray-900">{invoice.number}</h1>'
        in page
    )
    # The portal's time zone (Asia/Jakarta), not UTC: a day apart for 7 hours of each day.
    issued, due = local_day(invoice.issued_at), local_day(invoice.due_date)
    assert f'Date of issue</td><td class="inv-num">{issued}</td>' in page
    assert f'Due date</td><td class="inv-num">{due}</td>' in page
    assert "Unused time on Starter" in page
    assert "Remaining time on Pro" in page
    assert page.count('data-testid="proration"') == 2  # the setup line is not prorated
    assert "-Rp 50.000" in page
    assert "Rp 25.000" in page  # unit price of the setup line (quantity 2)
    assert 'data-testid="invoice-total">Rp 200.000<' in page
    assert "Card" in page
    assert "Declined" in page
    assert "Amount due" in page


@pytest.mark.django_db
def test_an_open_invoice_offers_the_wallet_when_it_covers_the_total(signed_in, alice, pro):
    invoice = simple_invoice(alice, pro)
    funded_wallet(alice, 200000)

    page = text(signed_in.get(detail_url(invoice)))

    assert f'hx-post="{pay_url(invoice)}"' in page
    assert f'action="{pay_url(invoice)}"' in page  # works without JavaScript too
    assert "Pay from wallet" in page
    assert "Wallet balance Rp 200.000" in page
    assert f'action="{reverse("checkout:pay", args=[invoice.pk])}"' in page


@pytest.mark.django_db
def test_an_open_invoice_the_wallet_cannot_cover_links_to_a_top_up(signed_in, alice, pro):
    invoice = simple_invoice(alice, pro)
    funded_wallet(alice, 20000)

    page = text(signed_in.get(detail_url(invoice)))

    assert "Pay from wallet" not in page
    assert "Your wallet holds Rp 20.000" in page
    assert "/billing/wallet/?amount=130000#top-up" in page
    assert "Pay by bank transfer, e-wallet or card" in page


@pytest.mark.django_db
@pytest.mark.clock_sensitive
def test_a_paid_invoice_says_when_and_offers_no_payment(signed_in, alice, pro):
    invoice = simple_invoice(alice, pro)
    funded_wallet(alice, 200000)
    wallet_pay_invoice(invoice=invoice, user=alice)
    invoice.refresh_from_db()

    page = text(signed_in.get(detail_url(invoice)))

    assert f"Rp 150.000 paid on {local_day(invoice.paid_at)}" in page
    assert "Wallet balance" in page  # the payment's method
    assert "Pay from wallet" not in page
    assert reverse("checkout:pay", args=[invoice.pk]) not in page


# --- Pay from the wallet ----------------------------------------------------------------


@pytest.mark.django_db
def test_paying_from_the_wallet_swaps_the_card_with_the_banner_and_both_events(
    signed_in, alice, pro
):
    invoice = simple_invoice(alice, pro)
    funded_wallet(alice, 200000)

    response = signed_in.post(
        pay_url(invoice), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="invoice-card"
    )

    body = text(response)
    invoice.refresh_from_db()
    assert response.status_code == 200
    assert invoice.status == "paid"
    assert Wallet.objects.get(user=alice).balance == Decimal("50000")
    assert body.lstrip().startswith('<div id="invoice-card"')
    assert 'data-testid="invoice-status">Paid<' in body
    assert '<div id="notifications"' in body
    assert 'hx-swap-oob="true"' in body
    assert f"Invoice {invoice.number} is paid from your wallet." in body
    triggers = response["HX-Trigger"]
    assert "wallet-changed" in triggers
    assert "invoices-changed" in triggers


@pytest.mark.django_db
def test_paying_from_the_wallet_without_javascript_redirects_to_the_paid_invoice(
    signed_in, alice, pro
):
    invoice = simple_invoice(alice, pro)
    funded_wallet(alice, 150000)

    response = signed_in.post(pay_url(invoice), follow=True)

    assert response.redirect_chain == [(detail_url(invoice), 302)]
    assert "is paid from your wallet" in text(response)
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    assert Wallet.objects.get(user=alice).balance == 0


@pytest.mark.django_db
@pytest.mark.parametrize("htmx", [True, False])
def test_paying_with_too_little_in_the_wallet_changes_nothing_and_offers_a_top_up(
    signed_in, alice, pro, htmx
):
    invoice = simple_invoice(alice, pro)
    wallet = funded_wallet(alice, 100000)
    ledger_before = list(WalletTransaction.objects.values_list("pk", flat=True))

    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = signed_in.post(pay_url(invoice), **headers)

    body = text(response)
    assert response.status_code == (200 if htmx else 409)
    assert "Your wallet balance (Rp 100.000) does not cover this invoice." in body
    assert 'data-testid="topup-link"' in body
    assert "/billing/wallet/?amount=50000#top-up" in body
    if htmx:
        assert "HX-Trigger" not in response
    invoice.refresh_from_db()
    wallet.refresh_from_db()
    assert invoice.status == "open"
    assert wallet.balance == Decimal("100000")
    assert list(WalletTransaction.objects.values_list("pk", flat=True)) == ledger_before
    assert not Payment.objects.exists()


@pytest.mark.django_db
def test_paying_a_paid_invoice_again_is_a_message_not_a_second_debit(signed_in, alice, pro):
    invoice = simple_invoice(alice, pro)
    funded_wallet(alice, 400000)
    wallet_pay_invoice(invoice=invoice, user=alice)

    response = signed_in.post(pay_url(invoice), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert "cannot be paid" in text(response)
    assert Wallet.objects.get(user=alice).balance == Decimal("250000")
    assert Payment.objects.count() == 1


# --- PDF --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_pdf_is_a_real_pdf_named_after_the_invoice(signed_in, alice, pro):
    invoice = upgrade_invoice(alice, pro)

    response = signed_in.get(pdf_url(invoice))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{invoice.number}.pdf"'
    assert response.content.startswith(b"%PDF-")
    content = pdf_text(response.content)
    assert invoice.number in content
    assert "Unused time on Starter" in content
    assert "Remaining time on Pro" in content
    assert "PRORATION" in content
    assert "Setup" in content
    assert "Rp 200.000" in content
    assert alice.email in content


@pytest.mark.django_db
@pytest.mark.clock_sensitive
def test_the_pdf_and_the_page_come_from_the_same_template(signed_in, alice, pro):
    invoice = upgrade_invoice(alice, pro)
    funded_wallet(alice, 500000)
    wallet_pay_invoice(invoice=invoice, user=alice)
    invoice.refresh_from_db()

    page = text(signed_in.get(detail_url(invoice)))
    content = pdf_text(signed_in.get(pdf_url(invoice)).content)

    # The same document: the same headings, sentences and amounts in both.
    for phrase in (
        "Billed to",
        "Date of issue",
        f"Rp 200.000 paid on {local_day(invoice.paid_at)}",
        "Amount paid",
        "Payments received" if "Payments received" in content else "Payments",
        "Questions about this invoice? Contact us and quote its number.",
    ):
        assert phrase.lower() in page.lower(), phrase
        assert phrase.lower() in content.lower(), phrase
    assert f"Date of issue {local_day(invoice.issued_at)}" in " ".join(content.split())
    assert "Wallet balance" in content  # the method of the payment received
    # ...without the page's controls.
    assert "Download PDF" not in content
    assert "Pay from wallet" not in content


@pytest.mark.django_db
def test_markup_in_an_invoice_line_is_text_in_the_pdf(signed_in, alice, pro):
    invoice = invoice_create(
        user=alice,
        plan=pro,
        lines=[LineSpec(description='<img src="file:///etc/passwd">', unit_amount=Decimal("1000"))],
    )

    response = signed_in.get(pdf_url(invoice))

    assert response.status_code == 200
    assert '<img src="file:///etc/passwd">' in pdf_text(response.content)


def test_the_pdf_renderer_fetches_nothing_the_markup_names(httpserver):
    httpserver.expect_request("/logo.png").respond_with_data(b"not an image")
    url = httpserver.url_for("/logo.png")

    pdf = render_pdf(
        f'<html><head><link rel="stylesheet" href="{url}"></head>'
        f'<body><img src="{url}"><p>Invoice</p></body></html>'
    )

    assert pdf.startswith(b"%PDF-")
    assert httpserver.log == []


@pytest.mark.django_db
def test_the_pdf_runs_a_constant_number_of_queries(
    signed_in, alice, pro, django_assert_max_num_queries
):
    invoice = invoice_create(
        user=alice,
        plan=pro,
        lines=[LineSpec(description=f"Line {i}", unit_amount=Decimal("1000")) for i in range(40)],
    )
    for _ in range(5):
        payment = payment_create(user=alice, amount=invoice.total, invoice=invoice)
        payment_apply_status(payment=payment, transaction_status="expire")

    with django_assert_max_num_queries(8):
        response = signed_in.get(pdf_url(invoice))

    assert "Line 39" in pdf_text(response.content)


@pytest.mark.django_db
def test_the_detail_page_runs_a_constant_number_of_queries(
    signed_in, alice, pro, django_assert_max_num_queries
):
    invoice = invoice_create(
        user=alice,
        plan=pro,
        lines=[LineSpec(description=f"Line {i}", unit_amount=Decimal("1000")) for i in range(40)],
    )
    for _ in range(5):
        payment = payment_create(user=alice, amount=invoice.total, invoice=invoice)
        payment_apply_status(payment=payment, transaction_status="expire")

    with django_assert_max_num_queries(10):
        response = signed_in.get(detail_url(invoice))

    assert len(re.findall('data-testid="invoice-line"', text(response))) == 40
