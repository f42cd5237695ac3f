"""The invoice pages: the list (by status), one invoice with its lines and payments,
paying it from the wallet, and its PDF.

Every invoice is looked up through its owner (``invoice_detail_for_user``): another
user's invoice, like a draft, is simply not found. The PDF is rendered from the same
template as the page (``portal/invoices/detail.html`` with ``pdf=True``), so the
two can never disagree.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from subscriptions.exceptions import BillingError, InsufficientFunds
from subscriptions.models import Invoice, InvoiceLine, InvoiceStatus
from subscriptions.selectors import (
    invoice_detail_for_user,
    invoice_list_for_user,
    invoices_with_refunds,
)
from wallets.selectors import wallet_for_user
from wallets.services import wallet_pay_invoice

from . import events
from .htmx_responses import fragment_response
from .invoice_pdf import render_pdf
from .links import PkPath
from .presenters import INVOICE_ROW_FIELDS, invoice_rows, invoice_statement
from .views import HtmxHttpRequest, render_page
from .views_wallet import shortfall_topup_amount

INVOICES_PER_PAGE = 25
DETAIL_TEMPLATE = "portal/invoices/detail.html"

STATUS_FILTERS = (
    ("", pgettext_lazy("invoice filter", "All")),
    (InvoiceStatus.OPEN, pgettext_lazy("invoice filter", "Open")),
    (InvoiceStatus.PAID, pgettext_lazy("invoice filter", "Paid")),
    (InvoiceStatus.OVERDUE, pgettext_lazy("invoice filter", "Overdue")),
    (InvoiceStatus.VOID, pgettext_lazy("invoice filter", "Void")),
)
FILTER_VALUES = frozenset(value for value, _label in STATUS_FILTERS if value)


# --- Invoice lines in the reader's language ---------------------------------------------

# Billing stores a line's description once, in English, with its dates written
# "08 Dec 2026" (subscriptions/services: period_line, ProrationQuote.line_specs); that
# text also goes to the gateway as the item's name. Pages and the PDF show the lines
# they recognise in the reader's language and the one date format (DATE_FORMAT);
# any other line (an adjustment typed by staff) is shown as written.
_DAY = r"\d{1,2} [A-Z][a-z]{2} \d{4}"
_SPAN = rf"\((?P<start>{_DAY}) – (?P<end>{_DAY})\)"
_LINE_SHAPES = (
    (
        re.compile(rf"^Unused time on (?P<plan>.+) \(after (?P<date>{_DAY})\)$"),
        # Translators: an invoice line crediting the unused part of the old plan after a
        # plan change; plan is a plan name, date a date.
        gettext_lazy("Unused time on %(plan)s (after %(date)s)"),
    ),
    (
        re.compile(rf"^Remaining time on (?P<plan>.+) {_SPAN}$"),
        # Translators: an invoice line charging the rest of the period on the new plan.
        gettext_lazy("Remaining time on %(plan)s (%(start)s – %(end)s)"),
    ),
    (
        re.compile(rf"^(?P<plan>.+) {_SPAN}$"),
        # Translators: an invoice line for one period of a plan: the plan's name, then the
        # first and the last day of the period.
        gettext_lazy("%(plan)s (%(start)s – %(end)s)"),
    ),
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


def _day(text: str) -> str:
    day, month, year = text.split()
    try:
        return date_format(dt.date(int(year), _MONTHS[month], int(day)), "DATE_FORMAT")
    except (KeyError, ValueError):
        return text


def line_label(description: str) -> str:
    """An invoice line's description as the reader reads it (in Indonesian, "Pro (8
    Desember 2026 to 8 Januari 2027)" with a dash); any other description, unchanged."""
    for pattern, sentence in _LINE_SHAPES:
        if match := pattern.match(description):
            return sentence % {
                name: value if name == "plan" else _day(value)
                for name, value in match.groupdict().items()
            }
    return description


def localized_lines(lines: Iterable[InvoiceLine]) -> list[InvoiceLine]:
    """The lines with ``label``: the description to show."""
    lines = list(lines)
    for line in lines:
        line.label = line_label(line.description)
    return lines


def _invoice_or_404(request: HtmxHttpRequest, pk: int) -> Invoice:
    return get_object_or_404(invoices_with_refunds(invoice_detail_for_user(request.user, pk)))


# --- List ----------------------------------------------------------------------------


