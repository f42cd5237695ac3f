"""What an invoice says after refunds, overpayments and a void (issue 12, item 6).

The page, the PDF and the list read the same figures: the total, what paid it, each
refund (amount, date, where it went, whether it is still in progress), what was
refunded, the net, what is still due, and money that arrived after the invoice was
paid or voided and went back. The hosted page (``/i/<token>/``) is tested in
``test_hosted_invoice.py`` with the same rows (``refund_world``).

Rows are written with the ORM (bulk_create / update, so no signal receiver moves any
money): these tests are about what is shown, whatever code made the rows.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from decimal import Decimal

import lxml.html
import pytest
from django.db import connection, reset_queries
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pypdf import PdfReader

from subscriptions.models import Invoice, InvoiceLine, Payment, Refund
from subscriptions.tests.factories import InvoiceFactory, PaymentFactory, PlanFactory

D = Decimal
UTC = dt.UTC
ISSUED = dt.datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
PAID = dt.datetime(2026, 12, 2, 3, 0, tzinfo=UTC)  # 2 Dec 2026, 10:00 in Jakarta
LATE = dt.datetime(2026, 12, 3, 4, 0, tzinfo=UTC)  # a settlement after the invoice was paid
# 31 Dec in UTC, 1 Jan 2027 in Jakarta: a date written in the wrong zone fails.
REFUNDED = dt.datetime(2026, 12, 31, 18, 30, tzinfo=UTC)
VOIDED = dt.datetime(2026, 12, 4, 20, 0, tzinfo=UTC)  # 5 Dec 2026 in Jakarta

LIST = "/billing/invoices/"


# --- Rows, as the settlement code leaves them ------------------------------------------


def insert(obj):
    """Save without signals (no receiver runs): the rows are the test's input."""
    type(obj).objects.bulk_create([obj])
    return obj


def paid_invoice(user, total="233301", *, payment_type="credit_card", plan=None):
    """A paid invoice with one line and the settled payment that paid it."""
    total = D(total)
    invoice = insert(
        InvoiceFactory.build(
            user=user,
            plan=plan or PlanFactory(name="Pro"),
            reason="renewal",
            status="paid",
            subtotal=total,
            total=total,
            issued_at=ISSUED,
            due_date=ISSUED + dt.timedelta(days=7),
            paid_at=PAID,
        )
    )
    InvoiceLine.objects.create(
        invoice=invoice, description="Pro (December 2026)", unit_amount=total, amount=total
    )
    payment = settled(invoice, total, payment_type=payment_type, at=PAID)
    return invoice, payment


def settled(invoice, amount, *, payment_type="credit_card", at=PAID, overpaid=False):
    """A settled payment for ``invoice``; ``overpaid``: it arrived when the invoice was
    already paid or void, so none of it paid the invoice."""
    amount = D(amount)
    return insert(
        PaymentFactory.build(
            user=invoice.user,
            invoice=invoice,
            gross_amount=amount,
            status="settlement",
            payment_type=payment_type,
            gateway="midtrans",
            paid_at=at,
            overpaid_amount=amount if overpaid else D(0),
        )
    )


def refund(
    payment,
    amount,
    *,
    destination="wallet",
    status="succeeded",
    kind="staff",
    at=REFUNDED,
    reason="",
):
    """A Refund row; a succeeded one also counts on the payment (``refunded_amount`` and
    the Midtrans status), as the settlement code records it."""
    amount = D(amount)
    row = insert(
        Refund(
            payment=payment,
            amount=amount,
            currency=payment.currency,
            destination=destination,
            kind=kind,
            status=status,
            reason=reason,
            refund_key=f"test-{uuid.uuid4().hex}",
            completed_at=None if status == "pending" else at,
        )
    )
    Refund.objects.filter(pk=row.pk).update(created_at=at)
    if status == "succeeded":
        total = payment.refunded_amount + amount
        Payment.objects.filter(pk=payment.pk).update(
            refunded_amount=total,
            status="refund" if total == payment.gross_amount else "partial_refund",
        )
        payment.refresh_from_db()
    return row


def void(invoice, reason="Duplicate of INV-2026-000004"):
    Invoice.objects.filter(pk=invoice.pk).update(
        status="void", voided_at=VOIDED, void_reason=reason, paid_at=None
    )
    invoice.refresh_from_db()
    return invoice


# --- Reading what a page shows ------------------------------------------------------------


def texts(html: str, testid: str) -> list[str]:
    """The text of every element marked ``data-testid=testid``, whitespace collapsed."""
    document = lxml.html.fromstring(html)
    return [
        " ".join(" ".join(element.itertext()).split())
        for element in document.xpath(f'//*[@data-testid="{testid}"]')
    ]


