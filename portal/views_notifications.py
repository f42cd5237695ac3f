"""Notification pages: dismiss a banner, list every notification, preview the emails.

Dismissing is a POST (CSRF-protected). From HTMX it answers with the notification
region out of band and ``HX-Trigger: notifications-changed``, so a page that lists
notifications refreshes itself; without JavaScript the form posts and is redirected
back to where it came from.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import trigger_client_event

from subscriptions.models import Invoice, Payment, Plan, Refund, Subscription
from wallets.models import TopUp, Wallet

from . import events
from .emails import KINDS, RenderedEmail, build_context, render_email
from .models import Notification
from .notifications import dismiss, dismiss_all
from .views import HtmxHttpRequest

PAGE_SIZE = 25


@login_required
@require_GET
@vary_on_headers("HX-Request")
def notification_list(request: HtmxHttpRequest) -> HttpResponse:
    page = Paginator(
        Notification.objects.filter(user=request.user).order_by("-created_at", "-pk"), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    template = "portal/notifications/list.html"
    if request.htmx and not request.htmx.boosted:
        template += "#notification-list"
    return render(request, template, {"page": page, "events": events})


@login_required
@require_POST
def notification_dismiss(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    dismiss(get_object_or_404(Notification, pk=pk, user=request.user))
    return _dismissed(request)


@login_required
@require_POST
def notification_dismiss_all(request: HtmxHttpRequest) -> HttpResponse:
    dismiss_all(request.user)
    return _dismissed(request)


def _dismissed(request: HtmxHttpRequest) -> HttpResponse:
    if request.htmx:
        response = render(request, "includes/notifications.html", {"oob": True})
        return trigger_client_event(response, events.NOTIFICATIONS_CHANGED)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = reverse("portal:notifications")
    # A URL, never a view name: redirect("' OR 1=1") would try to reverse it (a 500).
    return HttpResponseRedirect(back)


# --- Email previews (staff, or anyone while DEBUG is on) --------------------------------


def _may_preview(request) -> HttpResponse | None:
    if settings.DEBUG or request.user.is_staff:
        return None
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    raise Http404("No such page.")


@require_GET
def email_previews(request: HtmxHttpRequest) -> HttpResponse:
    if (refused := _may_preview(request)) is not None:
        return refused
    emails = [(kind, sample_email(kind.name)) for kind in KINDS.values()]
    return render(request, "portal/notifications/email_previews.html", {"emails": emails})


@require_GET
def email_preview(request: HtmxHttpRequest, kind: str) -> HttpResponse:
    if (refused := _may_preview(request)) is not None:
        return refused
    if kind not in KINDS:
        raise Http404("No such email.")
    context = {"kind": KINDS[kind], "email": sample_email(kind), "kinds": KINDS.values()}
    return render(request, "portal/notifications/email_preview.html", context)


# Sample rows for the previews: unsaved, with id 0 (a hosted link in a preview opens
# nothing), so previewing writes nothing and reads nothing.


def sample_email(kind: str) -> RenderedEmail:
    now = timezone.now()
    day = dt.timedelta(days=1)
    user = get_user_model()(pk=0, username="sari", email="sari@example.com", first_name="Sari")
    starter = Plan(pk=0, name="Starter", price=Decimal("49000"), interval_unit="month")
    pro = Plan(pk=0, name="Pro", price=Decimal("149000"), interval_unit="month")
    subscription = Subscription(
        pk=0,
        user=user,
        plan=pro,
        status="active",
        current_period_start=now - 20 * day,
        current_period_end=now + 10 * day,
        trial_end=now + 3 * day,
        paused_at=now,
        resume_at=now + 14 * day,
        past_due_at=now - 2 * day,
        ended_at=now,
        created_at=now - 200 * day,
    )
    invoice = Invoice(
        pk=0,
        number="INV-2026-000042",
        user=user,
        subscription=subscription,
        plan=pro,
        status="open",
        reason="renewal",
        subtotal=pro.price,
        total=pro.price,
        period_start=now + 10 * day,
        period_end=now + 40 * day,
        issued_at=now - 9 * day,
        due_date=now - 2 * day,
    )
    payment = Payment(
        pk=0,
        user=user,
        invoice=invoice,
        order_id="INV-2026-000042-3f9a1c",
        gross_amount=invoice.total,
        status="deny",
        payment_type="credit_card",
        paid_at=now,
    )
    wallet = Wallet(pk=0, user=user, balance=Decimal("35000"))
    topup = TopUp(pk=0, wallet=wallet, user=user, amount=Decimal("250000"), order_id="TOPUP-9c2e")
    objects: dict = {"subscription": subscription}
    params: dict = {}
    paid = ("payment_receipt", "payment_refunded", "payment_overpaid")
    if kind in ("payment_failed", "invoice_issued", "invoice_overdue", "invoice_voided", *paid):
        objects.update(invoice=invoice, payment=payment)
    if kind in paid:
        invoice.status, invoice.paid_at = "paid", now
        payment.status, payment.payment_type = "settlement", "qris"
    if kind == "payment_refunded":
        payment.status, payment.refunded_amount = "partial_refund", Decimal("50000")
        objects["refund"] = Refund(
            pk=0, payment=payment, amount=Decimal("50000"), destination="wallet",
            reason="Charged twice for May", status="succeeded",
        )  # fmt: skip
        params = {"refund_amount": "50000"}
    elif kind == "payment_overpaid":
        params = {"amount": str(invoice.total), "return_to": "gateway"}
    elif kind == "invoice_voided":
        invoice.status, invoice.voided_at, invoice.void_reason = "void", now, "Issued by mistake"
    elif kind == "invoice_issued":
        invoice.due_date = now + 7 * day
    elif kind == "invoice_overdue":
        params = {"reminder_number": 2, "days_overdue": 3}
    elif kind == "trial_ending":
        subscription.status = "trialing"
        params = {"trial_end": (now + 3 * day).isoformat()}
    elif kind == "renewal_upcoming":
        params = {"renews_at": (now + 3 * day).isoformat(), "amount": str(pro.price)}
    elif kind == "subscription_cancel_scheduled":
        subscription.cancel_at_period_end = True
        params = {"cancel_at": subscription.current_period_end.isoformat()}
    elif kind == "subscription_expired":
        subscription.status = "expired"
        params = {"previous_status": "past_due"}
    elif kind == "plan_changed":
        objects.update(old_plan=starter, new_plan=pro)
    elif kind in ("topup_completed", "wallet_low"):
        objects = (
            {"topup": topup, "wallet": wallet} if kind == "topup_completed" else {"wallet": wallet}
        )
        wallet.balance = Decimal("285000") if kind == "topup_completed" else wallet.balance
    return render_email(kind, build_context(kind=kind, user=user, params=params, **objects))
