"""The wallet pages: balance, top-up, transaction history and the auto-pay switch.

A top-up goes to the gateway's payment page (Snap or the sandbox) and comes back to
``/billing/wallet/top-ups/<order_id>/``, which shows what our records say and polls
until the webhook has settled the payment; only the webhook credits the wallet.
"""

from __future__ import annotations

import math
import time
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from subscriptions.app_settings import app_settings as billing_settings
from subscriptions.exceptions import BillingError, GatewayError, GatewayUnavailable
from subscriptions.models import PaymentStatus
from subscriptions.money import format_money
from wallets.app_settings import app_settings as wallet_settings
from wallets.models import TopUp, TopUpStatus, TransactionKind, Wallet
from wallets.selectors import (
    topup_for_user,
    topup_list_for_user,
    wallet_for_user,
    wallet_transaction_list,
)
from wallets.services import topup_checkout_start, wallet_get_or_create, wallet_set_auto_pay

from . import events, throttle
from .forms_wallet import AutoPayForm, TopUpForm
from .htmx_responses import fragment_response
from .links import PkPath
from .presenters import format_datetime
from .views import HtmxHttpRequest, render_page

TRANSACTIONS_PER_PAGE = 25
RECENT_TOPUPS = 3
WALLET_TEMPLATE = "portal/wallet/wallet.html"
WALLET_FRAGMENTS = frozenset({"wallet-balance", "wallet-autopay", "wallet-transactions"})

KIND_LABELS = {
    TransactionKind.TOP_UP: gettext_lazy("Top-up"),
    TransactionKind.PAYMENT: gettext_lazy("Invoice payment"),
    TransactionKind.REFUND: gettext_lazy("Refund"),
    TransactionKind.ADJUSTMENT: gettext_lazy("Adjustment"),
    TransactionKind.REVERSAL: gettext_lazy("Reversal"),
}

TOPUP_STATES = {
    TopUpStatus.SUCCESS: ("success", gettext_lazy("Completed")),
    TopUpStatus.PENDING: ("warning", gettext_lazy("Waiting for payment")),
    TopUpStatus.FAILED: ("danger", gettext_lazy("Failed")),
    TopUpStatus.EXPIRED: ("neutral", gettext_lazy("Expired")),
    # Pending, but its payment page has expired (TopUp.is_abandoned).
    "abandoned": ("neutral", gettext_lazy("Not completed")),
}


def topup_finish_url(order_id: str) -> str:
    """Where the gateway sends the browser back after a top-up (absolute)."""
    return settings.SITE_URL.rstrip("/") + reverse("portal:topup_finish", args=[order_id])


def _prefill_amount(request: HtmxHttpRequest) -> dict:
    """``?amount=130000`` (the "top up" link of an invoice the wallet cannot cover)."""
    raw = request.GET.get("amount", "")
    return {"custom_amount": raw} if raw.isdigit() and len(raw) <= 12 else {}


