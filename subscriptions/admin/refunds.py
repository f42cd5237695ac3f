"""Admin for refunds and the "overpaid / returned" list (read-only).

A refund is recorded by the settlement before the gateway is asked, so every one in
flight, failed or done is here; staff start refunds from the payment or invoice actions,
and the billing run sends a refund still in flight again (same refund key: Midtrans
refunds it once).
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..models import OverpaidPayment, Refund
from ..money import format_money
from . import columns
from .columns import ListStyles, label


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Refund)
class RefundAdmin(ListStyles, ReadOnly):
    # Seven columns that fit a laptop: a shortfall under the amount, the kind of refund
    # under where the money went.
    list_display = (
        "created",
        "payment_link",
        "amount_display",
        "destination_kind",
        "status",
        "completed",
        "created_by",
    )
    list_filter = ("status", "destination", "kind")
    list_select_related = ("payment", "created_by")
    search_fields = ("payment__order_id", "refund_key", "payment__user__email", "reason")
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in Refund._meta.fields]

    @admin.display(description=gettext_lazy("Amount"), ordering="amount")
    def amount_display(self, obj: Refund) -> str:
        short = ""
        if obj.shortfall:
            # Translators: under a wallet top-up's refund in the admin's list: the part
            # the wallet could not give back.
            short = _("shortfall %(amount)s") % {
                "amount": format_money(obj.shortfall, obj.currency)
            }
        return columns.with_note(columns.one_line(obj.amount_display), short)

    @admin.display(description=label(Refund, "created_at"), ordering="created_at")
    def created(self, obj: Refund) -> str:
        return columns.moment(obj.created_at)

    @admin.display(description=label(Refund, "payment"), ordering="payment__order_id")
    def payment_link(self, obj: Refund) -> str:
        return columns.admin_link(obj.payment, obj.payment.order_id)

    @admin.display(description=label(Refund, "destination"), ordering="destination")
    def destination_kind(self, obj: Refund) -> str:
        return columns.with_note(obj.get_destination_display(), obj.get_kind_display())

    @admin.display(description=label(Refund, "completed_at"), ordering="completed_at")
    def completed(self, obj: Refund) -> str:
        return columns.moment(obj.completed_at)


@admin.register(OverpaidPayment)
class OverpaidPaymentAdmin(ListStyles, ReadOnly):
    """Money that arrived for an invoice already paid or void, and where it went."""

    list_display = (
        "order_id",
        "customer",
        "invoice_link",
        "overpaid_display",
        "refunded_display",
        "returned",
        "payment_type",
        "paid",
    )
    list_select_related = ("user", "invoice")
    search_fields = ("order_id", "user__email", "invoice__number")
    readonly_fields = [field.name for field in OverpaidPayment._meta.fields]
    exclude = ("gateway_response",)

    def get_queryset(self, request):
        return super().get_queryset(request).filter(overpaid_amount__gt=0)

    @admin.display(description=label(OverpaidPayment, "user"), ordering="user__email")
    def customer(self, obj: OverpaidPayment) -> str:
        return columns.email(obj.user)

    @admin.display(description=label(OverpaidPayment, "invoice"), ordering="invoice__number")
    def invoice_link(self, obj: OverpaidPayment) -> str:
        return columns.admin_link(obj.invoice)

    @admin.display(
        description=label(OverpaidPayment, "overpaid_amount"), ordering="overpaid_amount"
    )
    def overpaid_display(self, obj: OverpaidPayment) -> str:
        return format_money(obj.overpaid_amount, obj.currency)

    @admin.display(
        description=label(OverpaidPayment, "refunded_amount"), ordering="refunded_amount"
    )
    def refunded_display(self, obj: OverpaidPayment) -> str:
        return format_money(obj.refunded_amount, obj.currency)

    @admin.display(description=label(OverpaidPayment, "paid_at"), ordering="paid_at")
    def paid(self, obj: OverpaidPayment) -> str:
        return columns.moment(obj.paid_at)

    @admin.display(description=gettext_lazy("Returned"), boolean=True)
    def returned(self, obj: OverpaidPayment) -> bool:
        return obj.refunded_amount >= obj.overpaid_amount
