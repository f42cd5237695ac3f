"""The plans & subscription half of the portal: the catalogue, plan changes with their
proration quote, subscribing, and the subscription actions (pause, resume, cancel, undo).

Views are thin: they look the subscription up through its owner, call one service,
and turn a ``BillingError`` into a message where the customer is looking. Every
action is a POST that works as a plain form (redirect to the dashboard with a
message) and, from HTMX, answers with the swapped ``#subscription-card``, the
notification region out of band and the ``subscription-changed`` event.

Confirmations (a ``<dialog>`` filled over HTMX, or a page of its own without
JavaScript) have their own GET URLs, so that every action URL refuses GET.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget, trigger_client_event

from subscriptions.exceptions import BillingError
from subscriptions.models import InvoiceStatus, Plan, Subscription, SubscriptionStatus
from subscriptions.selectors import (
    invoice_detail_for_user,
    plan_catalogue,
    subscription_current_for_user,
)
from subscriptions.services import (
    PlanChangeResult,
    subscription_cancel,
    subscription_cancel_scheduled_change,
    subscription_change_plan,
    subscription_change_plan_quote,
    subscription_create,
    subscription_pause,
    subscription_reactivate,
    subscription_resume,
    subscription_undo_cancel,
    user_trial_available,
)
from wallets.selectors import wallet_for_user

from . import events, notifications, presenters
from .forms_subscription import CancelForm, PauseForm, PlanChangeForm
from .htmx_responses import fragment_response
from .views import HtmxHttpRequest, dashboard_context, render_page

S = SubscriptionStatus
DIALOG = "#dialog-content"


def _redirect(request: HtmxHttpRequest, url: str) -> HttpResponse:
    """A redirect the browser follows as a whole page, HTMX or not."""
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


# --- Plans --------------------------------------------------------------------------------


@login_required
@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def plans(request: HtmxHttpRequest) -> HttpResponse:
    subscription = subscription_current_for_user(request.user)
    catalogue = list(plan_catalogue())
    groups = presenters.catalogue_groups(catalogue)
    group = request.GET.get("interval")
    if group not in groups:
        # The tab of the plan they are on, else monthly.
        live_plan = subscription.plan if subscription and subscription.is_live else None
        group = presenters.plan_group(live_plan) if live_plan else (groups or ["month"])[0]
    shown = [plan for plan in catalogue if presenters.plan_group(plan) == group]
    invoice_to_pay = None
    if subscription is not None and subscription.status in (S.PENDING, S.PAST_DUE):
        invoice_to_pay = subscription.invoices.payable().order_by("-pk").first()
    # A former customer may still have their trial (a sign-up abandoned unpaid).
    trial_available = subscription is None or (
        not subscription.is_live and user_trial_available(request.user)
    )
    context = {
        "subscription": subscription,
        "offers": presenters.plan_offers(
            shown, subscription, trial_available=trial_available, catalogue=catalogue
        ),
        "groups": [(key, presenters.GROUP_LABELS[key]) for key in groups],
        "group": group,
        "invoice_to_pay": invoice_to_pay,
    }
    return render_page(request, "portal/plans/list.html", context, fragments={"plan-grid"})


def _plan(slug: str) -> Plan:
    return get_object_or_404(plan_catalogue(), slug=slug)


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def plan_change(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """GET: the exact proration quote. POST: confirm it (the signed token is honoured,
    or refused with a fresh quote when it has expired or no longer applies)."""
    plan = _plan(slug)
    subscription = subscription_current_for_user(request.user)
    if subscription is None or not subscription.is_live:
        messages.info(request, _("You don't have a subscription to change. Choose a plan."))
        return _redirect(request, reverse("portal:plans"))

    error = ""
    if request.method == "POST":
        form = PlanChangeForm(request.POST)
        if form.is_valid():
            since = timezone.now()
            old_plan = subscription.plan
            try:
                result = subscription_change_plan(
                    subscription=subscription,
                    new_plan=plan,
                    quote_token=form.cleaned_data["quote_token"],
                )
            except BillingError as exc:
                # QuoteExpired included: nothing was changed; show a fresh quote.
                error = str(exc)
            else:
                return _plan_changed(request, result, plan, old_plan, since=since)
        else:
            error = _("The price quote was missing. Please review it again.")

    quote = summary = None
    try:
        quote = subscription_change_plan_quote(subscription=subscription, new_plan=plan)
    except BillingError as exc:
        error = error or str(exc)
    else:
        summary = presenters.quote_summary(quote, plan, subscription.plan)
    context = {
        "plan": plan,
        "subscription": subscription,
        "quote": quote,
        "summary": summary,
        "error": error,
        "form": PlanChangeForm(initial={"quote_token": quote.token}) if quote else None,
    }
    template = "portal/plans/change.html"
    if request.htmx and not request.htmx.boosted:
        template += "#quote"
    return render(request, template, context)


def _said_on_the_page(request: HtmxHttpRequest, subscription: Subscription, since) -> None:
    """The page's message says what the subscriber just did: the banners the action
    announced (for their other devices and the notifications page) are already read."""
    notifications.acknowledge(request.user, f"subscription:{subscription.pk}", since=since)


def _plan_changed(
    request: HtmxHttpRequest, result: PlanChangeResult, plan: Plan, old_plan: Plan, *, since
) -> HttpResponse:
    name = presenters.distinct_name(plan, old_plan)
    if result.invoice is not None:
        # An upgrade with something to pay: it applies when the invoice is paid.
        url = reverse("portal:subscription_pay", args=[result.invoice.pk])
    else:
        if result.scheduled_at is not None:
            messages.success(
                request,
                _("Your plan switches to %(plan)s on %(date)s. Nothing is charged now.")
                % {"plan": name, "date": presenters.format_date(result.scheduled_at)},
            )
        else:
            messages.success(request, _("You are now on %(plan)s.") % {"plan": name})
        _said_on_the_page(request, result.subscription, since)
        url = reverse("portal:dashboard")
    response = _redirect(request, url)
    return trigger_client_event(response, events.SUBSCRIPTION_CHANGED)


# --- Subscribing ----------------------------------------------------------------------------


@login_required
@require_POST
def subscribe(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Start a subscription on ``slug``: a trial when the plan has one and the customer
    has not used theirs (``user_trial_available``: a sign-up abandoned before paying
    does not use it), otherwise the first invoice, to review and pay.

    A former subscriber choosing their previous plan gets that subscription back
    (same subscription, its history kept); choosing another plan starts a new one.
    Neither comes with a second trial.
    """
    plan = _plan(slug)
    previous = subscription_current_for_user(request.user)
    since = timezone.now()
    try:
        if (
            previous is not None
            and not previous.is_live
            and previous.plan_id == plan.pk
            and not user_trial_available(request.user)
        ):
            subscription = subscription_reactivate(subscription=previous)
        else:
            subscription = subscription_create(user=request.user, plan=plan)
    except BillingError as error:
        messages.error(request, str(error))
        return redirect(f"{reverse('portal:plans')}?interval={presenters.plan_group(plan)}")

    if subscription.status == S.PENDING:
        invoice = subscription.invoices.payable().order_by("-pk").first()
        if invoice is not None:
            return redirect("portal:subscription_pay", pk=invoice.pk)
    if subscription.status == S.TRIALING:
        messages.success(
            request,
            _("Your trial of %(plan)s has started. It ends on %(date)s; cancel any time before.")
            % {"plan": plan.name, "date": presenters.format_date(subscription.trial_end)},
        )
    else:
        messages.success(request, _("You are now subscribed to %(plan)s.") % {"plan": plan.name})
    _said_on_the_page(request, subscription, since)
    return redirect("portal:dashboard")


