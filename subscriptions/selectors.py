"""Reads that return QuerySets with what their pages need joined in, so every page runs
a constant number of queries whatever the data size."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from .models import Invoice, InvoiceLine, Payment, Plan, Subscription


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
