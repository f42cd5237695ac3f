"""The customer portal's pages: thin function views over selectors and presenters.

Each page has one URL. A normal request gets the whole page; an HTMX request that
targets one of the page's fragments (``HX-Target``) gets just that fragment, rendered
from the same template with django-template-partials (``page.html#fragment``).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from subscriptions.selectors import invoice_list_for_user, subscription_current_for_user

from .presenters import billing_cycle, format_date, plan_features, subscription_summary

RECENT_INVOICES = 5


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def render_page(
    request: HtmxHttpRequest, template: str, context: dict, *, fragments: frozenset[str]
) -> HttpResponse:
    """The page, or the fragment an HTMX request targets (by its element id)."""
    target = request.htmx.target if request.htmx and not request.htmx.boosted else None
    if target in fragments:
        template = f"{template}#{target}"
    return render(request, template, context)


def home(request: HtmxHttpRequest) -> HttpResponse:
    return redirect("portal:dashboard")


@login_required
@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def dashboard(request: HtmxHttpRequest) -> HttpResponse:
    subscription = subscription_current_for_user(request.user)
    invoices = list(invoice_list_for_user(request.user)[:RECENT_INVOICES])
    context: dict = {"subscription": subscription, "invoices": invoices}
    if subscription is not None:
        context.update(
            # The invoice that would start or keep the subscription, if one is waiting
            # (taken from the recent ones already loaded: no extra query).
            invoice_to_pay=next(
                (i for i in invoices if i.subscription_id == subscription.pk and i.is_payable),
                None,
            ),
            summary=subscription_summary(subscription),
            features=plan_features(subscription.plan.features),
            billing_cycle=billing_cycle(subscription.plan),
            period_start=format_date(subscription.current_period_start),
            period_end=format_date(subscription.current_period_end),
            member_since=format_date(subscription.created_at),
        )
    return render_page(
        request,
        "portal/dashboard.html",
        context,
        fragments=frozenset({"subscription-card", "recent-invoices"}),
    )