def one(html: str, testid: str) -> str:
    found = texts(html, testid)
    assert len(found) == 1, (testid, found)
    return found[0]


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return " ".join(text.replace("\u00a0", " ").split())


def detail_url(invoice) -> str:
    return reverse("portal:invoice_detail", args=[invoice.pk])


def pdf_url(invoice) -> str:
    return reverse("portal:invoice_pdf", args=[invoice.pk])


@pytest.fixture
def signed_in(client, alice):
    client.force_login(alice)
    return client


def page(client, invoice) -> str:
    response = client.get(detail_url(invoice))
    assert response.status_code == 200
    return response.content.decode()


def pdf(client, invoice) -> str:
    response = client.get(pdf_url(invoice))
    assert response.status_code == 200
    return pdf_text(response.content)


def list_row(html: str, invoice) -> str:
    """The text of the list's row for ``invoice``."""
    document = lxml.html.fromstring(html)
    (row,) = document.xpath(
        f'//*[@id="invoice-list"]//tr[.//a[normalize-space()="{invoice.number}"]]'
    )
    return " ".join(" ".join(row.itertext()).split())


# --- The issue's scenario: Rp 50.000 of Rp 233.301 back to the wallet -----------------------


@pytest.mark.django_db
def test_a_partial_refund_to_the_wallet_shows_paid_refunded_net_and_the_refund_line(
    signed_in, alice
):
    invoice, payment = paid_invoice(alice)
    refund(payment, 50000, destination="wallet", reason="Two weeks of downtime")

    html = page(signed_in, invoice)

    assert one(html, "invoice-total") == "Rp 233.301"
    assert one(html, "amount-paid") == "Amount paid Rp 233.301"
    assert one(html, "amount-refunded") == "Refunded -Rp 50.000"
    assert one(html, "net-paid") == "Net paid Rp 183.301"
    assert one(html, "amount-due") == "Amount due Rp 0"
    (line,) = texts(html, "refund-line")
    assert "1 Jan 2027" in line  # completed 31 Dec 18:30 UTC, 1 Jan in Jakarta
    assert "Wallet" in line
    assert "Two weeks of downtime" in line
    assert "-Rp 50.000" in line
    assert "In progress" not in line
    assert one(html, "payment-refunded") == "Rp 50.000 of Rp 233.301 refunded"
    # The aside says where the money went, in one sentence.
    assert "Rp 50.000 refunded, net paid Rp 183.301." in " ".join(html.split()).replace(
        "\u00a0", " "
    )


@pytest.mark.django_db
def test_the_pdf_shows_the_same_refund_as_the_page(signed_in, alice):
    invoice, payment = paid_invoice(alice)
    refund(payment, 50000, destination="wallet", reason="Two weeks of downtime")

    text = pdf(signed_in, invoice)

    assert "Amount paid Rp 233.301" in text
    assert "Refunded -Rp 50.000" in text
    assert "Net paid Rp 183.301" in text
    assert "Amount due Rp 0" in text
    assert "REFUNDS" in text  # a section label, upper case on the document
    assert "1 Jan 2027" in text
    assert "Wallet" in text
    assert "Two weeks of downtime" in text
    assert "Rp 50.000 of Rp 233.301 refunded" in text


@pytest.mark.django_db
def test_a_full_refund_to_the_card_nets_to_zero(signed_in, alice):
    invoice, payment = paid_invoice(alice, "150000")
    refund(payment, 150000, destination="gateway")

    html = page(signed_in, invoice)
    text = pdf(signed_in, invoice)

    assert one(html, "amount-paid") == "Amount paid Rp 150.000"
    assert one(html, "amount-refunded") == "Refunded -Rp 150.000"
    assert one(html, "net-paid") == "Net paid Rp 0"
    (line,) = texts(html, "refund-line")
    assert "Card or account" in line
    assert one(html, "payment-refunded") == "Rp 150.000 of Rp 150.000 refunded"
    assert "Card or account" in text
    assert "Net paid Rp 0" in text


@pytest.mark.django_db
@pytest.mark.parametrize(("status", "label"), [("pending", "In progress"), ("failed", "Failed")])
def test_a_refund_not_completed_is_listed_with_its_status_and_not_counted(
    signed_in, alice, status, label
):
    invoice, payment = paid_invoice(alice, "150000")
    refund(payment, 50000, destination="gateway", status=status)

    html = page(signed_in, invoice)
    text = pdf(signed_in, invoice)

    (line,) = texts(html, "refund-line")
    assert label in line
    assert "-Rp 50.000" in line
    assert one(html, "amount-paid") == "Amount paid Rp 150.000"
    assert texts(html, "amount-refunded") == []  # nothing has come back yet
    assert texts(html, "payment-refunded") == []
    assert label in text


