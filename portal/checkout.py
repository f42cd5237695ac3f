"""Customer checkout: pay an invoice through the gateway, then wait for the webhook.

``POST /billing/invoices/<pk>/pay/`` starts a new payment attempt for the owner's
invoice and sends the browser to the gateway's payment page (Snap or the sandbox).
The gateway sends it back to ``/billing/checkout/<order_id>/finish/``, which shows
what *our* records say and polls (HTMX, every few seconds, for a bounded time) until
the webhook has settled the payment. The query string the gateway appends to that
URL (``transaction_status=settlement``...) is never read: anyone can type it.
"""

from __future__ import annotations

import time
from functools import partial

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from subscriptions.app_settings import app_settings
from subscriptions.exceptions import BillingError, GatewayError, GatewayUnavailable
from subscriptions.models import FAILED_PAYMENT_STATUSES, Invoice, Payment, PaymentStatus
from subscriptions.services import checkout_start

from . import throttle


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def finish_url_for(order_id: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("checkout:finish", args=[order_id])


@login_required
@require_POST
def invoice_pay(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    invoice = get_object_or_404(Invoice.objects.exclude(status="draft"), pk=pk, user=request.user)
    try:
        throttle.payment_start(request, user=request.user)
        payment = checkout_start(invoice=invoice, user=request.user, finish_url=finish_url_for)
    except throttle.PaymentStartsThrottled as error:
        return throttle.throttled_response(
            request, error, partial(_error, request, invoice, error, status=429, retry=False)
        )
    except GatewayError as error:
        status = 503 if isinstance(error, GatewayUnavailable) else 502
        return _error(request, invoice, error, status=status, retry=True)
    except BillingError as error:
        return _error(request, invoice, error, status=409, retry=False)
    return redirect(payment.redirect_url)


def _error(request, invoice: Invoice, error: Exception, *, status: int, retry: bool):
    return render(
        request,
        "portal/checkout/error.html",
        {"invoice": invoice, "message": str(error), "retry": retry and invoice.is_payable},
        status=status,
    )


def _state(payment: Payment) -> str:
    if payment.is_paid and payment.status not in (
        PaymentStatus.REFUND,
        PaymentStatus.PARTIAL_REFUND,
    ):
        return "paid"
    if payment.status in (PaymentStatus.REFUND, PaymentStatus.PARTIAL_REFUND):
        return "refunded"
    if payment.status == PaymentStatus.CAPTURE and payment.fraud_status == "challenge":
        return "review"
    if payment.status in FAILED_PAYMENT_STATUSES:
        return "failed"
    return "pending"


@login_required
@require_GET
@vary_on_headers("HX-Request")
def finish(request: HtmxHttpRequest, order_id: str) -> HttpResponse:
    payment = get_object_or_404(
        Payment.objects.select_related("invoice"), order_id=order_id, user=request.user
    )
    now = int(time.time())
    try:
        started = int(request.GET.get("t", now))
    except ValueError:
        started = now
    started = min(max(started, now - 86400), now)
    timeout = int(app_settings.CHECKOUT_POLL_TIMEOUT_SECONDS)
    state = _state(payment)
    waiting = state in ("pending", "review")
    context = {
        "payment": payment,
        "invoice": payment.invoice,
        "state": state,
        "poll": waiting and now - started < timeout,
        "timed_out": waiting and now - started >= timeout,
        "poll_seconds": app_settings.CHECKOUT_POLL_SECONDS,
        "poll_url": f"{reverse('checkout:finish', args=[payment.order_id])}?t={started}",
        "can_retry": state == "failed"
        and payment.invoice is not None
        and payment.invoice.is_payable,
    }
    template = "portal/checkout/finish.html"
    if request.htmx:
        template += "#checkout-status"
    return render(request, template, context)
