"""The hosted invoice page: the one page an invoice email's signed link opens.

``/i/<token>/`` shows that invoice and nothing else, and lets whoever holds the link pay
it without signing in (the link is the permission, as a payment page from the gateway
would be): "Pay now" starts a checkout for the invoice's owner (Snap, or the offline
sandbox) and the gateway sends the browser back here, where the page waits for the
webhook like the checkout's finish page does. An expired or altered link gets a page
that says so and offers to sign in; never a 500 or a bare 400.
"""

from __future__ import annotations

import time
from functools import partial
from urllib.parse import urlencode

from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from subscriptions.app_settings import app_settings as billing_settings
from subscriptions.exceptions import BillingError, GatewayError, GatewayUnavailable
from subscriptions.gateways.sandbox import sandbox_payer_remember
from subscriptions.models import Invoice, Payment
from subscriptions.selectors import invoices_with_refunds
from subscriptions.services import checkout_start

from . import links, throttle
from .checkout import _state as payment_state
from .presenters import format_date, invoice_statement
from .views import HtmxHttpRequest, method_not_allowed_page
from .views_invoices import localized_lines


def _invoice(invoice_id: int | None) -> Invoice | None:
    if invoice_id is None:
        return None
    return (
        invoices_with_refunds(Invoice.objects.exclude(status="draft"))
        .select_related("plan")
        .prefetch_related("lines")
        .filter(pk=invoice_id)
        .first()
    )


def _sign_in_url(invoice: Invoice | None) -> str:
    target = (invoice and links.invoice_detail_path(invoice.pk)) or links.dashboard_path()
    return f"{reverse('account_login')}?{urlencode({REDIRECT_FIELD_NAME: target})}"


def _unusable(request: HtmxHttpRequest, *, expired: bool, invoice: Invoice | None) -> HttpResponse:
    context = {"expired": expired, "sign_in_url": _sign_in_url(invoice)}
    return render(request, "portal/hosted/invalid.html", context, status=410 if expired else 404)


@never_cache
@require_GET
@vary_on_headers("HX-Request")
def hosted_invoice(request: HtmxHttpRequest, token: str) -> HttpResponse:
    link = links.read_hosted_invoice_token(token)
    invoice = _invoice(link.invoice_id)
    if invoice is None or not link.valid:
        return _unusable(request, expired=link.expired and invoice is not None, invoice=invoice)
    template = "portal/hosted/invoice.html"
    if request.htmx:
        template += "#hosted-status"
    return render(request, template, _context(request, token, invoice))


def _context(request, token: str, invoice: Invoice, **extra) -> dict:
    order_id = request.GET.get("order", "")
    payment = (
        Payment.objects.filter(invoice=invoice, order_id=order_id).first() if order_id else None
    )
    state = payment_state(payment) if payment is not None else ""
    now = int(time.time())
    try:
        started = min(max(int(request.GET.get("t", now)), now - 86400), now)
    except ValueError:
        started = now
    waiting = state in ("pending", "review") and invoice.status != "paid"
    return {
        "token": token,
        "invoice": invoice,
        "lines": localized_lines(invoice.lines.all()),
        "statement": invoice_statement(invoice, received_only=True),
        "period": (
            f"{format_date(invoice.period_start)} – {format_date(invoice.period_end)}"
            if invoice.period_start and invoice.period_end
            else ""
        ),
        "due": format_date(invoice.due_date),
        "paid": format_date(invoice.paid_at),
        "payment": payment,
        "state": state,
        "poll": waiting and now - started < int(billing_settings.CHECKOUT_POLL_TIMEOUT_SECONDS),
        "poll_seconds": billing_settings.CHECKOUT_POLL_SECONDS,
        "poll_url": f"{request.path}?{urlencode({'order': order_id, 't': started})}",
        **extra,
    }


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def hosted_invoice_pay(request: HtmxHttpRequest, token: str) -> HttpResponse:
    if request.method != "POST":
        return _pay_from_the_page(request, token)
    link = links.read_hosted_invoice_token(token)
    invoice = _invoice(link.invoice_id)
    if invoice is None or not link.valid:
        return _unusable(request, expired=link.expired and invoice is not None, invoice=invoice)
    page = reverse("hosted:invoice", args=[token])
    try:
        # Counted for the invoice's owner: the link needs no sign-in.
        throttle.payment_start(request, user=invoice.user)
        payment = checkout_start(
            invoice=invoice,
            user=invoice.user,
            finish_url=lambda order_id: links.absolute(f"{page}?{urlencode({'order': order_id})}"),
        )
    except throttle.PaymentStartsThrottled as error:
        return throttle.throttled_response(
            request, error, partial(_refused, request, token, invoice, error, 429)
        )
    except GatewayError as error:
        status = 503 if isinstance(error, GatewayUnavailable) else 502
        return _refused(request, token, invoice, error, status)
    except BillingError as error:
        return _refused(request, token, invoice, error, 409)
    # This browser may open the sandbox's payment page for it (signed out, or signed in
    # as someone other than the invoice's owner); nobody else holding the token may.
    sandbox_payer_remember(request, payment)
    return redirect(payment.redirect_url)


def _pay_from_the_page(request: HtmxHttpRequest, token: str) -> HttpResponse:
    """``GET /i/<token>/pay/`` (the address bar after a refused payment, entered again;
    a link copied from it): a 405 that says where paying happens and links there. The
    token is not read: the invoice page says whether the link still works."""
    return method_not_allowed_page(
        request,
        layout="portal/hosted/layout.html",
        title=_("This link only works from the invoice page"),
        text=_(
            "Payments start from the Pay button on the invoice page, so this address does "
            "nothing when opened on its own. Open the invoice to see what is due and pay it."
        ),
        back_url=reverse("hosted:invoice", args=[token]),
        back_label=_("Go to the invoice"),
    )


def _refused(request, token: str, invoice: Invoice, error: Exception, status: int):
    invoice.refresh_from_db()
    context = _context(request, token, invoice, error=str(error))
    return render(request, "portal/hosted/invoice.html", context, status=status)
