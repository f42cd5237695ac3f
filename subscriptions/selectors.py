"""Reads that return QuerySets with what their pages need joined in, so every page runs
a constant number of queries whatever the data size."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Prefetch, Q, QuerySet
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from .models import (
    Invoice,
    InvoiceLine,
    Payment,
    Plan,
    Refund,
    RefundKind,
    RefundStatus,
    Subscription,
)
from .money import ZERO


def plan_catalogue() -> QuerySet[Plan]:
    return Plan.objects.active().order_by("sort_order", "price", "pk")


def subscription_current_for_user(user) -> Subscription | None:
    """The user's live subscription, or else the most recent one."""
    qs = Subscription.objects.filter(user=user).select_related("plan", "scheduled_plan")
    return qs.live().first() or qs.first()


def invoice_list_for_user(user, *, status: str | None = None) -> QuerySet[Invoice]:
    qs = Invoice.objects.filter(user=user).exclude(status="draft").select_related("plan")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-issued_at", "-pk")


def invoice_detail_for_user(user, pk: int) -> QuerySet[Invoice]:
    return (
        Invoice.objects.filter(user=user, pk=pk)
        .exclude(status="draft")
        .select_related("plan", "subscription__plan", "user")
        .prefetch_related(
            Prefetch("lines", queryset=InvoiceLine.objects.order_by("pk")),
            Prefetch("payments", queryset=Payment.objects.order_by("-created_at")),
        )
    )


def invoice_totals_by_status(queryset: QuerySet[Invoice]) -> list[dict]:
    """Count and sum of ``total`` per status for the (filtered) admin list: one query."""
    from django.db.models import Count, Sum

    return list(
        queryset.order_by()
        .values("status", "currency")
        .annotate(count=Count("pk", distinct=True), amount=Sum("total"))
        .order_by("status", "currency")
    )


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime.datetime
    kind: str  # "invoice", "payment", "webhook", "email", "staff"
    title: str
    detail: str = ""
    url: str = ""


# Other apps add entries to an invoice's admin timeline (the portal adds the emails
# it sent for the invoice): callables taking the invoice and returning entries.
INVOICE_TIMELINE_SOURCES: list[Callable[[Invoice], Iterable[TimelineEntry]]] = []


def invoice_timeline(invoice: Invoice) -> list[TimelineEntry]:
    """Everything that happened to one invoice, oldest first: its own lifecycle, its
    payments, the gateway notifications for them, staff actions and registered sources.
    Titles and details are in the active language (staff actions are shown as the
    admin log recorded them)."""
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType
    from django.urls import reverse

    from .models import WebhookLog

    # Issued in the same transaction as created: the row's timestamp can trail issued_at.
    created = min(invoice.created_at, invoice.issued_at or invoice.created_at)
    entries: list[TimelineEntry] = [
        TimelineEntry(created, "invoice", pgettext("invoice timeline", "Created"))
    ]
    if invoice.issued_at:
        due = (
            _("due %(date)s")
            % {"date": formats.date_format(timezone.localtime(invoice.due_date), "DATE_FORMAT")}
            if invoice.due_date
            else ""
        )
        entries.append(
            TimelineEntry(
                invoice.issued_at,
                "invoice",
                _("Issued as %(number)s") % {"number": invoice.number},
                due,
            )
        )
    if invoice.paid_at:
        entries.append(
            TimelineEntry(invoice.paid_at, "invoice", pgettext("invoice timeline", "Paid"))
        )
    if invoice.voided_at:
        entries.append(
            TimelineEntry(
                invoice.voided_at,
                "invoice",
                pgettext("invoice timeline", "Voided"),
                invoice.void_reason,
            )
        )
    payments = list(invoice.payments.order_by("created_at"))
    for payment in payments:
        url = reverse("admin:subscriptions_payment_change", args=[payment.pk])
        entries.append(
            TimelineEntry(
                payment.created_at,
                "payment",
                _("Payment %(order_id)s started") % {"order_id": payment.order_id},
                f"{payment.gateway or _('gateway')} · {payment.amount_display}",
                url,
            )
        )
        if payment.paid_at:
            entries.append(
                TimelineEntry(
                    payment.paid_at,
                    "payment",
                    _("Payment %(order_id)s settled") % {"order_id": payment.order_id},
                    payment.payment_type,
                    url,
                )
            )
    for log in WebhookLog.objects.filter(payment__in=payments).order_by("created_at"):
        entries.append(
            TimelineEntry(
                log.created_at,
                "webhook",
                _("Notification %(status)s for %(order_id)s")
                % {"status": log.transaction_status or "?", "order_id": log.order_id},
                str(log.get_status_display())
                + (f": {log.error.splitlines()[0]}" if log.error else ""),
                reverse("admin:subscriptions_webhooklog_change", args=[log.pk]),
            )
        )
    content_types = ContentType.objects.get_for_models(
        Invoice, *{type(p) for p in payments}
    ).values()
    staff_logs = LogEntry.objects.filter(
        Q(
            content_type__in=[ct for ct in content_types if ct.model == "invoice"],
            object_id=str(invoice.pk),
        )
        | Q(content_type__model="payment", object_id__in=[str(p.pk) for p in payments])
    ).select_related("user")
    for log in staff_logs:
        entries.append(
            TimelineEntry(log.action_time, "staff", f"{log.user}: {log.get_change_message()}")
        )
    for source in INVOICE_TIMELINE_SOURCES:
        entries.extend(source(invoice))
    return sorted(entries, key=lambda entry: entry.at)


