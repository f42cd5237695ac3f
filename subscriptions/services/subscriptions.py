"""Subscription services: every change of a subscription goes through one of these.

Each runs in ``transaction.atomic`` and re-reads the subscription with
``select_for_update()`` before deciding anything, so two requests (a double click,
the billing run and a webhook) cannot both act on a stale copy. They return the
fresh, locked instance. Status moves are checked against ``transitions.py``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import signals
from ..exceptions import BillingError, InvalidTransition, PlanUnavailable, SubscriptionExists
from ..models import (
    PAYABLE_INVOICE_STATUSES,
    Invoice,
    InvoiceReason,
    InvoiceStatus,
    Plan,
    Subscription,
    SubscriptionStatus,
)
from ..periods import next_boundary, plan_period_end
from ..transitions import check_subscription
from .invoices import LineSpec, invoice_create, invoice_void, void_payable_invoices
from .proration import ProrationQuote, quote_plan_change

S = SubscriptionStatus
VOIDABLE_INVOICE_STATUSES = (InvoiceStatus.DRAFT, *PAYABLE_INVOICE_STATUSES)


def lock_subscription(pk: int) -> Subscription:
    """The subscription, read again with its row locked until the transaction ends.

    ``of=("self",)``: the plan is read in the same query but not locked. A plain
    ``FOR UPDATE`` locks every row of the join, so every change to any subscription
    locked its plan's row too, and all the subscribers of one plan (billing workers,
    webhooks, portal actions) queued on that one row.
    """
    return Subscription.objects.select_for_update(of=("self",)).select_related("plan").get(pk=pk)


def _lock(subscription: Subscription) -> Subscription:
    return lock_subscription(subscription.pk)


def _lock_payable_invoices(subscription: Subscription) -> None:
    """Lock what an ending subscription will void *before* the subscription itself: the
    settlement's lock order (invoice, payment, subscription), so ending a subscription
    while its invoice is being paid waits instead of deadlocking."""
    list(
        Invoice.objects.select_for_update()
        .filter(subscription_id=subscription.pk, status__in=VOIDABLE_INVOICE_STATUSES)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _set_status(subscription: Subscription, target: str) -> None:
    check_subscription(subscription.status, target)
    subscription.status = target


def period_line(plan: Plan, start: dt.datetime, end: dt.datetime) -> LineSpec:
    local = timezone.localtime
    return LineSpec(
        description=(f"{plan.name} ({local(start):%d %b %Y} – {local(end):%d %b %Y})"),
        unit_amount=plan.price,
        period_start=start,
        period_end=end,
        plan=plan,
    )


def user_trial_available(user) -> bool:
    """Whether ``user`` may still start a free trial: one per customer, used up once
    any subscription of theirs has run. A subscription has run when it had a trial,
    is active, past due or paused, had an invoice paid, or never needed one (a free
    plan is active at once). A sign-up abandoned before paying (pending, then
    cancelled or expired: no trial, nothing paid) has not run, so the customer who
    left a Starter sign-up unpaid still gets Pro's trial (and Starter's, had it one).
    """
    if user is None or not user.pk:
        return True
    ran = (
        Q(trial_end__isnull=False)
        | Q(status__in=(S.ACTIVE, S.PAST_DUE, S.PAUSED))
        | Exists(Invoice.objects.filter(subscription=OuterRef("pk"), paid_at__isnull=False))
        | ~Exists(Invoice.objects.filter(subscription=OuterRef("pk")))
    )
    return not Subscription.objects.filter(user=user).filter(ran).exists()


def user_has_trialed(user) -> bool:
    """The opposite of ``user_trial_available`` (kept for callers of the old name)."""
    return not user_trial_available(user)


@transaction.atomic
def subscription_create(
    *,
    user,
    plan: Plan,
    payment_type: str = "",
    allow_trial: bool = True,
    now: dt.datetime | None = None,
) -> Subscription:
    """Start a subscription: a trial when the plan has one and the customer has not
    used theirs (``user_trial_available``), otherwise ``pending`` with its first invoice
    open for payment. A free plan is active at once."""
    now = now or timezone.now()
    if not plan.is_active:
        raise PlanUnavailable()
    # Serialise concurrent sign-ups of one user on their user row.
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    if Subscription.objects.live().filter(user=user).exists():
        raise SubscriptionExists()
    trial = allow_trial and plan.trial_period_days > 0 and user_trial_available(user)
    subscription = Subscription(user=user, plan=plan, payment_type=payment_type)
    if trial:
        trial_end = now + dt.timedelta(days=plan.trial_period_days)
        subscription.status = S.TRIALING
        subscription.trial_end = trial_end
        subscription.current_period_start = now
        subscription.current_period_end = trial_end
        subscription.billing_anchor = trial_end
    else:
        subscription.status = S.PENDING
        subscription.current_period_start = now
        subscription.current_period_end = plan_period_end(plan, now)
        subscription.billing_anchor = now
    try:
        with transaction.atomic():
            subscription.save()
    except IntegrityError as exc:  # lost a race with another sign-up of the same user
        raise SubscriptionExists() from exc
    if subscription.status == S.PENDING:
        if plan.price > 0:
            _invoice_sign_up(subscription, now=now)
        else:
            subscription = subscription_activate(subscription=subscription, now=now)
    return subscription


@transaction.atomic(savepoint=False)
def subscription_activate(
    *,
    subscription: Subscription,
    invoice: Invoice | None = None,
    now: dt.datetime | None = None,
) -> Subscription:
    """Make a pending, trialing or past-due subscription active (its invoice was paid)."""
    now = now or timezone.now()
    subscription = _lock(subscription)
    previous = subscription.status
    if previous == S.PAUSED:
        raise InvalidTransition(
            _("A paused subscription is resumed, not activated."), current=previous, target=S.ACTIVE
        )
    _set_status(subscription, S.ACTIVE)
    if invoice is not None and invoice.period_start and invoice.period_end:
        subscription.current_period_start = invoice.period_start
        subscription.current_period_end = invoice.period_end
        subscription.billing_anchor = invoice.period_start
    elif previous == S.TRIALING and subscription.trial_end:
        start = min(subscription.trial_end, now)
        subscription.current_period_start = start
        subscription.current_period_end = plan_period_end(subscription.plan, start)
        subscription.billing_anchor = start
    elif subscription.current_period_end is None:
        subscription.current_period_start = now
        subscription.current_period_end = plan_period_end(subscription.plan, now)
        subscription.billing_anchor = now
    subscription.ended_at = None
    subscription.past_due_at = None
    subscription.save()
    return subscription


@transaction.atomic
def subscription_mark_past_due(
    *, subscription: Subscription, now: dt.datetime | None = None
) -> Subscription:
    subscription = _lock(subscription)
    _set_status(subscription, S.PAST_DUE)
    subscription.past_due_at = now or timezone.now()
    subscription.save(update_fields=["status", "past_due_at", "updated_at"])
    return subscription


@transaction.atomic
def subscription_pause(
    *,
    subscription: Subscription,
    resume_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Subscription:
    """Pause now; the unused rest of the period is kept for when it resumes."""
    now = now or timezone.now()
    subscription = _lock(subscription)
    if resume_at is not None and resume_at <= now:
        raise BillingError(_("The resume date must be in the future."))
    _set_status(subscription, S.PAUSED)
    subscription.paused_at = now
    subscription.resume_at = resume_at
    subscription.save(update_fields=["status", "paused_at", "resume_at", "updated_at"])
    return subscription


@transaction.atomic
def subscription_resume(
    *, subscription: Subscription, now: dt.datetime | None = None
) -> Subscription:
    """Resume a paused subscription; its period end moves by the time spent paused."""
    now = now or timezone.now()
    subscription = _lock(subscription)
    if subscription.status != S.PAUSED:
        raise InvalidTransition(
            _("Only a paused subscription can be resumed."),
            current=subscription.status,
            target=S.ACTIVE,
        )
    _set_status(subscription, S.ACTIVE)
    paused_at = subscription.paused_at or now
    end = subscription.current_period_end or now
    remaining = max(end - paused_at, dt.timedelta(0))
    new_end = now + remaining
    subscription.current_period_end = new_end
    subscription.billing_anchor = new_end
    if subscription.scheduled_plan_id:
        subscription.scheduled_change_at = new_end
    subscription.paused_at = None
    subscription.resume_at = None
    subscription.save()
    return subscription


@transaction.atomic
def subscription_cancel(
    *,
    subscription: Subscription,
    at_period_end: bool = True,
    reason: str = "",
    now: dt.datetime | None = None,
) -> Subscription:
    """Cancel at the period end (undoable until then) or now.

    Cancelling now ends access at once and voids what the subscription still asks
    to be paid; a scheduled cancellation keeps it active until ``current_period_end``
    and sends ``subscription_cancel_scheduled``.
    """
    now = now or timezone.now()
    if not at_period_end:
        _lock_payable_invoices(subscription)
    subscription = _lock(subscription)
    reason = (reason or "").strip()
    if at_period_end:
        if subscription.status not in (S.ACTIVE, S.TRIALING):
            raise InvalidTransition(
                _("Only an active or trialing subscription can be cancelled at the period end."),
                current=subscription.status,
                target=S.CANCELLED,
            )
        if subscription.cancel_at_period_end:
            raise InvalidTransition(
                _("This subscription is already set to cancel at the period end."),
                current=subscription.status,
                target=S.CANCELLED,
            )
        subscription.cancel_at_period_end = True
        subscription.cancellation_reason = reason
        subscription.save(
            update_fields=["cancel_at_period_end", "cancellation_reason", "updated_at"]
        )
        signals.subscription_cancel_scheduled.send(
            sender=Subscription,
            instance=subscription,
            cancel_at=subscription.current_period_end,
            reason=reason,
        )
        return subscription
    _set_status(subscription, S.CANCELLED)
    subscription.cancelled_at = now
    subscription.ended_at = now
    subscription.cancel_at_period_end = False
    if reason:
        subscription.cancellation_reason = reason
    subscription.scheduled_plan = None
    subscription.scheduled_change_at = None
    subscription.save()
    void_payable_invoices(subscription=subscription, reason="Subscription cancelled", now=now)
    return subscription


@transaction.atomic
def subscription_undo_cancel(
    *, subscription: Subscription, now: dt.datetime | None = None
) -> Subscription:
    """Take back a cancellation scheduled for the period end."""
    now = now or timezone.now()
    subscription = _lock(subscription)
    if not subscription.cancel_at_period_end or not subscription.is_live:
        raise InvalidTransition(
            _("There is no scheduled cancellation to undo."),
            current=subscription.status,
            target=subscription.status,
        )
    if subscription.current_period_end and subscription.current_period_end <= now:
        raise InvalidTransition(
            _("The period has ended; the cancellation can no longer be undone."),
            current=subscription.status,
            target=subscription.status,
        )
    subscription.cancel_at_period_end = False
    subscription.cancellation_reason = ""
    subscription.save(update_fields=["cancel_at_period_end", "cancellation_reason", "updated_at"])
    signals.subscription_cancel_undone.send(sender=Subscription, instance=subscription)
    return subscription


@transaction.atomic
def subscription_expire(
    *, subscription: Subscription, now: dt.datetime | None = None
) -> Subscription:
    now = now or timezone.now()
    _lock_payable_invoices(subscription)
    subscription = _lock(subscription)
    _set_status(subscription, S.EXPIRED)
    subscription.ended_at = now
    subscription.scheduled_plan = None
    subscription.scheduled_change_at = None
    subscription.save()
    void_payable_invoices(subscription=subscription, reason="Subscription expired", now=now)
    return subscription


@transaction.atomic
def subscription_reactivate(
    *, subscription: Subscription, now: dt.datetime | None = None
) -> Subscription:
    """Bring back a cancelled or expired subscription: a fresh period, pending until its
    invoice is paid (active at once on a free plan)."""
    now = now or timezone.now()
    subscription = _lock(subscription)
    if not subscription.plan.is_active:
        raise PlanUnavailable(_("This plan is no longer offered; choose another plan."))
    _set_status(subscription, S.PENDING)
    subscription.current_period_start = now
    subscription.current_period_end = plan_period_end(subscription.plan, now)
    subscription.billing_anchor = now
    subscription.cancel_at_period_end = False
    subscription.cancelled_at = None
    subscription.cancellation_reason = ""
    subscription.ended_at = None
    subscription.paused_at = None
    subscription.resume_at = None
    try:
        with transaction.atomic():
            subscription.save()
    except IntegrityError as exc:
        raise SubscriptionExists() from exc
    if subscription.plan.price > 0:
        invoice_create(
            user=subscription.user,
            subscription=subscription,
            plan=subscription.plan,
            reason=InvoiceReason.REACTIVATION,
            period_start=subscription.current_period_start,
            period_end=subscription.current_period_end,
            lines=[
                period_line(
                    subscription.plan,
                    subscription.current_period_start,
                    subscription.current_period_end,
                )
            ],
            now=now,
        )
        return subscription
    return subscription_activate(subscription=subscription, now=now)


def renewal_period(subscription: Subscription) -> tuple[dt.datetime, dt.datetime, Plan]:
    """The next period after the current one, and the plan it is billed on."""
    start = subscription.current_period_end
    if start is None:
        raise BillingError(_("This subscription has no current period to renew."))
    plan = subscription.plan
    if (
        subscription.scheduled_plan_id
        and subscription.scheduled_change_at
        and subscription.scheduled_change_at <= start
    ):
        plan = subscription.scheduled_plan
    if plan.pk != subscription.plan_id and not plan.same_interval_as(subscription.plan):
        end = plan_period_end(plan, start)
    else:
        end = next_boundary(
            subscription.billing_anchor or start, start, plan.interval_unit, plan.interval
        )
    return start, end, plan


@transaction.atomic(savepoint=False)
def subscription_create_renewal_invoice(
    *, subscription: Subscription, now: dt.datetime | None = None
) -> Invoice:
    """Invoice the next period (on the scheduled plan if a downgrade takes effect then)."""
    now = now or timezone.now()
    subscription = _lock(subscription)
    if subscription.status not in (S.ACTIVE, S.PAST_DUE, S.TRIALING):
        raise InvalidTransition(
            _("A %(status)s subscription is not renewed.")
            % {"status": str(subscription.get_status_display()).lower()},
            current=subscription.status,
            target=subscription.status,
        )
    if subscription.cancel_at_period_end:
        raise InvalidTransition(
            _("This subscription cancels at the period end and is not renewed."),
            current=subscription.status,
            target=S.CANCELLED,
        )
    trial = subscription.status == S.TRIALING
    start, end, plan = renewal_period(subscription)
    return invoice_create(
        user=subscription.user,
        subscription=subscription,
        plan=plan,
        reason=InvoiceReason.TRIAL_END if trial else InvoiceReason.RENEWAL,
        period_start=start,
        period_end=end,
        lines=[period_line(plan, start, end)],
        now=now,
    )


@transaction.atomic(savepoint=False)
def subscription_renew(
    *,
    subscription: Subscription,
    invoice: Invoice | None = None,
    now: dt.datetime | None = None,
) -> Subscription:
    """Move into the next period (one calendar period), applying a scheduled plan change
    that takes effect now. A past-due subscription becomes active again."""
    now = now or timezone.now()
    subscription = _lock(subscription)
    if subscription.status not in (S.ACTIVE, S.PAST_DUE):
        raise InvalidTransition(
            _("A %(status)s subscription cannot be renewed.")
            % {"status": str(subscription.get_status_display()).lower()},
            current=subscription.status,
            target=S.ACTIVE,
        )
    if invoice is not None and invoice.period_start and invoice.period_end:
        if (
            subscription.current_period_end
            and invoice.period_end <= subscription.current_period_end
        ):
            raise BillingError(_("This period has already been renewed."))
        start, end = invoice.period_start, invoice.period_end
        # The plan already loaded with the subscription when the invoice bills the same
        # one (the usual renewal): no query for a second copy of the row.
        same_plan = invoice.plan_id is None or invoice.plan_id == subscription.plan_id
        plan = subscription.plan if same_plan else invoice.plan
    else:
        start, end, plan = renewal_period(subscription)
    old_plan = subscription.plan
    if subscription.status == S.PAST_DUE:
        _set_status(subscription, S.ACTIVE)
        subscription.past_due_at = None
    subscription.current_period_start = start
    subscription.current_period_end = end
    if plan.pk != old_plan.pk:
        subscription.plan = plan
        subscription.billing_anchor = start
    if subscription.scheduled_change_at and subscription.scheduled_change_at <= start:
        subscription.scheduled_plan = None
        subscription.scheduled_change_at = None
    subscription.save()
    if plan.pk != old_plan.pk:
        signals.subscription_plan_changed.send(
            sender=Subscription, instance=subscription, old_plan=old_plan, new_plan=plan
        )
    signals.subscription_renewed.send(
        sender=Subscription,
        instance=subscription,
        period_start=start,
        period_end=end,
        invoice=invoice,
    )
    return subscription


# --- Plan changes -----------------------------------------------------------------------


@dataclass(frozen=True)
class PlanChangeResult:
    kind: str  # "upgrade", "downgrade" or "switch"
    subscription: Subscription
    applied: bool = False
    scheduled_at: dt.datetime | None = None
    invoice: Invoice | None = None
    amount_due: Decimal = Decimal("0")


def apply_plan(subscription: Subscription, new_plan: Plan) -> Plan:
    """Switch the plan on a locked subscription and send ``subscription_plan_changed``."""
    old_plan = subscription.plan
    subscription.plan = new_plan
    subscription.scheduled_plan = None
    subscription.scheduled_change_at = None
    subscription.save()
    signals.subscription_plan_changed.send(
        sender=Subscription, instance=subscription, old_plan=old_plan, new_plan=new_plan
    )
    return old_plan


@transaction.atomic
def subscription_change_plan(
    *,
    subscription: Subscription,
    new_plan: Plan,
    quote_token: str | None = None,
    now: dt.datetime | None = None,
) -> PlanChangeResult:
    """Change plan as quoted: an upgrade now (invoiced for the prorated difference and
    applied when paid, or at once when nothing is due), a downgrade at the period end.

    With ``quote_token`` (from ``subscription_change_plan_quote``), the quoted amounts
    are honoured while the quote is valid and the subscription is as it was quoted;
    otherwise ``QuoteExpired``.
    """
    now = now or timezone.now()
    subscription = _lock(subscription)
    if quote_token:
        quote = ProrationQuote.from_token(quote_token, subscription=subscription, new_plan=new_plan)
    else:
        quote = quote_plan_change(subscription=subscription, new_plan=new_plan, now=now)

    if subscription.status == S.PENDING:
        return _switch_unpaid_sign_up(subscription, new_plan, quote, now=now)
    if quote.at_period_end:
        subscription.scheduled_plan = new_plan
        subscription.scheduled_change_at = subscription.current_period_end
        subscription.save(update_fields=["scheduled_plan", "scheduled_change_at", "updated_at"])
        return PlanChangeResult(
            kind=quote.kind,
            subscription=subscription,
            scheduled_at=subscription.scheduled_change_at,
        )
    if quote.amount_due <= 0:
        if quote.new_period_start:
            subscription.current_period_start = quote.new_period_start
            subscription.current_period_end = quote.new_period_end
            subscription.billing_anchor = quote.new_period_start
        apply_plan(subscription, new_plan)
        return PlanChangeResult(kind=quote.kind, subscription=subscription, applied=True)
    # An earlier unpaid plan-change invoice is superseded by this one.
    for stale in subscription.invoices.payable().filter(reason=InvoiceReason.PLAN_CHANGE):
        invoice_void(invoice=stale, reason="Superseded by a newer plan change", now=now)
    invoice = invoice_create(
        user=subscription.user,
        subscription=subscription,
        plan=new_plan,
        reason=InvoiceReason.PLAN_CHANGE,
        period_start=quote.effective_at,
        period_end=quote.new_period_end or subscription.current_period_end,
        lines=quote.line_specs(),
        metadata=quote.as_metadata(),
        now=now,
    )
    return PlanChangeResult(
        kind=quote.kind,
        subscription=subscription,
        invoice=invoice,
        amount_due=invoice.total,
    )


def _invoice_sign_up(subscription: Subscription, *, now: dt.datetime) -> Invoice:
    """The invoice a pending sign-up waits for: its current period of its plan."""
    start, end = subscription.current_period_start, subscription.current_period_end
    return invoice_create(
        user=subscription.user,
        subscription=subscription,
        plan=subscription.plan,
        reason=InvoiceReason.SUBSCRIPTION_CREATE,
        period_start=start,
        period_end=end,
        lines=[period_line(subscription.plan, start, end)],
        now=now,
    )


def _switch_unpaid_sign_up(subscription, new_plan, quote, *, now) -> PlanChangeResult:
    """A pending sign-up changes plan: its unpaid first invoice is voided and one for
    the new plan issued (a free plan activates at once)."""
    for unpaid in subscription.invoices.payable():
        invoice_void(invoice=unpaid, reason=f"Replaced: plan changed to {new_plan.name}", now=now)
    subscription.current_period_start = quote.new_period_start
    subscription.current_period_end = quote.new_period_end
    subscription.billing_anchor = quote.new_period_start
    apply_plan(subscription, new_plan)
    if new_plan.price <= 0:
        subscription = subscription_activate(subscription=subscription, now=now)
        return PlanChangeResult(kind=quote.kind, subscription=subscription, applied=True)
    invoice = _invoice_sign_up(subscription, now=now)
    return PlanChangeResult(
        kind=quote.kind,
        subscription=subscription,
        applied=True,
        invoice=invoice,
        amount_due=invoice.total,
    )


@transaction.atomic(savepoint=False)
def subscription_apply_paid_plan_change(
    *, subscription: Subscription, invoice: Invoice, now: dt.datetime | None = None
) -> Subscription:
    """An upgrade invoice was paid: switch to the plan it billed for."""
    subscription = _lock(subscription)
    new_plan = invoice.plan
    if new_plan is None or new_plan.pk == subscription.plan_id:
        return subscription
    if subscription.status not in (S.ACTIVE, S.TRIALING, S.PAST_DUE):
        # The money arrived after the subscription ended: nothing to switch; staff refund.
        return subscription
    new_period = invoice.metadata.get("new_period_start")
    if new_period:
        subscription.current_period_start = invoice.period_start
        subscription.current_period_end = invoice.period_end
        subscription.billing_anchor = invoice.period_start
    apply_plan(subscription, new_plan)
    return subscription


@transaction.atomic
def subscription_cancel_scheduled_change(
    *, subscription: Subscription, now: dt.datetime | None = None
) -> Subscription:
    subscription = _lock(subscription)
    if not subscription.scheduled_plan_id:
        raise InvalidTransition(
            _("There is no scheduled plan change to cancel."),
            current=subscription.status,
            target=subscription.status,
        )
    subscription.scheduled_plan = None
    subscription.scheduled_change_at = None
    subscription.save(update_fields=["scheduled_plan", "scheduled_change_at", "updated_at"])
    return subscription
