"""Admin for plans, subscriptions and invoices.

Lifecycle fields are read-only here; staff change them through actions that call the
services, one row at a time, so every change is checked by the state machine and
sends its signals exactly as it would from the portal.
"""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from .. import services
from ..exceptions import BillingError
from ..models import Invoice, InvoiceLine, Plan, Subscription


def run_service_action(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    operation: Callable,
    done: str,
) -> None:
    """Apply ``operation(obj)`` to each selected row; report successes and refusals."""
    succeeded = 0
    for obj in queryset.order_by("pk"):
        try:
            operation(obj)
        except BillingError as error:
            modeladmin.message_user(request, f"{obj}: {error}", messages.ERROR)
        else:
            succeeded += 1
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
        run_service_action(modeladmin, request, queryset, lambda obj: operation(obj, data), done)
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

    def get_readonly_fields(self, request, obj=None):
        # The plan and user are chosen once; later changes go through the services.
        return (*LIFECYCLE_FIELDS, "user", "plan", "payment_type") if obj else LIFECYCLE_FIELDS

    def has_add_permission(self, request):
        # Subscriptions start through subscription_create (trial, first invoice).
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Pause selected subscriptions now")
    def pause_now(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda obj: services.subscription_pause(subscription=obj),
            "subscription(s) paused",
        )

    @admin.action(description="Resume selected subscriptions")
    def resume_now(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda obj: services.subscription_resume(subscription=obj),
            "subscription(s) resumed",
        )

    @admin.action(description="Cancel at period end (with a reason)")
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

    @admin.action(description="Cancel now (with a reason)")
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

    @admin.action(description="Undo a scheduled cancellation")
    def undo_cancel(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda obj: services.subscription_undo_cancel(subscription=obj),
            "cancellation(s) undone",
        )

    @admin.action(description="Expire selected subscriptions")
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


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = (
        "number",
        "user",
        "status",
        "reason",
        "total_display",
        "issued_at",
        "due_date",
        "paid_at",
    )
    list_filter = ("status", "reason", "currency")
    list_select_related = ("user",)
    search_fields = ("number", "user__email", "payments__order_id")
    date_hierarchy = "issued_at"
    inlines = (InvoiceLineInline,)
    readonly_fields = [field.name for field in Invoice._meta.fields]
    actions = ("void_invoices", "mark_overdue", "mark_uncollectible")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Total", ordering="total")
    def total_display(self, obj: Invoice) -> str:
        return obj.total_display

    @admin.action(description="Void selected invoices (with a reason)")
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

    @admin.action(description="Mark selected invoices overdue")
    def mark_overdue(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda obj: services.invoice_mark_overdue(invoice=obj),
            "invoice(s) marked overdue",
        )

    @admin.action(description="Mark selected invoices uncollectible")
    def mark_uncollectible(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda obj: services.invoice_mark_uncollectible(invoice=obj),
            "invoice(s) marked uncollectible",
        )