@login_required
@require_GET
def subscription_pay(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Review and pay: what the invoice is for, then the gateway or the wallet."""
    invoice = get_object_or_404(invoice_detail_for_user(request.user, pk))
    if not invoice.is_payable:
        if invoice.status == InvoiceStatus.PAID:
            messages.info(request, _("Invoice %(number)s is paid.") % {"number": invoice})
        else:
            messages.info(
                request, _("Invoice %(number)s has nothing to pay.") % {"number": invoice}
            )
        return redirect("portal:dashboard")
    wallet = wallet_for_user(request.user)
    context = {
        "invoice": invoice,
        "title": presenters.pay_title(invoice),
        "lines": list(invoice.lines.all()),
        "wallet": wallet,
        "wallet_covers": wallet.balance >= invoice.total,
        "subscription": invoice.subscription,
    }
    return render(request, "portal/subscription/pay.html", context)


# --- Subscription actions ----------------------------------------------------------------


def _owned(request: HtmxHttpRequest, pk: int) -> Subscription:
    return get_object_or_404(
        Subscription.objects.select_related("plan", "scheduled_plan"), pk=pk, user=request.user
    )


def _confirm(
    request: HtmxHttpRequest,
    template: str,
    subscription: Subscription,
    form=None,
    *,
    invalid: bool = False,
) -> HttpResponse:
    """The confirmation: the dialog body for HTMX, a page of its own otherwise.

    A form with errors goes back where it came from: into the dialog (retargeted,
    since the form's own target is the subscription card) or as the page.
    """
    context = {
        "subscription": subscription,
        "form": form,
        "in_dialog": bool(request.htmx),
        "summary": presenters.subscription_summary(subscription),
        "period_end": presenters.format_date(subscription.current_period_end),
        "actions": presenters.subscription_actions(subscription),
    }
    if not request.htmx:
        return render(request, template, context)
    response = render(request, f"{template}#dialog", context)
    if invalid:
        retarget(response, DIALOG)
        reswap(response, "innerHTML")
    return response


def _act(
    request: HtmxHttpRequest,
    action: Callable[[], Subscription],
    success: Callable[[Subscription], str],
) -> HttpResponse:
    """Run one service; its ``BillingError`` becomes a message, never a 500 (and the
    service's transaction means nothing of a failed action is kept)."""
    since = timezone.now()
    try:
        updated = action()
    except BillingError as error:
        messages.error(request, str(error))
        changed = False
    else:
        messages.success(request, success(updated))
        _said_on_the_page(request, updated, since)
        changed = True
    if not request.htmx:
        return redirect("portal:dashboard")
    return fragment_response(
        request,
        "portal/dashboard.html#subscription-card",
        dashboard_context(request.user, fragment="subscription-card"),
        events=[events.SUBSCRIPTION_CHANGED] if changed else [],
    )


@login_required
@require_GET
@vary_on_headers("HX-Request")
def pause_confirm(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _confirm(request, "portal/subscription/pause.html", _owned(request, pk), PauseForm())


@login_required
@require_POST
def pause(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    subscription = _owned(request, pk)
    form = PauseForm(request.POST)
    if not form.is_valid():
        return _confirm(request, "portal/subscription/pause.html", subscription, form, invalid=True)

    def paused(updated: Subscription) -> str:
        if updated.resume_at:
            return _("Your subscription is paused. It resumes on %(date)s.") % {
                "date": presenters.format_date(updated.resume_at)
            }
        return _("Your subscription is paused. Resume it whenever you are ready.")

    return _act(
        request,
        lambda: subscription_pause(subscription=subscription, resume_at=form.resume_at),
        paused,
    )


@login_required
@require_GET
@vary_on_headers("HX-Request")
def resume_confirm(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _confirm(request, "portal/subscription/resume.html", _owned(request, pk))


@login_required
@require_POST
def resume(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    subscription = _owned(request, pk)
    return _act(
        request,
        lambda: subscription_resume(subscription=subscription),
        lambda updated: (
            _("Welcome back! Your subscription is active and renews on %(date)s.")
            % {"date": presenters.format_date(updated.current_period_end)}
        ),
    )


def _cancel_form(subscription: Subscription, data=None) -> CancelForm:
    return CancelForm(
        data,
        subscription=subscription,
        period_end=presenters.format_date(subscription.current_period_end),
    )


@login_required
@require_GET
@vary_on_headers("HX-Request")
def cancel_confirm(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    subscription = _owned(request, pk)
    return _confirm(
        request, "portal/subscription/cancel.html", subscription, _cancel_form(subscription)
    )


@login_required
@require_POST
def cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    subscription = _owned(request, pk)
    form = _cancel_form(subscription, request.POST)
    if not form.is_valid():
        return _confirm(
            request, "portal/subscription/cancel.html", subscription, form, invalid=True
        )

    sign_up = subscription.status == S.PENDING

    def cancelled(updated: Subscription) -> str:
        if sign_up:
            return _("Your sign-up is cancelled. You can choose a plan again at any time.")
        if updated.cancel_at_period_end:
            return _("Your subscription will end on %(date)s. You can undo this until then.") % {
                "date": presenters.format_date(updated.current_period_end)
            }
        return _("Your subscription is cancelled.")

    return _act(
        request,
        lambda: subscription_cancel(
            subscription=subscription,
            at_period_end=form.at_period_end,
            reason=form.reason_text,
        ),
        cancelled,
    )


@login_required
@require_POST
def undo_cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    subscription = _owned(request, pk)
    return _act(
        request,
        lambda: subscription_undo_cancel(subscription=subscription),
        lambda updated: (
            _("Your subscription is no longer set to cancel. %(next_step)s")
            % {"next_step": presenters.next_step(updated)}
        ),
    )


@login_required
@require_POST
def undo_plan_change(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    subscription = _owned(request, pk)
    return _act(
        request,
        lambda: subscription_cancel_scheduled_change(subscription=subscription),
        lambda updated: (
            _("The scheduled plan change is cancelled. You stay on %(plan)s.")
            % {"plan": updated.plan.name}
        ),
    )