def _wallet_context(request: HtmxHttpRequest, wallet: Wallet, form: TopUpForm) -> dict:
    page = Paginator(wallet_transaction_list(wallet), TRANSACTIONS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    invoice_url = PkPath("portal:invoice_detail")
    # Each row's display values worked out once here: a page of 25 rows rendered
    # through filters and {% url %} tags was most of this page's time.
    for row in page:
        row.label = KIND_LABELS.get(row.kind, row.kind)
        row.when = format_datetime(row.created_at)
        row.invoice_url = invoice_url(row.invoice_id) if row.invoice_id else ""
        row.balance_display = format_money(row.balance_after, wallet.currency)
    topups = list(topup_list_for_user(request.user)[:RECENT_TOPUPS])
    for topup in topups:
        topup.state = topup.display_status
        topup.tone, topup.state_label = TOPUP_STATES.get(topup.state, ("neutral", topup.status))
        topup.retry_amount = math.ceil(topup.amount)
    return {
        "wallet": wallet,
        "page": page,
        "transactions": page.object_list,
        "topups": topups,
        "form": form,
        "events": {"wallet_changed": events.WALLET_CHANGED},
    }


def _wallet_page(
    request: HtmxHttpRequest, wallet: Wallet, form: TopUpForm, *, status: int = 200
) -> HttpResponse:
    response = render_page(
        request, WALLET_TEMPLATE, _wallet_context(request, wallet, form), fragments=WALLET_FRAGMENTS
    )
    response.status_code = status
    return response


@login_required
@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def wallet(request: HtmxHttpRequest) -> HttpResponse:
    wallet = wallet_for_user(request.user)
    form = TopUpForm(currency=wallet.currency, initial=_prefill_amount(request))
    return _wallet_page(request, wallet, form)


@login_required
@require_POST
def wallet_topup(request: HtmxHttpRequest) -> HttpResponse:
    """Start a top-up and send the browser to the gateway's payment page."""
    wallet = wallet_for_user(request.user)
    form = TopUpForm(request.POST, currency=wallet.currency)
    if not form.is_valid():
        return _wallet_page(request, wallet, form)
    try:
        throttle.payment_start(request, user=request.user)
        topup = topup_checkout_start(
            user=request.user, amount=form.cleaned_data["amount"], finish_url=topup_finish_url
        )
    except throttle.PaymentStartsThrottled as error:
        form.add_error(None, error.message)
        return throttle.throttled_response(
            request, error, partial(_wallet_page, request, wallet, form)
        )
    except GatewayError as error:
        form.add_error(
            None,
            _("We could not start your top-up: %(reason)s Nothing was charged.")
            % {"reason": _sentence(error.message)},
        )
        return _wallet_page(
            request, wallet, form, status=503 if isinstance(error, GatewayUnavailable) else 502
        )
    except BillingError as error:  # the limits changed between the form and the service
        form.add_error("custom_amount", error.message)
        return _wallet_page(request, wallet, form)
    return redirect(topup.payment.redirect_url)


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


@login_required
@require_POST
def wallet_autopay(request: HtmxHttpRequest) -> HttpResponse:
    """Turn auto-pay on or off: the switch swaps in place and the wallet cards refresh."""
    form = AutoPayForm(request.POST)
    enabled = form.is_valid() and form.cleaned_data["enabled"]
    wallet = wallet_set_auto_pay(wallet=wallet_get_or_create(user=request.user), enabled=enabled)
    if enabled:
        messages.success(
            request, _("Auto-pay is on: renewals are paid from your wallet when it holds enough.")
        )
    else:
        messages.info(request, _("Auto-pay is off: renewal invoices wait for you to pay them."))
    if not request.htmx:
        return redirect("portal:wallet")
    return fragment_response(
        request,
        f"{WALLET_TEMPLATE}#wallet-autopay",
        {"wallet": wallet},
        events=[events.WALLET_CHANGED],
    )


def _topup_state(topup: TopUp) -> str:
    if topup.status == TopUpStatus.SUCCESS:
        return "paid"
    if topup.status in (TopUpStatus.FAILED, TopUpStatus.EXPIRED):
        return "failed"
    if topup.is_abandoned():
        return "abandoned"
    payment = topup.payment
    if (
        payment is not None
        and payment.status == PaymentStatus.CAPTURE
        and payment.fraud_status == "challenge"
    ):
        return "review"
    return "pending"


@login_required
@require_GET
@vary_on_headers("HX-Request")
def topup_finish(request: HtmxHttpRequest, order_id: str) -> HttpResponse:
    """Back from the gateway: what our records say, polled until the webhook settles it.

    The query string the gateway appends (``transaction_status=settlement``...) is never
    read: anyone can type it. ``t`` is when the waiting started, to stop polling after
    ``SUBSCRIPTIONS_CHECKOUT_POLL_TIMEOUT_SECONDS``.
    """
    topup = get_object_or_404(topup_for_user(request.user, order_id))
    now = int(time.time())
    try:
        started = int(request.GET.get("t", now))
    except ValueError:
        started = now
    started = min(max(started, now - 86400), now)
    state = _topup_state(topup)
    waiting = state in ("pending", "review")
    timeout = int(billing_settings.CHECKOUT_POLL_TIMEOUT_SECONDS)
    context = {
        "topup": topup,
        "payment": topup.payment,
        "wallet": topup.wallet,
        "state": state,
        "poll": waiting and now - started < timeout,
        "timed_out": waiting and now - started >= timeout,
        "poll_seconds": billing_settings.CHECKOUT_POLL_SECONDS,
        "poll_url": f"{reverse('portal:topup_finish', args=[topup.order_id])}?t={started}",
        "retry_amount": math.ceil(topup.amount),
    }
    template = "portal/wallet/topup_finish.html"
    if request.htmx:
        template += "#topup-status"
    return render(request, template, context)


def shortfall_topup_amount(balance: Decimal, total: Decimal) -> int:
    """What to suggest topping up when the wallet cannot cover ``total``."""
    needed = max(total - balance, wallet_settings.TOPUP_MIN)
    return math.ceil(min(needed, wallet_settings.TOPUP_MAX))
