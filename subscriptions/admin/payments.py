"""Admin for payments and webhook logs.

Everything is read-only: a payment moves only through the gateway, so staff act
through actions that call the services (check status with the gateway, approve or
deny a challenged card payment, refund with a reason) and a stored notification is
replayed through the webhook's own processing ("reprocess").
"""

from __future__ import annotations

import json
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext_lazy

from .. import services
from ..models import FraudStatus, Payment, WebhookLog, WebhookStatus
from ..money import format_money
from ..webhooks import webhook_reprocess
from . import columns
from .billing import action_with_form, run_service_action
from .columns import ListStyles, label
from .permissions import permission_check


def pretty_json(value) -> str:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return format_html("<pre style='white-space: pre-wrap'>{}</pre>", value)
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    return format_html("<pre style='white-space: pre-wrap'>{}</pre>", text)


class RefundForm(forms.Form):
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
        help_text=gettext_lazy("Sent to the payment gateway with the refund."),
    )


class WebhookLogInline(admin.TabularInline):
    model = WebhookLog
    extra = 0
    can_delete = False
    fields = ("created_at", "transaction_status", "status", "signature_valid", "error")
    readonly_fields = fields
    show_change_link = True
    ordering = ("-created_at",)

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Payment)
class PaymentAdmin(ListStyles, admin.ModelAdmin):
    # Six columns that fit a laptop: what was refunded under the amount, a fraud check
    # that did not simply accept under the status, the gateway under the payment type.
    # No invoice column: an invoice's order ids start with its number (a top-up's with
    # TOPUP-), the payment's page links it, and the search finds payments by number;
    # "paid" is the status itself.
    list_display = (
        "order_id",
        "customer",
        "amount_display",
        "status_checked",
        "method",
        "created",
    )
    list_filter = ("status", "is_paid", "fraud_status", "gateway", "payment_type", "currency")
    list_select_related = ("user", "invoice")
    search_fields = ("order_id", "transaction_id", "user__email", "invoice__number")
    date_hierarchy = "created_at"
    readonly_fields = [
        *(field.name for field in Payment._meta.fields if field.name != "gateway_response"),
        "gateway_response_pretty",
    ]
    exclude = ("gateway_response",)
    inlines = (WebhookLogInline,)
    actions = ("check_status", "approve_challenge", "deny_challenge", "refund")
    has_check_payment_permission = permission_check("subscriptions.check_payment")
    has_refund_payment_permission = permission_check("subscriptions.refund_payment")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # View only: a payment moves through the gateway (the actions), never by hand.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=gettext_lazy("Amount"), ordering="gross_amount")
    def amount_display(self, obj: Payment) -> str:
        refunded = ""
        if obj.refunded_amount:
            # Translators: under a payment's amount in the admin's list of payments.
            refunded = _("refunded %(amount)s") % {
                "amount": format_money(obj.refunded_amount, obj.currency)
            }
        return columns.with_note(columns.one_line(obj.amount_display), refunded)

    @admin.display(description=label(Payment, "user"), ordering="user__email")
    def customer(self, obj: Payment) -> str:
        return columns.email(obj.user)

    @admin.display(description=label(Payment, "status"), ordering="status")
    def status_checked(self, obj: Payment) -> str:
        fraud = ""
        if obj.fraud_status and obj.fraud_status != FraudStatus.ACCEPT:
            # Translators: under a payment's status in the admin's list: the gateway's
            # fraud check did not simply accept it ("Fraud check: Challenge").
            fraud = _("Fraud check: %(result)s") % {"result": obj.get_fraud_status_display()}
        return columns.with_note(obj.get_status_display(), fraud)

    @admin.display(description=label(Payment, "payment_type"), ordering="payment_type")
    def method(self, obj: Payment) -> str:
        return columns.with_note(obj.payment_type or columns.EMPTY, obj.gateway)

    @admin.display(description=label(Payment, "created_at"), ordering="created_at")
    def created(self, obj: Payment) -> str:
        return columns.moment(obj.created_at)

    @admin.display(description=gettext_lazy("Last gateway answer or notification"))
    def gateway_response_pretty(self, obj: Payment) -> str:
        return pretty_json(obj.gateway_response)

    @admin.action(
        description=gettext_lazy("Check status with the gateway"), permissions=["check_payment"]
    )
    def check_status(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda obj: services.payment_check_status(payment=obj),
            done=ngettext_lazy(
                "%(count)d payment checked with the gateway.",
                "%(count)d payments checked with the gateway.",
                "count",
            ),
            logged=gettext_lazy("Payment checked with the gateway"),
        )

    @admin.action(
        description=gettext_lazy("Approve challenged card payment"), permissions=["check_payment"]
    )
    def approve_challenge(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda obj: services.payment_approve_challenge(payment=obj),
            done=ngettext_lazy(
                "%(count)d challenged payment approved.",
                "%(count)d challenged payments approved.",
                "count",
            ),
            logged=gettext_lazy("Challenged payment approved"),
        )

    @admin.action(
        description=gettext_lazy("Deny challenged card payment"), permissions=["check_payment"]
    )
    def deny_challenge(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset,
            lambda obj: services.payment_deny_challenge(payment=obj),
            done=ngettext_lazy(
                "%(count)d challenged payment denied.",
                "%(count)d challenged payments denied.",
                "count",
            ),
            logged=gettext_lazy("Challenged payment denied"),
        )

    @admin.action(
        description=gettext_lazy("Refund (full or partial, with a reason)"),
        permissions=["refund_payment"],
    )
    def refund(self, request, queryset):
        # action_with_form records the amount and reason in the admin log.
        return action_with_form(
            self,
            request,
            queryset,
            title=_("Refund payments"),
            action_name="refund",
            operation=lambda obj, data: services.payment_refund(
                payment=obj, amount=data["amount"], reason=data["reason"], created_by=request.user
            ),
            done=ngettext_lazy(
                "%(count)d payment refunded.", "%(count)d payments refunded.", "count"
            ),
            logged=gettext_lazy("Payment refunded"),
            form_class=RefundForm,
        )


