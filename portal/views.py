"""The customer portal's pages: thin function views over selectors and presenters.

Each page has one URL. A normal request gets the whole page; an HTMX request that
targets one of the page's fragments (``HX-Target``) gets just that fragment, rendered
from the same template with django-template-partials (``page.html#fragment``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_safe
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from subscriptions.selectors import invoice_list_for_user, subscription_current_for_user
from wallets.selectors import wallet_for_user

from . import events
from .links import PkPath
from .presenters import (
    INVOICE_ROW_FIELDS,
    billing_cycle,
    format_date,
    invoice_rows,
    no_upcoming_invoice_reason,
    plan_features,
    scheduled_changes,
    subscription_actions,
    subscription_summary,
    upcoming_invoice,
)

RECENT_INVOICES = 5

# The dashboard's cards that an HTMX request may ask for on their own (by element id),
# and what each one shows: a card refreshed on its own costs only its own queries.
DASHBOARD_NEEDS: dict[str | None, frozenset[str]] = {
    "subscription-card": frozenset({"subscription", "invoices", "card"}),
    "recent-invoices": frozenset({"invoices"}),
    "wallet-card": frozenset({"wallet"}),
    "upcoming-invoice": frozenset({"subscription", "upcoming"}),
    None: frozenset({"subscription", "invoices", "card", "wallet", "upcoming", "features"}),
}
DASHBOARD_FRAGMENTS = frozenset(name for name in DASHBOARD_NEEDS if name)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def htmx_target(request: HtmxHttpRequest) -> str | None:
    """The element id an HTMX request asks to refresh (none for a boosted navigation)."""
    return request.htmx.target if request.htmx and not request.htmx.boosted else None


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
    target = htmx_target(request)
    names = fragments if isinstance(fragments, Mapping) else {name: name for name in fragments}
    if target in names:
        template = f"{template}#{names[target]}"
    return render(request, template, context, status=status)


def home(request: HtmxHttpRequest) -> HttpResponse:
    return redirect("portal:dashboard")


def dashboard_context(user, fragment: str | None = None) -> dict:
    """What the dashboard's cards show, in a fixed number of queries (the subscription
    with its plans, the recent invoices with theirs, the wallet); for one card
    (``fragment``, an HTMX request's target) only what that card shows.

    The subscription actions render their card from this too, so a card swapped in
    after an action is exactly the card a page load would show.
    """
    wants = DASHBOARD_NEEDS.get(fragment, DASHBOARD_NEEDS[None])
    context: dict = {"events": events}
    subscription = None
    if "subscription" in wants:
        subscription = context["subscription"] = subscription_current_for_user(user)
    if "invoices" in wants:
        invoices = list(invoice_list_for_user(user).only(*INVOICE_ROW_FIELDS)[:RECENT_INVOICES])
        context["invoices"] = invoice_rows(
            invoices, url=PkPath("portal:invoice_detail"), pay_url=PkPath("checkout:pay")
        )
        if subscription is not None:
            # The invoice that would start or keep the subscription, if one is waiting
            # (taken from the recent ones already loaded: no extra query).
            context["invoice_to_pay"] = next(
                (i for i in invoices if i.subscription_id == subscription.pk and i.is_payable),
                None,
            )
    if "wallet" in wants:
        context["wallet"] = wallet_for_user(user)
    if "upcoming" in wants:
        context["upcoming"] = upcoming_invoice(subscription)
        context["no_upcoming_reason"] = no_upcoming_invoice_reason(subscription)
    if subscription is not None and "card" in wants:
        context.update(
            summary=subscription_summary(subscription),
            billing_cycle=billing_cycle(subscription.plan),
            period_start=format_date(subscription.current_period_start),
            period_end=format_date(subscription.current_period_end),
            member_since=format_date(subscription.created_at),
            scheduled=scheduled_changes(subscription),
            actions=subscription_actions(subscription),
        )
    if subscription is not None and "features" in wants:
        context["features"] = plan_features(subscription.plan.features)
    return context


@login_required
@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def dashboard(request: HtmxHttpRequest) -> HttpResponse:
    target = htmx_target(request)
    return render_page(
        request,
        "portal/dashboard.html",
        dashboard_context(request.user, fragment=target if target in DASHBOARD_FRAGMENTS else None),
        fragments=DASHBOARD_FRAGMENTS,
    )


# --- What every site answers ------------------------------------------------------------

FAVICON = "favicon.ico"


@require_safe
@cache_control(public=True, max_age=7 * 24 * 3600)
def favicon(request: HttpRequest) -> FileResponse:
    """``/favicon.ico``: browsers ask for it on every page that names no icon (the
    admin's, the error pages, a PDF opened in a tab), and a 404 each time fills the
    logs. The file is ``static/favicon.ico`` (the portal's mark), read from the source
    tree, else from the collected static files."""
    path = finders.find(FAVICON)
    if path:
        icon = open(path, "rb")  # noqa: SIM115 (FileResponse closes it)
    elif staticfiles_storage.exists(FAVICON):
        icon = staticfiles_storage.open(FAVICON)
    else:
        raise Http404("No favicon.ico among the static files.")
    return FileResponse(icon, content_type="image/vnd.microsoft.icon")


def method_not_allowed_page(
    request: HttpRequest,
    *,
    allow: str = "POST",
    layout: str | None = None,
    title: str = "",
    text: str = "",
    back_url: str = "",
    back_label: str = "",
) -> HttpResponse:
    """A 405 that says why and offers a way back (``templates/405.html``), for a GET on
    an address only a form's button may open. Without ``title``/``text``/``back_url``
    the page's general words and a link to the billing pages (or to sign in)."""
    context = {
        "layout": layout,
        "title": title,
        "text": text,
        "back_url": back_url,
        "back_label": back_label,
    }
    response = render(request, "405.html", context, status=405)
    response["Allow"] = allow
    return response
