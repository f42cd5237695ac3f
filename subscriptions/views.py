"""The sandbox gateway's payment page: ``/sandbox/pay/<token>/``.

It stands in for Midtrans' Snap page. It exists only while the sandbox is the active
gateway (and allowed: DEBUG, or SUBSCRIPTIONS_SANDBOX_ALLOWED), and only for the
payment's owner, signed in, or for the browser that started the payment from the
invoice's signed hosted link (``sandbox_page_allowed``); anyone else, token or not,
gets the 404 of an unknown token and moves nothing. Choosing an outcome sends a signed,
Midtrans-format notification over HTTP to our own webhook, then returns the browser
to the shop's finish URL, as Snap does. The page never changes a payment itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from .gateways.registry import active_gateway_name
from .gateways.sandbox import (
    OUTCOMES,
    PAYMENT_METHODS,
    SandboxGateway,
    checkout_expires_at,
    finish_redirect,
    finish_url_from,
    sandbox_allowed,
    sandbox_page_allowed,
)
from .gateways.snap import gateway_amount, item_details
from .models import Payment, PaymentStatus
from .money import format_money

# The page in the reader's language, as Snap's is: the gateway module keeps its English
# names (they are what the sandbox writes into notifications and logs).
METHOD_LABELS = {
    # Translators: a payment method on the sandbox payment page; BCA is a bank.
    "bank_transfer": gettext_lazy("BCA virtual account"),
    # Translators: a payment method on the sandbox payment page; Mandiri is a bank.
    "echannel": gettext_lazy("Mandiri bill payment"),
    "credit_card": gettext_lazy("Credit card"),
}
OUTCOME_TEXTS = {
    "settlement": (
        pgettext_lazy("sandbox outcome", "Pay"),
        gettext_lazy("The payment succeeds (settlement)."),
    ),
    "capture_accept": (
        gettext_lazy("Card captured"),
        gettext_lazy("Card capture, fraud check accepts."),
    ),
    "capture_challenge": (
        gettext_lazy("Card challenged"),
        gettext_lazy("Card capture that the fraud check challenges: staff approve or deny it."),
    ),
    "deny": (
        pgettext_lazy("sandbox outcome", "Deny"),
        gettext_lazy("The bank or fraud check refuses the card."),
    ),
    "cancel": (
        pgettext_lazy("sandbox outcome", "Cancel"),
        gettext_lazy("The payment is cancelled."),
    ),
    "expire": (
        pgettext_lazy("sandbox outcome", "Expire"),
        gettext_lazy("The payment window runs out."),
    ),
    "pending": (
        pgettext_lazy("sandbox outcome", "Pay later"),
        gettext_lazy(
            "Stay pending (a virtual account waiting for the transfer); settle it later here."
        ),
    ),
}
# Items the shop adds to an invoice's lines (snap.item_details), by their id.
ITEM_NAMES = {
    "discount": gettext_lazy("Discount"),
    "tax": gettext_lazy("Tax"),
    "adjustment": gettext_lazy("Rounding adjustment"),
}

WALLET_METHODS = {key: label for key, label in PAYMENT_METHODS.items() if key != "credit_card"}


@dataclass(frozen=True)
class OutcomeChoice:
    """An outcome as the page shows it: the gateway's ``Outcome`` in the reader's words."""

    label: str
    help: str
    card_only: bool


def _outcome_choices() -> list[tuple[str, OutcomeChoice]]:
    choices = []
    for key, outcome in OUTCOMES.items():
        label, help_text = OUTCOME_TEXTS.get(key, (outcome.label, outcome.help))
        choices.append((key, OutcomeChoice(str(label), str(help_text), outcome.card_only)))
    return choices


def _method_labels() -> dict[str, str]:
    return {key: str(METHOD_LABELS.get(key, label)) for key, label in WALLET_METHODS.items()}


class SandboxPayForm(forms.Form):
    outcome = forms.ChoiceField(choices=[(key, o.label) for key, o in OUTCOMES.items()])
    payment_type = forms.ChoiceField(
        choices=list(WALLET_METHODS.items()), required=False, initial="bank_transfer"
    )


def _sandbox_gateway() -> SandboxGateway:
    if active_gateway_name() != "sandbox" or not sandbox_allowed():
        raise Http404("The payment sandbox is not active.")
    return SandboxGateway()


@never_cache
@require_http_methods(["GET", "POST"])
def sandbox_pay(request: HttpRequest, token: str) -> HttpResponse:
    gateway = _sandbox_gateway()
    payment = get_object_or_404(
        Payment.objects.select_related("invoice"),
        snap_token=token,
        gateway=gateway.name,
    )
    if not sandbox_page_allowed(request, payment):
        raise Http404("No such payment.")
    signed_finish = request.POST.get("finish") or request.GET.get("finish") or ""
    finish_url = finish_url_from(signed_finish)
    expires_at = checkout_expires_at(payment)
    payable = payment.status == PaymentStatus.PENDING and timezone.now() < expires_at
    form = SandboxPayForm(request.POST or None)
    error, status, sent = "", 200, None

    if request.method == "POST":
        if not payable:
            error, status = _("This payment can no longer be changed here."), 409
        elif not form.is_valid():
            error, status = _("Choose an outcome and a payment method."), 400
        else:
            sent, delivery = gateway.complete(
                payment,
                outcome=form.cleaned_data["outcome"],
                payment_type=form.cleaned_data["payment_type"] or "bank_transfer",
            )
            if delivery.ok and finish_url:
                return redirect(finish_redirect(finish_url, sent))
            if not delivery.ok:
                reason = delivery.error or f"HTTP {delivery.status_code}"
                error, status = (
                    _(
                        "The notification could not be delivered to %(url)s (%(reason)s). "
                        "Check SITE_URL, then try again."
                    )
                    % {"url": delivery.url, "reason": reason},
                    502,
                )
            payment.refresh_from_db()
            payable = payment.status == PaymentStatus.PENDING and timezone.now() < expires_at

    gross = gateway_amount(payment.gross_amount, payment.currency)
    items = [
        {
            **item,
            "name": ITEM_NAMES.get(item.get("id"), item.get("name", "")),
            "price_display": format_money(Decimal(item["price"]), payment.currency),
            "total_display": format_money(
                Decimal(item["price"] * item["quantity"]), payment.currency
            ),
        }
        for item in (payment.gateway_response or {}).get("item_details")
        or item_details(
            invoice=payment.invoice,
            order_id=payment.order_id,
            gross_amount=gross,
            currency=payment.currency,
        )
    ]
    outcomes = _outcome_choices()
    context = {
        "payment": payment,
        "items": items,
        "payable": payable,
        "expires_at": expires_at,
        "expired": timezone.now() >= expires_at,
        "form": form,
        "finish": signed_finish if finish_url else "",
        "finish_url": finish_url,
        "methods": _method_labels(),
        "wallet_outcomes": [(k, o) for k, o in outcomes if not o.card_only],
        "card_outcomes": [(k, o) for k, o in outcomes if o.card_only],
        "error": error,
        "sent": sent,
    }
    return render(request, "subscriptions/sandbox/pay.html", context, status=status)