@admin.register(WebhookLog)
class WebhookLogAdmin(ListStyles, admin.ModelAdmin):
    # The order id links to its payment (one column instead of the same id twice); the
    # provider under what it said.
    list_display = (
        "created",
        "payment_link",
        "said",
        "status",
        "signature_valid",
        "remote_addr",
    )
    list_filter = ("status", "provider", "signature_valid", "transaction_status")
    list_select_related = ("payment",)
    search_fields = ("order_id", "body", "remote_addr")
    date_hierarchy = "created_at"
    readonly_fields = [
        *(f.name for f in WebhookLog._meta.fields if f.name not in ("body", "headers")),
        "body_pretty",
        "headers_pretty",
    ]
    exclude = ("body", "headers")
    actions = ("reprocess",)
    has_reprocess_webhooklog_permission = permission_check("subscriptions.reprocess_webhooklog")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # View only: the raw payload is evidence and is never edited.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=label(WebhookLog, "created_at"), ordering="created_at")
    def created(self, obj: WebhookLog) -> str:
        return columns.moment(obj.created_at)

    @admin.display(description=label(WebhookLog, "order_id"), ordering="order_id")
    def payment_link(self, obj: WebhookLog) -> str:
        if obj.payment_id is None:
            return columns.one_line(obj.order_id or "—")
        url = reverse("admin:subscriptions_payment_change", args=[obj.payment_id])
        return format_html('<a class="nowrap" href="{}">{}</a>', url, obj.payment.order_id)

    @admin.display(
        description=label(WebhookLog, "transaction_status"), ordering="transaction_status"
    )
    def said(self, obj: WebhookLog) -> str:
        return columns.with_note(obj.transaction_status or "—", obj.provider)

    @admin.display(description=gettext_lazy("Raw body"))
    def body_pretty(self, obj: WebhookLog) -> str:
        return pretty_json(obj.body)

    @admin.display(description=gettext_lazy("Headers"))
    def headers_pretty(self, obj: WebhookLog) -> str:
        return pretty_json(obj.headers)

    @admin.action(
        description=gettext_lazy("Reprocess the selected notifications"),
        permissions=["reprocess_webhooklog"],
    )
    def reprocess(self, request, queryset):
        outcomes: dict[str, int] = {}

        def operation(obj: WebhookLog) -> None:
            result = webhook_reprocess(log=obj)
            outcomes[result.status] = outcomes.get(result.status, 0) + 1
            if result.status in (WebhookStatus.FAILED, WebhookStatus.INVALID):
                self.message_user(
                    request,
                    _("Webhook %(pk)s: %(detail)s") % {"pk": obj.pk, "detail": result.detail},
                    messages.WARNING,
                )

        run_service_action(
            self,
            request,
            queryset,
            operation,
            done=ngettext_lazy(
                "%(count)d notification reprocessed.",
                "%(count)d notifications reprocessed.",
                "count",
            ),
            logged=gettext_lazy("Notification reprocessed"),
        )
        if outcomes:
            labels = dict(WebhookStatus.choices)
            summary = ", ".join(
                f"{count} {str(labels.get(status, status)).lower()}"
                for status, count in sorted(outcomes.items())
            )
            self.message_user(
                request, _("Outcomes: %(summary)s.") % {"summary": summary}, messages.INFO
            )