@login_required
@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def invoice_list(request: HtmxHttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in FILTER_VALUES:  # anything else (typos, "draft") shows them all
        status = ""
    page = Paginator(
        invoices_with_refunds(
            invoice_list_for_user(request.user, status=status or None).only(*INVOICE_ROW_FIELDS)
        ),
        INVOICES_PER_PAGE,
    ).get_page(request.GET.get("page"))
    base = reverse("portal:invoices")
    context = {
        "page": page,
        "rows": invoice_rows(
            page.object_list,
            url=PkPath("portal:invoice_detail"),
            pdf_url=PkPath("portal:invoice_pdf"),
            refunds=True,
        ),
        "status": status,
        "status_label": dict(STATUS_FILTERS)[status],
        "filters": [
            {"value": value, "label": label, "url": f"{base}?status={value}" if value else base}
            for value, label in STATUS_FILTERS
        ],
        "page_query": f"status={status}&" if status else "",
        "events": {"invoices_changed": events.INVOICES_CHANGED},
    }
    return render_page(
        request, "portal/invoices/list.html", context, fragments=frozenset({"invoice-list"})
    )


# --- Detail and PDF ---------------------------------------------------------------------


def _detail_context(
    request: HtmxHttpRequest, invoice: Invoice, *, pdf: bool = False, pay_error: dict | None = None
) -> dict:
    context = {
        "invoice": invoice,
        "lines": localized_lines(invoice.lines.all()),
        "statement": invoice_statement(invoice, received_only=pdf),
        "pdf": pdf,
        "layout": "portal/invoices/pdf_layout.html" if pdf else "base.html",
        "pay_error": pay_error,
    }
    if not pdf and invoice.is_payable:
        wallet = wallet_for_user(request.user)
        context.update(
            wallet=wallet,
            wallet_covers=wallet.balance >= invoice.total,
            topup_amount=shortfall_topup_amount(wallet.balance, invoice.total),
        )
    return context


# ``?download=pdf`` on an invoice's page: the reader came for its PDF (see invoice_pdf).
DOWNLOAD_QUERY = "download=pdf"


def offer_pdf(request: HtmxHttpRequest, invoice: Invoice) -> None:
    """The notice at the top of the page that offers the invoice's PDF, for a reader
    who followed a PDF link and signed in on the way."""
    messages.info(
        request,
        format_html(
            '<span class="block" data-testid="pdf-download-offer">{}<span class="mt-2 block">'
            '<a href="{}" class="btn btn-primary" download>{}</a></span></span>',
            _("The PDF of invoice %(number)s is ready.") % {"number": invoice},
            reverse("portal:invoice_pdf", args=[invoice.pk]),
            _("Download the PDF"),
        ),
    )


@login_required
@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def invoice_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    invoice = _invoice_or_404(request, pk)
    if request.GET.get("download") == "pdf" and not request.htmx:
        offer_pdf(request, invoice)
    return render_page(
        request,
        DETAIL_TEMPLATE,
        _detail_context(request, invoice),
        fragments=frozenset({"invoice-card"}),
    )


def signed_in_for_the_pdf(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """``login_required`` for the PDF, but the sign-in page comes back to the invoice's
    page with the PDF offered (``?download=pdf``), not to the PDF itself: a download
    right after signing in leaves the reader (who followed an email's PDF link) on the
    sign-in form, with nothing to show that it worked."""

    @wraps(view)
    def wrapper(request: HtmxHttpRequest, pk: int) -> HttpResponse:
        if request.user.is_authenticated:
            return view(request, pk)
        page = reverse("portal:invoice_detail", args=[pk])
        return redirect_to_login(f"{page}?{DOWNLOAD_QUERY}")

    return wrapper


@signed_in_for_the_pdf
@require_GET
def invoice_pdf(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The invoice as a PDF file (an attachment: the browser saves it and stays put)."""
    invoice = _invoice_or_404(request, pk)
    html = render(request, DETAIL_TEMPLATE, _detail_context(request, invoice, pdf=True))
    response = HttpResponse(render_pdf(html.content.decode()), content_type="application/pdf")
    filename = re.sub(r"[^A-Za-z0-9._-]", "-", invoice.number or f"invoice-{invoice.pk}")
    response["Content-Disposition"] = f'attachment; filename="{filename}.pdf"'
    return response


# --- Pay from the wallet ----------------------------------------------------------------


@login_required
@require_POST
def invoice_pay_wallet(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Pay the invoice from the wallet balance, all or nothing.

    HTMX: the invoice card comes back in place with the banner region out of band and
    ``wallet-changed`` + ``invoices-changed`` so that balances and lists refresh. A
    domain error (not enough balance, already paid) is shown inside the card and
    changes nothing. Without JavaScript: a redirect to the invoice, or the page with
    the error (409).
    """
    invoice = _invoice_or_404(request, pk)
    pay_error = None
    try:
        wallet_pay_invoice(invoice=invoice, user=request.user)
    except InsufficientFunds:
        wallet = wallet_for_user(request.user)
        pay_error = {
            "message": _("Your wallet balance (%(balance)s) does not cover this invoice.")
            % {"balance": wallet.balance_display},
            "topup_amount": shortfall_topup_amount(wallet.balance, invoice.total),
        }
    except BillingError as error:
        pay_error = {"message": error.message}
    else:
        messages.success(
            request, _("Invoice %(number)s is paid from your wallet.") % {"number": invoice}
        )

    if pay_error is None and not request.htmx:
        return redirect("portal:invoice_detail", pk=invoice.pk)
    invoice = _invoice_or_404(request, pk)  # fresh: status, payments
    context = _detail_context(request, invoice, pay_error=pay_error)
    if not request.htmx:
        response = render(request, DETAIL_TEMPLATE, context, status=409)
        return response
    return fragment_response(
        request,
        f"{DETAIL_TEMPLATE}#invoice-card",
        context,
        events=[] if pay_error else [events.WALLET_CHANGED, events.INVOICES_CHANGED],
    )
