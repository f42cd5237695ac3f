"""Admin for refunds and the "overpaid / returned" list (read-only).

A refund is recorded by the settlement before the gateway is asked, so every one in
flight, failed or done is here; staff start refunds from the payment or invoice actions
and can send a refund in flight again (same refund key: Midtrans refunds it once).
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from .. import services
from ..models import OverpaidPayment, Refund, RefundStatus
from .billing import run_service_action
from .permissions import permission_check


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Refund)
class RefundAdmin(ReadOnly):
    list_display = (
        "created_at",
        "payment",
        "amount_display",
        "destination",
        "kind",
        "status",
        "shortfall",
        "completed_at",
        "created_by",
    )
    list_filter = ("status", "destination", "kind")
    list_select_related = ("payment", "created_by")
    search_fields = ("payment__order_id", "refund_key", "payment__user__email", "reason")
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in Refund._meta.fields]
    actions = ("send_again",)
    has_refund_payment_permission = permission_check("subscriptions.refund_payment")

    @admin.display(description="Amount", ordering="amount")
    def amount_display(self, obj: Refund) -> str:
        return obj.amount_display

    @admin.action(
        description="Send refunds in flight to the gateway again", permissions=["refund_payment"]
    )
    def send_again(self, request: HttpRequest, queryset: QuerySet) -> None:
        run_service_action(
            self,
            request,
            queryset.filter(status=RefundStatus.PENDING),
            lambda obj: services.refund_send(refund=obj),
            "refund(s) sent again",
        )


@admin.register(OverpaidPayment)
class OverpaidPaymentAdmin(ReadOnly):
    """Money that arrived for an invoice already paid or void, and where it went."""

    list_display = (
        "order_id",
        "user",
        "invoice",
        "overpaid_amount",
        "refunded_amount",
        "returned",
        "payment_type",
        "paid_at",
    )
    list_select_related = ("user", "invoice")
    search_fields = ("order_id", "user__email", "invoice__number")
    readonly_fields = [field.name for field in OverpaidPayment._meta.fields]
    exclude = ("gateway_response",)

    def get_queryset(self, request):
        return super().get_queryset(request).filter(overpaid_amount__gt=0)

    @admin.display(description="Returned", boolean=True)
    def returned(self, obj: OverpaidPayment) -> bool:
        return obj.refunded_amount >= obj.overpaid_amount
