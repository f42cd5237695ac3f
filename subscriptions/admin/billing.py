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
from django.utils.functional import Promise
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext_lazy

from .. import services
from ..collectors import collect_invoice
from ..exceptions import BillingError, InvoiceNotPayable
from ..models import (
    PAYABLE_INVOICE_STATUSES,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    OverdueInvoice,
    Payment,
    Plan,
    Subscription,
)
from ..selectors import invoice_timeline, invoice_totals_by_status
from . import columns
from .columns import ListStyles, label
from .permissions import permission_check


def run_service_action(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    operation: Callable,
    *,
    done: Promise,
    logged: Promise,
    why: str = "",
) -> None:
    """Apply ``operation(obj)`` to each selected row; report successes and refusals, and
    record each success in the admin log with who did it and why.

    ``done``: the report, an ``ngettext_lazy(..., "count")`` ("%(count)d invoices
    voided."); ``logged``: what the admin log says of one row ("Invoice voided")."""
    succeeded = 0
    for obj in queryset.order_by("pk"):
        try:
            operation(obj)
        except BillingError as error:
            modeladmin.message_user(request, f"{obj}: {error}", messages.ERROR)
        else:
            succeeded += 1
            modeladmin.log_change(request, obj, f"{logged}. {why}".strip())
    if succeeded:
        modeladmin.message_user(request, done % {"count": succeeded}, messages.SUCCESS)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=1000,
        help_text=gettext_lazy("Recorded with the change."),
    )


def action_with_form(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    title: str,
    action_name: str,
    operation: Callable,
    done: Promise,
    logged: Promise,
    form_class: type[forms.Form] = ReasonForm,
):
    """An admin action that first asks for details (by default a mandatory reason) on an
    intermediate page, then runs ``operation(obj, cleaned_data)`` on each row. The admin
    log records each detail under its field's label ("reason: Duplicate order")."""
    form = form_class(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        data = form.cleaned_data
        why = "; ".join(
            f"{str(form[key].label).lower()}: {value}"
            for key, value in data.items()
            if value not in ("", None)
        )
        run_service_action(
            modeladmin,
            request,
            queryset,
            lambda obj: operation(obj, data),
            done=done,
            logged=logged,
            why=why,
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

    @admin.display(description=gettext_lazy("Price"), ordering="price")
    def price_display(self, obj: Plan) -> str:
        return obj.price_display

    # Translators: column header of the plan's billing interval ("month", "3 months").
    @admin.display(description=gettext_lazy("Every"))
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
class SubscriptionAdmin(ListStyles, admin.ModelAdmin):
    # What happens at the period end (a cancellation, a plan change) under the status;
    # the plan by its name, its price and interval under it.
    list_display = ("id", "customer", "plan_price", "status_next", "period_end", "created")
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

    @admin.display(description=label(Subscription, "user"), ordering="user__email")
    def customer(self, obj: Subscription) -> str:
        return columns.email(obj.user)

    @admin.display(description=label(Subscription, "plan"), ordering="plan__name")
    def plan_price(self, obj: Subscription) -> str:
        price = f"{obj.plan.price_display} / {obj.plan.interval_display}"
        return columns.with_note(obj.plan.name, price)

    @admin.display(description=label(Subscription, "status"), ordering="status")
    def status_next(self, obj: Subscription) -> str:
        if obj.cancel_at_period_end:
            # Translators: under a subscription's status in the admin's list.
            upcoming = _("Cancels at the period end")
        elif obj.scheduled_plan_id:
            # Translators: under a subscription's status in the admin's list: the plan it
            # moves to at the period end.
            upcoming = _("Then %(plan)s") % {"plan": obj.scheduled_plan.name}
        else:
            upcoming = ""
        return columns.with_note(obj.get_status_display(), upcoming)

    @admin.display(
        description=label(Subscription, "current_period_end"), ordering="current_period_end"
    )
    def period_end(self, obj: Subscription) -> str:
        return columns.day(obj.current_period_end)

    @admin.display(description=label(Subscription, "created_at"), ordering="created_at")
    def created(self, obj: Subscription) -> str:
        return columns.day(obj.created_at)

    def get_readonly_fields(self, request, obj=None):
        # The plan and user are chosen once; later changes go through the services.
        return (*LIFECYCLE_FIELDS, "user", "plan", "payment_type") if obj else LIFECYCLE_FIELDS

    def has_add_permission(self, request):
        # Subscriptions start through subscription_create (trial, first invoice).
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(
        description=gettext_lazy("Pause selected subscriptions now"),
        permissions=["manage_subscription"],
    )
    def pause_now(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda obj: services.subscription_pause(subscription=obj),
            done=ngettext_lazy(
                "%(count)d subscription paused.", "%(count)d subscriptions paused.", "count"
            ),
            logged=gettext_lazy("Subscription paused"),
        )

    @admin.action(
        description=gettext_lazy("Resume selected subscriptions"),
        permissions=["manage_subscription"],
    )
    def resume_now(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda obj: services.subscription_resume(subscription=obj),
            done=ngettext_lazy(
                "%(count)d subscription resumed.", "%(count)d subscriptions resumed.", "count"
            ),
            logged=gettext_lazy("Subscription resumed"),
        )

    @admin.action(
        description=gettext_lazy("Cancel at period end (with a reason)"),
        permissions=["manage_subscription"],
    )
    def cancel_at_period_end_action(self, request, queryset):
        return action_with_form(
            self,
            request,
            queryset,
            title=_("Cancel at the period end"),
            action_name="cancel_at_period_end_action",
            operation=lambda obj, data: services.subscription_cancel(
                subscription=obj, at_period_end=True, reason=data["reason"]
            ),
            done=ngettext_lazy(
                "%(count)d subscription set to cancel at the period end.",
                "%(count)d subscriptions set to cancel at the period end.",
                "count",
            ),
            logged=gettext_lazy("Subscription set to cancel at the period end"),
        )

    @admin.action(
        description=gettext_lazy("Cancel now (with a reason)"),
        permissions=["manage_subscription"],
    )
    def cancel_now(self, request, queryset):
        return action_with_form(
            self,
            request,
            queryset,
            title=_("Cancel now"),
            action_name="cancel_now",
            operation=lambda obj, data: services.subscription_cancel(
                subscription=obj, at_period_end=False, reason=data["reason"]
            ),
            done=ngettext_lazy(
                "%(count)d subscription cancelled.", "%(count)d subscriptions cancelled.", "count"
            ),
            logged=gettext_lazy("Subscription cancelled"),
        )

    @admin.action(
        description=gettext_lazy("Undo a scheduled cancellation"),
        permissions=["manage_subscription"],
    )
    def undo_cancel(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda obj: services.subscription_undo_cancel(subscription=obj),
            done=ngettext_lazy(
                "%(count)d cancellation undone.", "%(count)d cancellations undone.", "count"
            ),
            logged=gettext_lazy("Cancellation undone"),
        )

    @admin.action(
        description=gettext_lazy("Expire selected subscriptions"),
        permissions=["manage_subscription"],
    )
    def expire_now(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda obj: services.subscription_expire(subscription=obj),
            done=ngettext_lazy(
                "%(count)d subscription expired.", "%(count)d subscriptions expired.", "count"
            ),
            logged=gettext_lazy("Subscription expired"),
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
    title = gettext_lazy("overdue")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return (("yes", _("Past due date, unpaid")), ("no", _("Not overdue")))

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
        label=gettext_lazy("Reference"),
        max_length=64,
        help_text=gettext_lazy("Bank transfer id, receipt number: recorded on the payment."),
    )
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        max_length=500,
    )


class InvoiceRefundForm(forms.Form):
    amount = forms.DecimalField(
        label=gettext_lazy("Amount"),
        required=False,
        min_value=Decimal("1"),
        decimal_places=2,
        help_text=gettext_lazy("Leave empty to refund everything not yet refunded."),
    )
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=255,
    )


