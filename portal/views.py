"""The customer portal's pages: thin function views over selectors and presenters.

Each page has one URL. A normal request gets the whole page; an HTMX request that
targets one of the page's fragments (``HX-Target``) gets just that fragment, rendered
from the same template with django-template-partials (``page.html#fragment``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from subscriptions.selectors import invoice_list_for_user, subscription_current_for_user
from wallets.selectors import wallet_for_user

from . import events
from .presenters import (
    billing_cycle,
    format_date,
    no_upcoming_invoice_reason,
    plan_features,
    scheduled_changes,
    subscription_actions,
    subscription_summary,
    upcoming_invoice,
)

RECENT_INVOICES = 5

# The dashboard's cards that an HTMX request may ask for on their own (by element id).
DASHBOARD_FRAGMENTS = frozenset(
    {"subscription-card", "recent-invoices", "wallet-card", "upcoming-invoice"}
)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def render_page(
    request: HtmxHttpRequest,
    template: str,
    context: dict,
    *,
    fragments: Iterable[str] | Mapping[str, str],
    status: int = 200,
) -> HttpResponse:
    """The page, or the fragment an HTMX request targets (by its element id).

    ``fragments`` lists the partials named like the element they render, or maps a
    target id to the partial that fills it (a dialog body, say).
    """
    target = request.htmx.target if request.htmx and not request.htmx.boosted else None
    names = fragments if isinstance(fragments, Mapping) else {name: name for name in fragments}
    if target in names:
        template = f"{template}#{names[target]}"
    return render(request, template, context, status=status)


def home(request: HtmxHttpRequest) -> HttpResponse:
    return redirect("portal:dashboard")


def dashboard_context(user) -> dict:
    """Everything the dashboard's cards show, in a fixed number of queries (the
    subscription with its plans, the recent invoices with theirs, the wallet).

    The subscription actions render their card from this too, so a card swapped in
    after an action is exactly the card a page load would show.
    """
    subscription = subscription_current_for_user(user)
    invoices = list(invoice_list_for_user(user)[:RECENT_INVOICES])
    context: dict = {
        "subscription": subscription,
        "invoices": invoices,
        "wallet": wallet_for_user(user),
        "events": events,
        "upcoming": upcoming_invoice(subscription),
        "no_upcoming_reason": no_upcoming_invoice_reason(subscription),
    }
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
            scheduled=scheduled_changes(subscription),
            actions=subscription_actions(subscription),
        )
    return context


@login_required
@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def dashboard(request: HtmxHttpRequest) -> HttpResponse:
    return render_page(
        request,
        "portal/dashboard.html",
        dashboard_context(request.user),
        fragments=DASHBOARD_FRAGMENTS,
    )
