"""Admin for the portal's banners and sent emails (read-only records), the invoice
admin's "resend the invoice email" action (the billing app never imports the portal),
and allauth's email-address admin with its action behind the change permission."""

from __future__ import annotations

from allauth.account.admin import EmailAddressAdmin
from allauth.account.models import EmailAddress
from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext_lazy

from subscriptions.admin import columns
from subscriptions.admin.billing import InvoiceAdmin, run_service_action
from subscriptions.admin.columns import ListStyles, label
from subscriptions.exceptions import InvoiceNotPayable

from .emails import queue_email
from .models import Notification, SentEmail


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(ListStyles, ReadOnlyAdmin):
    # The level under the kind; dates without their time where it says little.
    list_display = ("created", "customer", "kind_level", "heading", "needs_action", "dismissed")
    list_filter = ("kind", "level", "needs_action")
    list_select_related = ("user",)
    search_fields = ("user__email", "title", "message")
    date_hierarchy = "created_at"

    @admin.display(description=label(Notification, "created_at"), ordering="created_at")
    def created(self, obj: Notification) -> str:
        return columns.moment(obj.created_at)

    @admin.display(description=label(Notification, "user"), ordering="user__email")
    def customer(self, obj: Notification) -> str:
        return columns.email(obj.user)

    @admin.display(description=label(Notification, "kind"), ordering="kind")
    def kind_level(self, obj: Notification) -> str:
        return columns.with_note(obj.kind, obj.get_level_display())

    @admin.display(description=label(Notification, "dismissed_at"), ordering="dismissed_at")
    def dismissed(self, obj: Notification) -> str:
        return columns.day(obj.dismissed_at)

    # The banner as its reader sees it, in the staff member's language (``title`` is
    # its msgid, "Invoice {number} is overdue").
    @admin.display(description=label(Notification, "title"), ordering="title")
    def heading(self, obj: Notification) -> str:
        return columns.numbers_whole(obj.heading)


@admin.register(SentEmail)
class SentEmailAdmin(ListStyles, ReadOnlyAdmin):
    list_display = ("created", "recipient", "kind", "subject_text", "status", "attempts", "sent")
    list_filter = ("status", "kind")
    list_select_related = ("user", "invoice")
    search_fields = ("to_email", "user__email", "subject", "invoice__number")
    date_hierarchy = "created_at"

    @admin.display(description=label(SentEmail, "created_at"), ordering="created_at")
    def created(self, obj: SentEmail) -> str:
        return columns.moment(obj.created_at)

    @admin.display(description=label(SentEmail, "to_email"), ordering="to_email")
    def recipient(self, obj: SentEmail) -> str:
        return columns.email(obj.to_email)

    @admin.display(description=label(SentEmail, "subject"))
    def subject_text(self, obj: SentEmail) -> str:
        return columns.numbers_whole(obj.subject)

    @admin.display(description=label(SentEmail, "sent_at"), ordering="sent_at")
    def sent(self, obj: SentEmail) -> str:
        return columns.moment(obj.sent_at)

    def has_delete_permission(self, request, obj=None):
        return False


def _resend(invoice) -> None:
    if not invoice.is_payable:
        raise InvoiceNotPayable(
            _("it is %(status)s") % {"status": str(invoice.get_status_display()).lower()}
        )
    kind = "invoice_overdue" if invoice.is_past_due else "invoice_issued"
    queue_email(
        kind=kind,
        user=invoice.user,
        key=f"invoice_resend:{invoice.pk}:{timezone.now().isoformat()}",
        invoice=invoice,
    )


# Chasing an unpaid invoice is part of collecting it (InvoiceAdmin.has_collect_invoice_permission).
@admin.action(description=gettext_lazy("Resend the invoice email"), permissions=["collect_invoice"])
def resend_invoice_email(modeladmin, request, queryset):
    run_service_action(
        modeladmin,
        request,
        queryset,
        _resend,
        done=ngettext_lazy(
            "%(count)d invoice email queued.", "%(count)d invoice emails queued.", "count"
        ),
        logged=gettext_lazy("Invoice email queued"),
    )


InvoiceAdmin.actions = (*InvoiceAdmin.actions, resend_invoice_email)


class VerifyNeedsChangeEmailAddressAdmin(EmailAddressAdmin):
    """allauth's "mark as verified" declares no permission, so anyone who may view email
    addresses could verify one; verifying is a change."""

    @admin.action(
        description=EmailAddressAdmin.make_verified.short_description, permissions=["change"]
    )
    def make_verified(self, request, queryset):
        return super().make_verified(request, queryset)


admin.site.unregister(EmailAddress)
admin.site.register(EmailAddress, VerifyNeedsChangeEmailAddressAdmin)

# No navigation sidebar: at laptop width (1280 px) it took a quarter of the screen from
# the billing lists (their numbers wrapped over three lines, columns ran out of view).
# The breadcrumbs and the admin's home page lead everywhere it did.
admin.site.enable_nav_sidebar = False