def subscription_upcoming_period(
    subscription: Subscription,
) -> tuple[datetime.datetime, datetime.datetime, Plan] | None:
    """``(start, end, plan)`` of the period the next renewal invoice will bill (on the
    scheduled plan when a downgrade takes effect then), or ``None`` when nothing renews:
    not active or trialing, cancelling at the period end, or no current period."""
    from .exceptions import BillingError
    from .models import SubscriptionStatus
    from .services.subscriptions import renewal_period

    if subscription.cancel_at_period_end or subscription.status not in (
        SubscriptionStatus.ACTIVE,
        SubscriptionStatus.TRIALING,
    ):
        return None
    try:
        return renewal_period(subscription)
    except BillingError:
        return None


# --- An invoice's money: what paid it, what went back, what arrived too late ---------------


def invoices_with_refunds(queryset: QuerySet[Invoice]) -> QuerySet[Invoice]:
    """``queryset`` with each invoice's payments and their refunds prefetched (what
    ``invoice_money`` reads): two more queries at most, whatever the number of invoices.
    A queryset that already prefetches ``payments`` keeps its own order for them."""
    return queryset.prefetch_related(
        Prefetch("payments__refunds", queryset=Refund.objects.order_by("created_at", "pk"))
    )


@dataclass(frozen=True)
class RefundEntry:
    """One refund as the invoice shows it. ``destination`` is a ``RefundDestination``
    value, or "" (and ``at`` None) for money refunded before refunds were itemised,
    known only from ``Payment.refunded_amount``."""

    amount: Decimal
    at: datetime.datetime | None
    destination: str
    status: str  # a RefundStatus
    reason: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status == RefundStatus.SUCCEEDED


@dataclass(frozen=True)
class Overpayment:
    """Money that arrived for the invoice when it was already paid or void: it paid
    nothing, and ``returns`` are the refunds that send it back."""

    payment: Payment
    amount: Decimal
    returns: tuple[RefundEntry, ...]


@dataclass(frozen=True)
class InvoiceMoney:
    """What an invoice's money came to. ``paid``: what the payments that paid it
    brought (an overpayment paid nothing); ``refunds``: refunds of those payments
    (an overpayment's return is in ``overpayments``); ``due``: what is still asked
    for, nothing once the invoice is paid or void."""

    currency: str
    total: Decimal
    paid: Decimal
    refunds: tuple[RefundEntry, ...]
    overpayments: tuple[Overpayment, ...]
    due: Decimal

    @property
    def refunded(self) -> Decimal:
        return sum((refund.amount for refund in self.refunds if refund.succeeded), ZERO)

    @property
    def net_paid(self) -> Decimal:
        return self.paid - self.refunded


def _refund_entries(payment: Payment) -> tuple[list[RefundEntry], list[RefundEntry]]:
    """A paid payment's refunds as ``(refunds, returns of an overpayment)``, oldest
    first. All of a payment that paid nothing goes back as a return, whatever kind of
    refund sent it. The part of ``refunded_amount`` no Refund row records (refunded
    before refunds were itemised) is one more entry, so the figures always add up."""
    all_overpaid = payment.overpaid_amount == payment.gross_amount
    refunds: list[RefundEntry] = []
    returns: list[RefundEntry] = []
    for refund in payment.refunds.all():
        entry = RefundEntry(
            amount=refund.amount,
            at=refund.completed_at or refund.created_at,
            destination=refund.destination,
            status=refund.status,
            reason=refund.reason,
        )
        is_return = all_overpaid or refund.kind == RefundKind.OVERPAYMENT
        (returns if is_return else refunds).append(entry)
    recorded = sum((entry.amount for entry in refunds + returns if entry.succeeded), ZERO)
    if payment.refunded_amount > recorded:
        unrecorded = RefundEntry(
            payment.refunded_amount - recorded, None, "", RefundStatus.SUCCEEDED
        )
        (returns if payment.overpaid_amount else refunds).append(unrecorded)
    return refunds, returns


def invoice_money(invoice: Invoice) -> InvoiceMoney:
    """The invoice's money from its paid payments and their refunds, as prefetched by
    ``invoices_with_refunds`` (no queries then)."""
    paid = ZERO
    refunds: list[RefundEntry] = []
    overpayments: list[Overpayment] = []
    payments = sorted(
        (payment for payment in invoice.payments.all() if payment.is_paid),
        key=lambda payment: (payment.created_at, payment.pk),
    )
    for payment in payments:
        paid += payment.gross_amount - payment.overpaid_amount
        payment_refunds, returns = _refund_entries(payment)
        refunds += payment_refunds
        if payment.overpaid_amount:
            overpayments.append(Overpayment(payment, payment.overpaid_amount, tuple(returns)))
    return InvoiceMoney(
        currency=invoice.currency,
        total=invoice.total,
        paid=paid,
        refunds=tuple(refunds),
        overpayments=tuple(overpayments),
        due=max(invoice.total - paid, ZERO) if invoice.is_payable else ZERO,
    )
