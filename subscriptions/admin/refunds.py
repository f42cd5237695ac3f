"""Admin for refunds and the "overpaid / returned" list (read-only).

A refund is recorded by the settlement before the gateway is asked, so every one in
flight, failed or done is here; staff start refunds from the payment or invoice actions,
and the billing run sends a refund still in flight again (same refund key: Midtrans
refunds it once).
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy

from ..models import OverpaidPayment, Refund


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

    @admin.display(description=gettext_lazy("Amount"), ordering="amount")
    def amount_display(self, obj: Refund) -> str:
        return obj.amount_display


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

    @admin.display(description=gettext_lazy("Returned"), boolean=True)
    def returned(self, obj: OverpaidPayment) -> bool:
        return obj.refunded_amount >= obj.overpaid_amount