def latest_paid_payment(invoice: Invoice) -> Payment:
    # The payment that paid it (an overpayment is returned on its own).
    payment = (
        invoice.payments.filter(is_paid=True, overpaid_amount=0).order_by("-paid_at", "-pk").first()
    )
    if payment is None:
        raise BillingError(_("This invoice has no paid payment to refund."))
    return payment


@admin.register(Invoice)
class InvoiceAdmin(ListStyles, admin.ModelAdmin):
    # Seven columns that fit a laptop: the plan under the invoice's purpose, the day it
    # was paid or voided under its status, dates without their time.
    list_display = (
        "number",
        "customer",
        "status_on",
        "purpose",
        "total_display",
        "issued",
        "due",
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

    @admin.display(description=gettext_lazy("Total"), ordering="total")
    def total_display(self, obj: Invoice) -> str:
        return obj.total_display

    @admin.display(description=label(Invoice, "user"), ordering="user__email")
    def customer(self, obj: Invoice) -> str:
        return columns.email(obj.user)

    @admin.display(description=label(Invoice, "status"), ordering="status")
    def status_on(self, obj: Invoice) -> str:
        when = {InvoiceStatus.PAID: obj.paid_at, InvoiceStatus.VOID: obj.voided_at}
        moment = when.get(obj.status)
        return columns.with_note(obj.get_status_display(), columns.day(moment) if moment else "")

    @admin.display(description=label(Invoice, "reason"), ordering="reason")
    def purpose(self, obj: Invoice) -> str:
        return columns.with_note(obj.get_reason_display(), obj.plan.name if obj.plan else "")

    @admin.display(description=label(Invoice, "issued_at"), ordering="issued_at")
    def issued(self, obj: Invoice) -> str:
        return columns.day(obj.issued_at)

    @admin.display(description=label(Invoice, "due_date"), ordering="due_date")
    def due(self, obj: Invoice) -> str:
        shown = columns.day(obj.due_date)
        if obj.due_date and obj.is_past_due:
            return format_html('<span class="overdue">{}</span>', shown)
        return shown

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            totals = invoice_totals_by_status(changelist.queryset)
            for row in totals:
                row["label"] = dict(InvoiceStatus.choices).get(row["status"], row["status"])
            response.context_data["status_totals"] = totals
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        invoice = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if invoice is not None:
            extra_context["timeline"] = invoice_timeline(invoice)
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(
        description=gettext_lazy("Void selected invoices (with a reason)"),
        permissions=["void_invoice"],
    )
    def void_invoices(self, request, queryset):
        return action_with_form(
            self,
            request,
            queryset,
            title=_("Void invoices"),
            action_name="void_invoices",
            operation=lambda obj, data: services.invoice_void(invoice=obj, reason=data["reason"]),
            done=ngettext_lazy("%(count)d invoice voided.", "%(count)d invoices voided.", "count"),
            logged=gettext_lazy("Invoice voided"),
        )

    @admin.action(
        description=gettext_lazy("Mark paid offline (with a reference)"),
        permissions=["mark_invoice_paid_offline"],
    )
    def mark_paid_offline(self, request, queryset):
        return action_with_form(
            self,
            request,
            queryset,
            title=_("Mark invoices paid outside the gateway"),
            action_name="mark_paid_offline",
            form_class=MarkPaidOfflineForm,
            operation=lambda obj, data: services.invoice_mark_paid_offline(
                invoice=obj, reference=data["reference"]
            ),
            done=ngettext_lazy(
                "%(count)d invoice marked paid.", "%(count)d invoices marked paid.", "count"
            ),
            logged=gettext_lazy("Invoice marked paid"),
        )

    @admin.action(
        description=gettext_lazy("Retry collection (wallet auto-pay and other collectors)"),
        permissions=["collect_invoice"],
    )
    def retry_collection(self, request, queryset):
        def collect(invoice):
            if not invoice.is_payable:
                raise InvoiceNotPayable(
                    _("it is %(status)s") % {"status": str(invoice.get_status_display()).lower()}
                )
            if collect_invoice(invoice) is None:
                raise BillingError(_("no automatic payment method could pay it"))

        run_service_action(
            self,
            request,
            queryset,
            collect,
            done=ngettext_lazy(
                "%(count)d invoice collected.", "%(count)d invoices collected.", "count"
            ),
            logged=gettext_lazy("Invoice collected"),
        )

    @admin.action(
        description=gettext_lazy("Refund through the payment gateway (with a reason)"),
        permissions=["refund_payment"],
    )
    def refund_through_gateway(self, request, queryset):
        return action_with_form(
            self,
            request,
            queryset,
            title=_("Refund through the payment gateway"),
            action_name="refund_through_gateway",
            form_class=InvoiceRefundForm,
            operation=lambda obj, data: services.payment_refund(
                payment=latest_paid_payment(obj),
                amount=data["amount"],
                reason=data["reason"],
                created_by=request.user,
            ),
            done=ngettext_lazy(
                "%(count)d invoice refunded.", "%(count)d invoices refunded.", "count"
            ),
            logged=gettext_lazy("Invoice refunded"),
        )

    @admin.action(
        description=gettext_lazy("Mark selected invoices overdue"),
        permissions=["collect_invoice"],
    )
    def mark_overdue(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda obj: services.invoice_mark_overdue(invoice=obj),
            done=ngettext_lazy(
                "%(count)d invoice marked overdue.", "%(count)d invoices marked overdue.", "count"
            ),
            logged=gettext_lazy("Invoice marked overdue"),
        )

    @admin.action(
        description=gettext_lazy("Mark selected invoices uncollectible"),
        permissions=["collect_invoice"],
    )
    def mark_uncollectible(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda obj: services.invoice_mark_uncollectible(invoice=obj),
            done=ngettext_lazy(
                "%(count)d invoice marked uncollectible.",
                "%(count)d invoices marked uncollectible.",
                "count",
            ),
            logged=gettext_lazy("Invoice marked uncollectible"),
        )


@admin.register(OverdueInvoice)
class OverdueInvoiceAdmin(InvoiceAdmin):
    """The queue staff work through: unpaid invoices past their due date, oldest first."""

    list_display = ("number", "customer", "status", "total_display", "due", "days_overdue")
    ordering = ("due_date", "pk")
    date_hierarchy = None

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(status__in=PAYABLE_INVOICE_STATUSES, due_date__lt=timezone.now())
        )

    @admin.display(description=gettext_lazy("Days overdue"), ordering="due_date")
    def days_overdue(self, obj: Invoice) -> int:
        return (timezone.now() - obj.due_date).days