@pytest.mark.django_db
def test_a_refund_recorded_only_on_the_payment_still_counts(signed_in, alice):
    """A refund made before refunds were itemised left only ``refunded_amount``."""
    invoice, payment = paid_invoice(alice)
    Payment.objects.filter(pk=payment.pk).update(refunded_amount=D(50000), status="partial_refund")

    html = page(signed_in, invoice)

    assert one(html, "amount-refunded") == "Refunded -Rp 50.000"
    assert one(html, "net-paid") == "Net paid Rp 183.301"
    (line,) = texts(html, "refund-line")
    assert "-Rp 50.000" in line
    assert one(html, "payment-refunded") == "Rp 50.000 of Rp 233.301 refunded"


# --- Overpayments -----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("destination", "status", "outcome"),
    [
        ("gateway", "succeeded", "returned to your card or account"),
        ("wallet", "succeeded", "returned to your wallet"),
        ("gateway", "pending", "being returned to your card or account"),
    ],
)
def test_money_that_arrived_after_the_invoice_was_paid_is_shown_apart_with_its_return(
    signed_in, alice, destination, status, outcome
):
    invoice, _payment = paid_invoice(alice, "150000")
    late = settled(invoice, "150000", payment_type="bank_transfer", at=LATE, overpaid=True)
    refund(late, 150000, destination=destination, status=status, kind="overpayment")

    html = page(signed_in, invoice)
    text = pdf(signed_in, invoice)

    sentence = f"Rp 150.000 arrived after the invoice was paid — {outcome}."
    assert one(html, "overpayment") == sentence
    assert sentence in text
    # It did not pay the invoice, and its return is not a refund of the invoice.
    assert one(html, "amount-paid") == "Amount paid Rp 150.000"
    assert texts(html, "amount-refunded") == []
    assert texts(html, "refund-line") == []
    assert "Overpayment" in " ".join(texts(html, "payment-row"))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("returns", "outcome"),
    [
        ([], "not returned yet"),
        ([("gateway", "failed", 150000)], "not returned yet"),
        (
            [("wallet", "succeeded", 100000), ("gateway", "pending", 50000)],
            "Rp 100.000 returned to your wallet, Rp 50.000 being returned to your card or account",
        ),
    ],
)
def test_an_overpayment_not_yet_returned_in_one_piece_says_what_happened(
    signed_in, alice, returns, outcome
):
    invoice, _payment = paid_invoice(alice, "150000")
    late = settled(invoice, "150000", at=LATE, overpaid=True)
    for destination, status, amount in returns:
        refund(late, amount, destination=destination, status=status, kind="overpayment")

    html = page(signed_in, invoice)

    assert one(html, "overpayment") == f"Rp 150.000 arrived after the invoice was paid — {outcome}."


@pytest.mark.django_db
def test_money_that_arrived_for_a_voided_invoice_says_so(signed_in, alice):
    invoice, payment = paid_invoice(alice, "150000")
    Payment.objects.filter(pk=payment.pk).update(overpaid_amount=payment.gross_amount)
    payment.refresh_from_db()
    void(invoice, "Plan withdrawn")
    refund(payment, 150000, destination="wallet", kind="overpayment")

    html = page(signed_in, invoice)

    assert one(html, "overpayment") == (
        "Rp 150.000 arrived after the invoice was voided — returned to your wallet."
    )
    assert one(html, "amount-paid") == "Amount paid Rp 0"
    assert one(html, "amount-due") == "Amount due Rp 0"


# --- A void ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_voided_invoice_shows_its_reason_and_date_on_the_page_and_the_pdf(signed_in, alice):
    invoice = insert(
        InvoiceFactory.build(user=alice, status="open", issued_at=ISSUED, due_date=LATE)
    )
    void(invoice)

    html = page(signed_in, invoice)
    text = pdf(signed_in, invoice)

    assert one(html, "void-note") == "Voided on 5 Dec 2026: Duplicate of INV-2026-000004"
    assert one(html, "amount-due") == "Amount due Rp 0"
    assert "Voided on 5 Dec 2026: Duplicate of INV-2026-000004" in text


# --- The list -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_list_marks_refunded_invoices_and_shows_what_was_kept(signed_in, alice):
    plan = PlanFactory(name="Pro")
    partly, payment = paid_invoice(alice, plan=plan)
    refund(payment, 50000)
    fully, payment = paid_invoice(alice, "150000", plan=plan)
    refund(payment, 150000, destination="gateway")
    pending, payment = paid_invoice(alice, "150000", plan=plan)
    refund(payment, 150000, destination="gateway", status="pending")
    plain, _ = paid_invoice(alice, "150000", plan=plan)

    html = signed_in.get(LIST).content.decode()

    row = list_row(html, partly)
    assert "Partly refunded" in row
    assert "Rp 233.301" in row
    assert "Net Rp 183.301" in row
    row = list_row(html, fully)
    assert "Refunded" in row
    assert "Partly" not in row
    assert "Net Rp 0" in row
    for row in (list_row(html, pending), list_row(html, plain)):
        assert "Paid" in row
        assert "Refunded" not in row
        assert "Net" not in row


