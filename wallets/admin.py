"""Wallet admin: balances and ledger rows are read-only; staff move money only through
the adjustment action, which records who did it and why as a new ledger row."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext_lazy

from subscriptions.admin import columns
from subscriptions.admin.billing import InvoiceAdmin, action_with_form, latest_paid_payment
from subscriptions.admin.columns import ListStyles, label
from subscriptions.admin.permissions import permission_check
from subscriptions.models import RefundDestination
from subscriptions.money import format_money
from subscriptions.services import payment_refund

from .models import TopUp, Wallet, WalletTransaction
from .services import wallet_adjust


class AdjustmentForm(forms.Form):
    amount = forms.DecimalField(
        # The ledger's columns hold 12 whole digits (14 with 2 decimals): a longer amount
        # is a field error here, not a numeric overflow (a 500) on PostgreSQL.
        max_digits=12,
        decimal_places=0,
        label=gettext_lazy("Amount"),
        help_text=gettext_lazy("Positive to credit, negative to debit (whole rupiah)."),
    )
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=200,
    )

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError(_("An adjustment cannot be zero."))
        return amount


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class WalletTransactionInline(admin.TabularInline):
    model = WalletTransaction
    fk_name = "wallet"
    extra = 0
    fields = ("created_at", "kind", "amount", "balance_after", "description", "created_by")
    readonly_fields = fields
    can_delete = False
    ordering = ("-created_at", "-pk")
    max_num = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("created_by")[:50]


@admin.register(Wallet)
class WalletAdmin(ListStyles, admin.ModelAdmin):
    # The balance says its currency ("Rp 150.000"): no column of its own.
    list_display = ("customer", "balance_display", "auto_pay", "updated")
    list_filter = ("auto_pay", "currency")
    list_select_related = ("user",)
    search_fields = ("user__email", "user__username")
    readonly_fields = ("user", "currency", "balance", "created_at", "updated_at")
    fields = ("user", "currency", "balance", "auto_pay", "created_at", "updated_at")
    actions = ("adjust_balance",)
    has_adjust_wallet_permission = permission_check("wallets.adjust_wallet")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=gettext_lazy("Balance"), ordering="balance")
    def balance_display(self, obj: Wallet) -> str:
        return obj.balance_display

    @admin.display(description=label(Wallet, "user"), ordering="user__email")
    def customer(self, obj: Wallet) -> str:
        return columns.email(obj.user)

    @admin.display(description=label(Wallet, "updated_at"), ordering="updated_at")
    def updated(self, obj: Wallet) -> str:
        return columns.moment(obj.updated_at)

    @admin.action(
        description=gettext_lazy("Adjust balance (credit or debit, with a reason)"),
        permissions=["adjust_wallet"],
    )
    def adjust_balance(self, request, queryset):
        return action_with_form(
            self,
            request,
            queryset,
            title=_("Adjust wallet balance"),
            action_name="adjust_balance",
            form_class=AdjustmentForm,
            operation=lambda wallet, data: wallet_adjust(
                wallet=wallet,
                amount=data["amount"],
                reason=data["reason"],
                created_by=request.user,
            ),
            done=ngettext_lazy(
                "%(count)d wallet adjusted.", "%(count)d wallets adjusted.", "count"
            ),
            logged=gettext_lazy("Wallet adjusted"),
        )


@admin.register(WalletTransaction)
class WalletTransactionAdmin(ListStyles, ReadOnlyAdmin):
    list_display = (
        "created",
        "owner",
        "kind",
        "amount_display",
        "balance_after_display",
        "description_text",
    )
    list_filter = ("kind",)
    list_select_related = ("wallet__user",)
    search_fields = ("wallet__user__email", "idempotency_key", "description")
    date_hierarchy = "created_at"

    @admin.display(description=label(WalletTransaction, "created_at"), ordering="created_at")
    def created(self, obj: WalletTransaction) -> str:
        return columns.moment(obj.created_at)

    @admin.display(description=label(WalletTransaction, "wallet"), ordering="wallet__user__email")
    def owner(self, obj: WalletTransaction) -> str:
        return columns.email(obj.wallet.user)

    @admin.display(description=label(WalletTransaction, "amount"), ordering="amount")
    def amount_display(self, obj: WalletTransaction) -> str:
        return format_money(obj.amount, obj.wallet.currency)

    @admin.display(description=label(WalletTransaction, "balance_after"))
    def balance_after_display(self, obj: WalletTransaction) -> str:
        return format_money(obj.balance_after, obj.wallet.currency)

    @admin.display(description=label(WalletTransaction, "description"))
    def description_text(self, obj: WalletTransaction) -> str:
        return columns.numbers_whole(obj.description)


@admin.register(TopUp)
class TopUpAdmin(ListStyles, ReadOnlyAdmin):
    list_display = ("order_id", "customer", "amount_display", "status", "created", "completed")
    list_filter = ("status",)
    list_select_related = ("user", "wallet")
    search_fields = ("order_id", "user__email")
    date_hierarchy = "created_at"

    @admin.display(description=label(TopUp, "user"), ordering="user__email")
    def customer(self, obj: TopUp) -> str:
        return columns.email(obj.user)

    @admin.display(description=label(TopUp, "amount"), ordering="amount")
    def amount_display(self, obj: TopUp) -> str:
        return format_money(obj.amount, obj.wallet.currency)

    @admin.display(description=label(TopUp, "created_at"), ordering="created_at")
    def created(self, obj: TopUp) -> str:
        return columns.moment(obj.created_at)

    @admin.display(description=label(TopUp, "completed_at"), ordering="completed_at")
    def completed(self, obj: TopUp) -> str:
        return columns.moment(obj.completed_at)


class WalletRefundForm(forms.Form):
    amount = forms.DecimalField(
        label=gettext_lazy("Amount"),
        required=False,
        min_value=1,
        decimal_places=0,
        help_text=gettext_lazy("Leave empty to refund everything not yet refunded."),
    )
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=200,
    )


# InvoiceAdmin.has_refund_payment_permission: the same permission as a gateway refund.
@admin.action(
    description=gettext_lazy("Refund to the customer's wallet (with a reason)"),
    permissions=["refund_payment"],
)
def refund_to_wallet(modeladmin, request, queryset):
    return action_with_form(
        modeladmin,
        request,
        queryset,
        title=_("Refund to the customer's wallet"),
        action_name="refund_to_wallet",
        form_class=WalletRefundForm,
        operation=lambda invoice, data: payment_refund(
            payment=latest_paid_payment(invoice),
            amount=data["amount"],
            reason=data["reason"],
            destination=RefundDestination.WALLET,
            created_by=request.user,
        ),
        done=ngettext_lazy(
            "%(count)d invoice refunded to the wallet.",
            "%(count)d invoices refunded to the wallet.",
            "count",
        ),
        logged=gettext_lazy("Invoice refunded to the wallet"),
    )


# The wallet extends the billing admin (billing never imports the wallet).
InvoiceAdmin.actions = (*InvoiceAdmin.actions, refund_to_wallet)
