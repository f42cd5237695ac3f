"""Admin for plans, subscriptions and invoices.

Lifecycle fields are read-only here; staff change them through actions that call the
services, one row at a time, so every change is checked by the state machine and
sends its signals exactly as it would from the portal.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone

from .. import services
from ..collectors import collect_invoice
from ..exceptions import BillingError, InvoiceNotPayable
from ..models import (
    PAYABLE_INVOICE_STATUSES,
    Invoice,
    InvoiceLine,
    OverdueInvoice,
    Payment,
    Plan,
    Subscription,
)
from ..selectors import invoice_timeline, invoice_totals_by_status
from .permissions import permission_check


def run_service_action(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    operation: Callable,
    done: str,
    why: str = "",
) -> None:
    """Apply ``operation(obj)`` to each selected row; report successes and refusals, and
    record each success in the admin log with who did it and why."""
    succeeded = 0
    for obj in queryset.order_by("pk"):
        try:
            operation(obj)
        except BillingError as error:
            modeladmin.message_user(request, f"{obj}: {error}", messages.ERROR)
        else:
            succeeded += 1
            modeladmin.log_change(request, obj, f"{done.capitalize()}. {why}".strip())
    if succeeded:
        modeladmin.message_user(request, f"{succeeded} {done}.", messages.SUCCESS)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=1000,
        help_text="Recorded with the change.",
    )


def action_with_form(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    title: str,
    action_name: str,
    operation: Callable,
    done: str,
    form_class: type[forms.Form] = ReasonForm,
):
    """An admin action that first asks for details (by default a mandatory reason) on an
    intermediate page, then runs ``operation(obj, cleaned_data)`` on each row."""
    form = form_class(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        data = form.cleaned_data
        why = "; ".join(f"{key}: {value}" for key, value in data.items() if value not in ("", None))
        run_service_action(
            modeladmin, request, queryset, lambda obj: operation(obj, data), done, why
        )
        return None
    return TemplateResponse(
        request,
        "admin/subscriptions/action_reason.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "objects": queryset,
            "form": form,
            "action_name": action_name,
            "opts": modeladmin.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        },
    )


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "slug",
        "price_display",
        "interval_display",
        "trial_period_days",
        "is_active",
        "sort_order",
    )
    list_filter = ("is_active", "interval_unit", "currency")
    list_editable = ("is_active", "sort_order")
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}

    @admin.display(description="Price", ordering="price")
    def price_display(self, obj: Plan) -> str:
        return obj.price_display

    @admin.display(description="Every")
    def interval_display(self, obj: Plan) -> str:
        return obj.interval_display


LIFECYCLE_FIELDS = (
    "status",
    "current_period_start",
    "current_period_end",
    "billing_anchor",
    "trial_end",
    "cancel_at_period_end",
    "cancelled_at",
    "cancellation_reason",
    "paused_at",
    "resume_at",
    "scheduled_plan",
    "scheduled_change_at",
    "ended_at",
    "created_at",
    "updated_at",
)


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "user",
        "plan",
        "status",
        "current_period_end",
        "cancel_at_period_end",
        "scheduled_plan",
        "created_at",
    )
    list_filter = ("status", "cancel_at_period_end", "plan")
    list_select_related = ("user", "plan", "scheduled_plan")
    search_fields = ("user__email", "user__username", "plan__name")
    raw_id_fields = ("user",)
    date_hierarchy = "created_at"
    actions = (
        "pause_now",
        "resume_now",
        "cancel_at_period_end_action",
        "cancel_now",
        "undo_cancel",
        "expire_now",
    )

    has_manage_subscription_permission = permission_check("subscriptions.manage_subscription")

    def get_readonly_fields(self, request, obj=None):
        # The plan and user are chosen once; later changes go through the services.
        return (*LIFECYCLE_FIELDS, "user", "plan", "payment_type") if obj else LIFECYCLE_FIELDS

    def has_add_permission(self, request):
        # Subscriptions start through subscription_create (trial, first invoice).
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(
        description="Pause selected subscriptions now", permissions=["manage_subscription"]
    )
    def pause_now(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda obj: services.subscription_pause(subscription=obj),
            "subscription(s) paused",
        )

    @admin.action(description="Resume selected subscriptions", permissions=["manage_subscription"])
    def resume_now(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda obj: services.subscription_resume(subscription=obj),
            "subscription(s) resumed",
        )

    @admin.action(
        description="Cancel at period end (with a reason)", permissions=["manage_subscription"]
    )
    def cancel_at_period_end_action(self, request, queryset):
        return action_with_form(
            self,
            request,
            queryset,
            title="Cancel at the period end",
            action_name="cancel_at_period_end_action",
            operation=lambda obj, data: services.subscription_cancel(
                subscription=obj, at_period_end=True, reason=data["reason"]
            ),
            done="subscription(s) set to cancel at the period end",
        )

    @admin.action(description="Cancel now (with a reason)", permissions=["manage_subscription"])
    def cancel_now(self, request, queryset):
        return action_with_form(
            self,
            request,
            queryset,
            title="Cancel now",
            action_name="cancel_now",
            operation=lambda obj, data: services.subscription_cancel(
                subscription=obj, at_period_end=False, reason=data["reason"]
            ),
            done="subscription(s) cancelled",
        )

    @admin.action(description="Undo a scheduled cancellation", permissions=["manage_subscription"])
    def undo_cancel(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda obj: services.subscription_undo_cancel(subscription=obj),
            "cancellation(s) undone",
        )

    @admin.action(description="Expire selected subscriptions", permissions=["manage_subscription"])
    def expire_now(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda obj: services.subscription_expire(subscription=obj),
            "subscription(s) expired",
        )


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    extra = 0
    can_delete = False
    fields = ("description", "quantity", "unit_amount", "amount", "is_proration")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class OverdueFilter(admin.SimpleListFilter):
    title = "overdue"
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return (("yes", "Past due date, unpaid"), ("no", "Not overdue"))

    def queryset(self, request, queryset):
        overdue = Q(status__in=PAYABLE_INVOICE_STATUSES, due_date__lt=timezone.now())
        if self.value() == "yes":
            return queryset.filter(overdue)
        if self.value() == "no":
            return queryset.exclude(overdue)
        return queryset


class PaymentInline(admin.TabularInline):
    model = Payment
    fk_name = "invoice"
    extra = 0
    can_delete = False
    fields = (
        "order_id",
        "gateway",
        "payment_type",
        "status",
        "gross_amount",
        "refunded_amount",
        "created_at",
    )
    readonly_fields = fields
    show_change_link = True
    ordering = ("-created_at",)

    def has_add_permission(self, request, obj=None):
        return False


class MarkPaidOfflineForm(forms.Form):
    reference = forms.CharField(
        max_length=64, help_text="Bank transfer id, receipt number: recorded on the payment."
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 60}), max_length=500)


class InvoiceRefundForm(forms.Form):
    amount = forms.DecimalField(
        required=False,
        min_value=Decimal("1"),
        decimal_places=2,
        help_text="Leave empty to refund everything not yet refunded.",
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=255)


def latest_paid_payment(invoice: Invoice) -> Payment:
    # The payment that paid it (an overpayment is returned on its own).
    payment = (
        invoice.payments.filter(is_paid=True, overpaid_amount=0).order_by("-paid_at", "-pk").first()
    )
    if payment is None:
        raise BillingError("This invoice has no paid payment to refund.")
    return payment


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = (
        "number",
        "user",
        "status",
        "reason",
        "plan",
        "total_display",
        "issued_at",
        "due_date",
        "paid_at",
    )
    list_filter = (
        "status",
        OverdueFilter,
        ("period_start", admin.DateFieldListFilter),
        "plan",
        "reason",
        "currency",
    )
    list_select_related = ("user", "plan")
    search_fields = ("number", "user__email", "payments__order_id")
    date_hierarchy = "issued_at"
    inlines = (InvoiceLineInline, PaymentInline)
    readonly_fields = [field.name for field in Invoice._meta.fields]
    change_list_template = "admin/subscriptions/invoice/change_list.html"
    change_form_template = "admin/subscriptions/invoice/change_form.html"
    actions = (
        "void_invoices",
        "mark_paid_offline",
        "retry_collection",
        "refund_through_gateway",
        "mark_overdue",
        "mark_uncollectible",
    )
    # What each action needs (``permissions=[...]`` below); the wallet's refund_to_wallet
    # and the portal's resend_invoice_email, appended to ``actions``, use these too.
    has_void_invoice_permission = permission_check("subscriptions.void_invoice")
    has_mark_invoice_paid_offline_permission = permission_check(
        "subscriptions.mark_invoice_paid_offline"
    )
    has_collect_invoice_permission = permission_check("subscriptions.collect_invoice")
    has_refund_payment_permission = permission_check("subscriptions.refund_payment")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Total", ordering="total")
    def total_display(self, obj: Invoice) -> str:
        return obj.total_display

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            response.context_data["status_totals"] = invoice_totals_by_status(changelist.queryset)
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        invoice = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if invoice is not None:
            extra_context["timeline"] = invoice_timeline(invoice)
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(
        description="Void selected invoices (with a reason)", permissions=["void_invoice"]
    )
    def void_invoices(self, request, queryset):
        return action_with_form(
            self,
            request,
            queryset,
            title="Void invoices",
            action_name="void_invoices",
            operation=lambda obj, data: services.invoice_void(invoice=obj, reason=data["reason"]),
            done="invoice(s) voided",
        )

    @admin.action(
        description="Mark paid offline (with a reference)",
        permissions=["mark_invoice_paid_offline"],
    )
    def mark_paid_offline(self, request, queryset):
        return action_with_form(
            self,
            request,
            queryset,
            title="Mark invoices paid outside the gateway",
            action_name="mark_paid_offline",
            form_class=MarkPaidOfflineForm,
            operation=lambda obj, data: services.invoice_mark_paid_offline(
                invoice=obj, reference=data["reference"]
            ),
            done="invoice(s) marked paid",
        )

    @admin.action(
        description="Retry collection (wallet auto-pay and other collectors)",
        permissions=["collect_invoice"],
    )
    def retry_collection(self, request, queryset):
        def collect(invoice):
            if not invoice.is_payable:
                raise InvoiceNotPayable(f"it is {invoice.get_status_display().lower()}")
            if collect_invoice(invoice) is None:
                raise BillingError("no automatic payment method could pay it")

        run_service_action(self, request, queryset, collect, "invoice(s) collected")

    @admin.action(
        description="Refund through the payment gateway (with a reason)",
        permissions=["refund_payment"],
    )
    def refund_through_gateway(self, request, queryset):
        return action_with_form(
            self,
            request,
            queryset,
            title="Refund through the payment gateway",
            action_name="refund_through_gateway",
            form_class=InvoiceRefundForm,
            operation=lambda obj, data: services.payment_refund(
                payment=latest_paid_payment(obj),
                amount=data["amount"],
                reason=data["reason"],
                created_by=request.user,
            ),
            done="invoice(s) refunded",
        )

    @admin.action(description="Mark selected invoices overdue", permissions=["collect_invoice"])
    def mark_overdue(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda obj: services.invoice_mark_overdue(invoice=obj),
            "invoice(s) marked overdue",
        )

    @admin.action(
        description="Mark selected invoices uncollectible", permissions=["collect_invoice"]
    )
    def mark_uncollectible(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda obj: services.invoice_mark_uncollectible(invoice=obj),
            "invoice(s) marked uncollectible",
        )


@admin.register(OverdueInvoice)
class OverdueInvoiceAdmin(InvoiceAdmin):
    """The queue staff work through: unpaid invoices past their due date, oldest first."""

    list_display = ("number", "user", "status", "total_display", "due_date", "days_overdue")
    ordering = ("due_date", "pk")
    date_hierarchy = None

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(status__in=PAYABLE_INVOICE_STATUSES, due_date__lt=timezone.now())
        )

    @admin.display(description="Days overdue", ordering="due_date")
    def days_overdue(self, obj: Invoice) -> int:
        return (timezone.now() - obj.due_date).days