# --- The read model ---------------------------------------------------------------------------


def read_money(invoice):
    from subscriptions.selectors import invoice_money, invoices_with_refunds

    return invoice_money(invoices_with_refunds(Invoice.objects.filter(pk=invoice.pk)).get())


@pytest.mark.django_db
def test_the_read_model_adds_up(alice):
    invoice, payment = paid_invoice(alice)
    refund(payment, 50000, destination="wallet")
    refund(payment, 10000, destination="gateway", status="pending")
    refund(payment, 5000, destination="gateway", status="failed")
    late = settled(invoice, "100000", at=LATE, overpaid=True)
    refund(late, 100000, kind="overpayment", destination="gateway")
    attempt = insert(
        PaymentFactory.build(user=alice, invoice=invoice, gross_amount=D(233301), status="expire")
    )
    assert not attempt.is_paid

    money = read_money(invoice)

    assert money.total == D(233301)
    assert money.paid == D(233301)
    assert money.refunded == D(50000)
    assert money.net_paid == D(183301)
    assert money.due == D(0)
    assert [(r.amount, r.status) for r in money.refunds] == [
        (D(50000), "succeeded"),
        (D(10000), "pending"),
        (D(5000), "failed"),
    ]
    ((over, returns),) = [(o.amount, o.returns) for o in money.overpayments]
    assert over == D(100000)
    assert [(r.amount, r.destination, r.status) for r in returns] == [
        (D(100000), "gateway", "succeeded")
    ]


@pytest.mark.django_db
def test_an_open_invoice_owes_its_total(alice):
    invoice = insert(InvoiceFactory.build(user=alice, status="open", total=D(99000)))

    money = read_money(invoice)

    assert (money.paid, money.refunded, money.due) == (D(0), D(0), D(99000))


# --- A constant number of queries, whatever the data ------------------------------------------


def queries(request) -> list[str]:
    """The SQL of one request (which must answer 200)."""
    reset_queries()  # a full query log (9000 entries) would make every count 0
    with CaptureQueriesContext(connection) as captured:
        assert request().status_code == 200
    return [query["sql"] for query in captured]


def history(user, plan, invoices: int, *, refunds_each: int) -> list[Invoice]:
    """Paid invoices, each with partial refunds, a failed attempt and an overpayment
    returned to the wallet."""
    made = []
    for _ in range(invoices):
        invoice, payment = paid_invoice(user, "300000", plan=plan)
        for _ in range(refunds_each):
            refund(payment, 1000, destination="gateway")
            refund(payment, 1000, destination="wallet", status="pending")
        insert(PaymentFactory.build(user=user, invoice=invoice, status="expire"))
        late = settled(invoice, "300000", at=LATE, overpaid=True)
        refund(late, 300000, kind="overpayment")
        made.append(invoice)
    return made


@pytest.mark.django_db
@pytest.mark.parametrize("url", [detail_url, pdf_url])
def test_the_invoice_page_and_pdf_run_the_same_queries_with_many_refunds(
    signed_in, alice, url, django_assert_max_num_queries
):
    plan = PlanFactory(name="Pro")
    (small,) = history(alice, plan, 1, refunds_each=1)
    (large,) = history(alice, plan, 1, refunds_each=20)
    signed_in.get(url(small))  # the session save after login is not the page's

    one_refund = queries(lambda: signed_in.get(url(small)))
    reset_queries()
    with django_assert_max_num_queries(len(one_refund)):
        response = signed_in.get(url(large))

    assert response.status_code == 200
    if url is detail_url:
        assert len(texts(response.content.decode(), "refund-line")) == 40
    assert len(one_refund) <= 10, one_refund


@pytest.mark.django_db
def test_the_list_runs_the_same_queries_with_refunds_on_every_row(
    signed_in, alice, bob, django_assert_max_num_queries
):
    plan = PlanFactory(name="Pro")
    history(bob, plan, 1, refunds_each=1)
    history(alice, plan, 25, refunds_each=3)
    signed_in.force_login(bob)
    signed_in.get(LIST)  # the session save after login is not the page's
    one_invoice = queries(lambda: signed_in.get(LIST))
    signed_in.force_login(alice)
    signed_in.get(LIST)
    reset_queries()
    with django_assert_max_num_queries(len(one_invoice)):
        response = signed_in.get(LIST)

    assert len(texts(response.content.decode(), "row-net")) == 25
    assert len(one_invoice) <= 12, one_invoice
