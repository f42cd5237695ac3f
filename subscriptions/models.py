"""Billing models: plans, subscriptions, invoices, payments and webhook logs.

Design in a few lines:

- Field names are public API (the signal spec's snippets read them), so they are
  kept as the spec and the README name them.
- Statuses are ``TextChoices``; which status may follow which is written once, in
  ``transitions.py``, and every change goes through a function in ``services/``
  under a transaction with the row locked. ``save()`` holds no business logic.
- ``Subscription``, ``Payment``, ``Invoice`` and ``WebhookLog`` remember the
  values of their tracked fields as loaded (``TrackedModel``), so the ``post_save``
  dispatchers in ``signals.py`` send one signal per real transition and none for
  a re-save.
- Money is ``Decimal`` with a currency; IDR amounts are whole rupiah.
- Invoice numbers come from ``InvoiceSequence``, a counter row per year taken
  under ``select_for_update``, so concurrent invoices never share a number.
- ``Payment.status`` is Midtrans' raw ``transaction_status``; a payment never
  moves backwards (``transitions.PAYMENT_RANK``).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, ngettext_lazy, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from .money import format_money
from .tracking import TrackedModel

ORDER_ID_RE = r"^[A-Za-z0-9\-_~.]{1,50}$"
order_id_validator = RegexValidator(
    ORDER_ID_RE,
    _("Order ids use letters, digits and - _ ~ . only, at most 50 characters (Midtrans' rule)."),
)

MONEY = {"max_digits": 14, "decimal_places": 2}


class IntervalUnit(models.TextChoices):
    DAY = "day", pgettext_lazy("interval unit", "Day")
    WEEK = "week", pgettext_lazy("interval unit", "Week")
    MONTH = "month", pgettext_lazy("interval unit", "Month")
    YEAR = "year", pgettext_lazy("interval unit", "Year")


# Several units: "3 months" (one unit is the unit's label, lower-cased: "month").
INTERVAL_COUNTS = {
    IntervalUnit.DAY: ngettext_lazy("%(count)d day", "%(count)d days", "count"),
    IntervalUnit.WEEK: ngettext_lazy("%(count)d week", "%(count)d weeks", "count"),
    IntervalUnit.MONTH: ngettext_lazy("%(count)d month", "%(count)d months", "count"),
    IntervalUnit.YEAR: ngettext_lazy("%(count)d year", "%(count)d years", "count"),
}


class PlanQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)


class Plan(models.Model):
    name = models.CharField(max_length=100, verbose_name=_("name"))
    slug = models.SlugField(max_length=100, unique=True, verbose_name=_("slug"))
    description = models.TextField(blank=True, verbose_name=_("description"))
    price = models.DecimalField(
        **MONEY, validators=[MinValueValidator(Decimal("0"))], verbose_name=_("price")
    )
    currency = models.CharField(max_length=3, default="IDR", verbose_name=_("currency"))
    interval = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1)], verbose_name=_("interval")
    )
    interval_unit = models.CharField(
        max_length=5,
        choices=IntervalUnit.choices,
        default=IntervalUnit.MONTH,
        verbose_name=_("interval unit"),
    )
    trial_period_days = models.PositiveIntegerField(default=0, verbose_name=_("trial period days"))
    features = models.JSONField(default=dict, blank=True, verbose_name=_("features"))
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    sort_order = models.IntegerField(default=0, verbose_name=_("sort order"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    objects = PlanQuerySet.as_manager()

    class Meta:
        ordering = ["sort_order", "price", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="plan_price_not_negative"),
            models.CheckConstraint(condition=Q(interval__gte=1), name="plan_interval_positive"),
        ]
        verbose_name = _("plan")
        verbose_name_plural = _("plans")

    def __str__(self) -> str:
        return f"{self.name} ({self.price_display} / {self.interval_display})"

    @property
    def price_display(self) -> str:
        return format_money(self.price, self.currency)

    @property
    def interval_display(self) -> str:
        """ "month", "3 months": read after "per", "every" or "for the next"."""
        if self.interval == 1:
            return str(self.get_interval_unit_display()).lower()
        return INTERVAL_COUNTS[self.interval_unit] % {"count": self.interval}

    @property
    def approx_days(self) -> int:
        """Rough length of one period, for ordering plans of different intervals."""
        per_unit = {"day": 1, "week": 7, "month": 30, "year": 365}[self.interval_unit]
        return per_unit * self.interval

    def same_interval_as(self, other: Plan) -> bool:
        return (self.interval_unit, self.interval) == (other.interval_unit, other.interval)


class SubscriptionStatus(models.TextChoices):
    PENDING = "pending", pgettext_lazy("subscription status", "Pending payment")
    TRIALING = "trialing", pgettext_lazy("subscription status", "Trial")
    ACTIVE = "active", pgettext_lazy("subscription status", "Active")
    PAST_DUE = "past_due", pgettext_lazy("subscription status", "Past due")
    PAUSED = "paused", pgettext_lazy("subscription status", "Paused")
    CANCELLED = "cancelled", pgettext_lazy("subscription status", "Cancelled")
    EXPIRED = "expired", pgettext_lazy("subscription status", "Expired")


LIVE_SUBSCRIPTION_STATUSES = (
    SubscriptionStatus.PENDING,
    SubscriptionStatus.TRIALING,
    SubscriptionStatus.ACTIVE,
    SubscriptionStatus.PAST_DUE,
    SubscriptionStatus.PAUSED,
)


class SubscriptionQuerySet(models.QuerySet):
    def live(self):
        return self.filter(status__in=LIVE_SUBSCRIPTION_STATUSES)


class Subscription(TrackedModel):
    tracked_fields = ("status", "plan")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="subscriptions",
        verbose_name=_("user"),
    )
    plan = models.ForeignKey(
        Plan, on_delete=models.PROTECT, related_name="subscriptions", verbose_name=_("plan")
    )
    status = models.CharField(
        max_length=10,
        choices=SubscriptionStatus.choices,
        default=SubscriptionStatus.PENDING,
        verbose_name=_("status"),
    )
    payment_type = models.CharField(max_length=40, blank=True, verbose_name=_("payment type"))
    current_period_start = models.DateTimeField(
        null=True, blank=True, verbose_name=_("current period start")
    )
    current_period_end = models.DateTimeField(
        null=True, blank=True, verbose_name=_("current period end")
    )
    # Periods are counted from here (see periods.py); moved when a pause shifts them.
    billing_anchor = models.DateTimeField(null=True, blank=True, verbose_name=_("billing anchor"))
    trial_end = models.DateTimeField(null=True, blank=True, verbose_name=_("trial end"))
    cancel_at_period_end = models.BooleanField(
        default=False, verbose_name=_("cancel at period end")
    )
    cancelled_at = models.DateTimeField(null=True, blank=True, verbose_name=_("cancelled at"))
    cancellation_reason = models.TextField(blank=True, verbose_name=_("cancellation reason"))
    paused_at = models.DateTimeField(null=True, blank=True, verbose_name=_("paused at"))
    resume_at = models.DateTimeField(null=True, blank=True, verbose_name=_("resume at"))
    scheduled_plan = models.ForeignKey(
        Plan,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="scheduled_subscriptions",
        verbose_name=_("scheduled plan"),
    )
    scheduled_change_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("scheduled change at")
    )
    ended_at = models.DateTimeField(null=True, blank=True, verbose_name=_("ended at"))
    # When it became past_due: the grace period (SUBSCRIPTIONS_GRACE_PERIOD_DAYS) runs
    # from here, and it expires when that ends.
    past_due_at = models.DateTimeField(null=True, blank=True, verbose_name=_("past due at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(status__in=LIVE_SUBSCRIPTION_STATUSES),
                name="one_live_subscription_per_user",
            ),
            models.CheckConstraint(
                condition=Q(scheduled_plan__isnull=True) | Q(scheduled_change_at__isnull=False),
                name="scheduled_plan_has_date",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "current_period_end"]),
            models.Index(fields=["status", "resume_at"]),
        ]
        permissions = [
            ("manage_subscription", "Can pause, resume, cancel and expire subscriptions"),
        ]
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")

    def __str__(self) -> str:
        return f"{self.user} · {self.plan.name} ({self.get_status_display()})"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_SUBSCRIPTION_STATUSES

    @property
    def has_access(self) -> bool:
        """Whether the subscriber gets the plan's features right now."""
        return self.status in (
            SubscriptionStatus.TRIALING,
            SubscriptionStatus.ACTIVE,
            SubscriptionStatus.PAST_DUE,
        )

    @property
    def has_scheduled_change(self) -> bool:
        return self.scheduled_plan_id is not None


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("invoice status", "Draft")
    OPEN = "open", pgettext_lazy("invoice status", "Open")
    PAID = "paid", pgettext_lazy("invoice status", "Paid")
    OVERDUE = "overdue", pgettext_lazy("invoice status", "Overdue")
    VOID = "void", pgettext_lazy("invoice status", "Void")
    UNCOLLECTIBLE = "uncollectible", pgettext_lazy("invoice status", "Uncollectible")


PAYABLE_INVOICE_STATUSES = (
    InvoiceStatus.OPEN,
    InvoiceStatus.OVERDUE,
    InvoiceStatus.UNCOLLECTIBLE,
)


class InvoiceReason(models.TextChoices):
    SUBSCRIPTION_CREATE = "subscription_create", pgettext_lazy("invoice reason", "First period")
    TRIAL_END = "trial_end", pgettext_lazy("invoice reason", "Trial conversion")
    RENEWAL = "renewal", pgettext_lazy("invoice reason", "Renewal")
    PLAN_CHANGE = "plan_change", pgettext_lazy("invoice reason", "Plan change")
    REACTIVATION = "reactivation", pgettext_lazy("invoice reason", "Reactivation")
    MANUAL = "manual", pgettext_lazy("invoice reason", "Manual")


class InvoiceSequence(models.Model):
    """One counter row per year; taken under ``select_for_update`` to number invoices."""

    year = models.PositiveIntegerField(primary_key=True)
    last_value = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last_value}"


class InvoiceQuerySet(models.QuerySet):
    def payable(self):
        return self.filter(status__in=PAYABLE_INVOICE_STATUSES)


class Invoice(TrackedModel):
    tracked_fields = ("status",)

    number = models.CharField(
        max_length=32, unique=True, null=True, blank=True, verbose_name=_("number")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="invoices",
        verbose_name=_("user"),
    )
    subscription = models.ForeignKey(
        Subscription,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="invoices",
        verbose_name=_("subscription"),
    )
    status = models.CharField(
        max_length=13,
        choices=InvoiceStatus.choices,
        default=InvoiceStatus.DRAFT,
        verbose_name=_("status"),
    )
    reason = models.CharField(
        max_length=20,
        choices=InvoiceReason.choices,
        default=InvoiceReason.MANUAL,
        # Translators: what the invoice bills for (first period, renewal, plan change...).
        verbose_name=pgettext_lazy("invoice purpose", "reason"),
    )
    # The plan this invoice bills for (the new plan for a plan change or a renewal that
    # applies a scheduled downgrade).
    plan = models.ForeignKey(
        Plan,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="invoices",
        verbose_name=_("plan"),
    )
    currency = models.CharField(max_length=3, default="IDR", verbose_name=_("currency"))
    subtotal = models.DecimalField(**MONEY, default=Decimal("0"), verbose_name=_("subtotal"))
    discount = models.DecimalField(**MONEY, default=Decimal("0"), verbose_name=_("discount"))
    tax = models.DecimalField(**MONEY, default=Decimal("0"), verbose_name=_("tax"))
    total = models.DecimalField(**MONEY, default=Decimal("0"), verbose_name=_("total"))
    period_start = models.DateTimeField(null=True, blank=True, verbose_name=_("period start"))
    period_end = models.DateTimeField(null=True, blank=True, verbose_name=_("period end"))
    issued_at = models.DateTimeField(null=True, blank=True, verbose_name=_("issued at"))
    due_date = models.DateTimeField(null=True, blank=True, verbose_name=_("due date"))
    paid_at = models.DateTimeField(null=True, blank=True, verbose_name=_("paid at"))
    voided_at = models.DateTimeField(null=True, blank=True, verbose_name=_("voided at"))
    void_reason = models.TextField(blank=True, verbose_name=_("void reason"))
    # Starting a gateway checkout, paying from the wallet and marking paid offline are
    # serialised on the invoice: each claims it (under the row lock) for the seconds its
    # gateway calls take, so a second attempt started meanwhile is refused, not doubled.
    checkout_claim = models.CharField(
        max_length=32, blank=True, editable=False, verbose_name=_("checkout claim")
    )
    checkout_claimed_until = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("checkout claimed until")
    )
    metadata = models.JSONField(default=dict, blank=True, verbose_name=_("metadata"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    objects = InvoiceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(total__gte=0), name="invoice_total_not_negative"),
            models.CheckConstraint(
                # A draft voided before it was issued never gets a number.
                condition=Q(status__in=["draft", "void"]) | Q(number__isnull=False),
                name="issued_invoice_has_number",
            ),
            # One invoice per subscription period and purpose, whatever races the billing run.
            models.UniqueConstraint(
                fields=["subscription", "reason", "period_start"],
                condition=Q(reason__in=["renewal", "trial_end", "subscription_create"])
                & ~Q(status="void"),
                name="one_invoice_per_subscription_period",
            ),
        ]
        indexes = [models.Index(fields=["status", "due_date"])]
        permissions = [
            ("void_invoice", "Can void invoices"),
            ("mark_invoice_paid_offline", "Can mark invoices paid offline"),
            ("collect_invoice", "Can retry collection and mark invoices overdue or uncollectible"),
        ]
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")

    def __str__(self) -> str:
        return self.number or gettext("Draft invoice #%(pk)s") % {"pk": self.pk}

    @property
    def total_display(self) -> str:
        return format_money(self.total, self.currency)

    @property
    def is_payable(self) -> bool:
        return self.status in PAYABLE_INVOICE_STATUSES and self.total > 0

    @property
    def is_past_due(self) -> bool:
        return (
            self.status in (InvoiceStatus.OPEN, InvoiceStatus.OVERDUE)
            and self.due_date is not None
            and self.due_date < timezone.now()
        )


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(
        Invoice, on_delete=models.CASCADE, related_name="lines", verbose_name=_("invoice")
    )
    description = models.CharField(max_length=255, verbose_name=_("description"))
    quantity = models.PositiveIntegerField(default=1, verbose_name=_("quantity"))
    unit_amount = models.DecimalField(**MONEY, verbose_name=_("unit amount"))
    amount = models.DecimalField(**MONEY, verbose_name=_("amount"))
    period_start = models.DateTimeField(null=True, blank=True, verbose_name=_("period start"))
    period_end = models.DateTimeField(null=True, blank=True, verbose_name=_("period end"))
    is_proration = models.BooleanField(default=False, verbose_name=_("is proration"))
    plan = models.ForeignKey(
        Plan, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("plan")
    )

    class Meta:
        ordering = ["pk"]
        verbose_name = _("invoice line")
        verbose_name_plural = _("invoice lines")

    def __str__(self) -> str:
        return f"{self.description}: {self.amount}"


class PaymentStatus(models.TextChoices):
    """Midtrans ``transaction_status`` values, stored as received."""

    PENDING = "pending", pgettext_lazy("payment status", "Pending")
    AUTHORIZE = "authorize", pgettext_lazy("payment status", "Authorized")
    CAPTURE = "capture", pgettext_lazy("payment status", "Captured")
    SETTLEMENT = "settlement", pgettext_lazy("payment status", "Settled")
    DENY = "deny", pgettext_lazy("payment status", "Denied")
    CANCEL = "cancel", pgettext_lazy("payment status", "Cancelled")
    EXPIRE = "expire", pgettext_lazy("payment status", "Expired")
    FAILURE = "failure", pgettext_lazy("payment status", "Failed")
    REFUND = "refund", pgettext_lazy("payment status", "Refunded")
    PARTIAL_REFUND = "partial_refund", pgettext_lazy("payment status", "Partially refunded")


FAILED_PAYMENT_STATUSES = (
    PaymentStatus.DENY,
    PaymentStatus.CANCEL,
    PaymentStatus.EXPIRE,
    PaymentStatus.FAILURE,
)


class FraudStatus(models.TextChoices):
    NONE = "", "—"
    ACCEPT = "accept", pgettext_lazy("fraud status", "Accept")
    CHALLENGE = "challenge", pgettext_lazy("fraud status", "Challenge")
    DENY = "deny", pgettext_lazy("fraud status", "Deny")


class Payment(TrackedModel):
    tracked_fields = ("status", "is_paid", "refunded_amount")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="payments",
        verbose_name=_("user"),
    )
    subscription = models.ForeignKey(
        Subscription,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="payments",
        verbose_name=_("subscription"),
    )
    invoice = models.ForeignKey(
        Invoice,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="payments",
        verbose_name=_("invoice"),
    )
    order_id = models.CharField(
        max_length=50, unique=True, validators=[order_id_validator], verbose_name=_("order id")
    )
    gross_amount = models.DecimalField(**MONEY, verbose_name=_("gross amount"))
    currency = models.CharField(max_length=3, default="IDR", verbose_name=_("currency"))
    status = models.CharField(
        max_length=14,
        choices=PaymentStatus.choices,
        default=PaymentStatus.PENDING,
        verbose_name=_("status"),
    )
    fraud_status = models.CharField(
        max_length=9,
        choices=FraudStatus.choices,
        default="",
        blank=True,
        verbose_name=_("fraud status"),
    )
    payment_type = models.CharField(max_length=40, blank=True, verbose_name=_("payment type"))
    gateway = models.CharField(max_length=20, blank=True, verbose_name=_("gateway"))
    is_paid = models.BooleanField(default=False, verbose_name=_("is paid"))
    paid_at = models.DateTimeField(null=True, blank=True, verbose_name=_("paid at"))
    refunded_amount = models.DecimalField(
        **MONEY, default=Decimal("0"), verbose_name=_("refunded amount")
    )
    # Money that arrived for an invoice that was already paid or void (an attempt the
    # gateway settled although it was superseded): never kept, returned by a Refund.
    overpaid_amount = models.DecimalField(
        **MONEY, default=Decimal("0"), verbose_name=_("overpaid amount")
    )
    transaction_id = models.CharField(max_length=64, blank=True, verbose_name=_("transaction id"))
    snap_token = models.CharField(max_length=100, blank=True, verbose_name=_("snap token"))
    redirect_url = models.URLField(max_length=500, blank=True, verbose_name=_("redirect url"))
    gateway_response = models.JSONField(
        default=dict, blank=True, verbose_name=_("gateway response")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(gross_amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0)
                & Q(refunded_amount__lte=models.F("gross_amount")),
                name="payment_refund_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(overpaid_amount__gte=0)
                & Q(overpaid_amount__lte=models.F("gross_amount")),
                name="payment_overpaid_within_amount",
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"])]
        permissions = [
            ("refund_payment", "Can refund payments (through the gateway or to the wallet)"),
            ("check_payment", "Can check payment status and decide challenged payments"),
        ]
        verbose_name = _("payment")
        verbose_name_plural = _("payments")

    def __str__(self) -> str:
        return f"{self.order_id} ({self.get_status_display()})"

    @property
    def amount_display(self) -> str:
        return format_money(self.gross_amount, self.currency)

    @property
    def is_failed(self) -> bool:
        return self.status in FAILED_PAYMENT_STATUSES

    @property
    def refundable_amount(self) -> Decimal:
        return self.gross_amount - self.refunded_amount if self.is_paid else Decimal("0")


class RefundStatus(models.TextChoices):
    PENDING = "pending", pgettext_lazy("refund status", "In progress")
    SUCCEEDED = "succeeded", pgettext_lazy("refund status", "Refunded")
    FAILED = "failed", pgettext_lazy("refund status", "Failed")


class RefundDestination(models.TextChoices):
    GATEWAY = "gateway", pgettext_lazy("refund destination", "Card or account")
    WALLET = "wallet", pgettext_lazy("refund destination", "Wallet")


class RefundKind(models.TextChoices):
    STAFF = "staff", pgettext_lazy("refund kind", "Refund by staff")
    OVERPAYMENT = "overpayment", pgettext_lazy("refund kind", "Overpayment returned")
    EXTERNAL = "external", pgettext_lazy("refund kind", "Refund made at the gateway")


class Refund(models.Model):
    """One refund of (part of) a payment: recorded *before* the gateway is asked, so
    a refund in flight counts against what can still be refunded, and its
    ``refund_key`` makes a retry the same refund at Midtrans.

    ``shortfall``: for a refunded wallet top-up, the part of the refund the wallet's
    balance could no longer cover (a refund made outside the portal); staff see it.
    """

    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("payment")
    )
    amount = models.DecimalField(**MONEY, verbose_name=_("amount"))
    currency = models.CharField(max_length=3, default="IDR", verbose_name=_("currency"))
    destination = models.CharField(
        max_length=7,
        choices=RefundDestination.choices,
        default=RefundDestination.GATEWAY,
        verbose_name=_("destination"),
    )
    kind = models.CharField(
        max_length=11, choices=RefundKind.choices, default=RefundKind.STAFF, verbose_name=_("kind")
    )
    status = models.CharField(
        max_length=9,
        choices=RefundStatus.choices,
        default=RefundStatus.PENDING,
        verbose_name=_("status"),
    )
    reason = models.TextField(
        blank=True,
        # Translators: why staff refunded the payment (free text).
        verbose_name=pgettext_lazy("refund", "reason"),
    )
    refund_key = models.CharField(max_length=100, unique=True, verbose_name=_("refund key"))
    shortfall = models.DecimalField(**MONEY, default=Decimal("0"), verbose_name=_("shortfall"))
    error = models.TextField(blank=True, verbose_name=_("error"))
    gateway_response = models.JSONField(
        default=dict, blank=True, verbose_name=_("gateway response")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    completed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("completed at"))

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
            models.CheckConstraint(
                condition=Q(shortfall__gte=0) & Q(shortfall__lte=models.F("amount")),
                name="refund_shortfall_within_amount",
            ),
        ]
        indexes = [models.Index(fields=["payment", "status"])]
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")

    def __str__(self) -> str:
        return gettext("Refund %(amount)s of payment %(payment)s") % {
            "amount": format_money(self.amount, self.currency),
            "payment": self.payment_id,
        }

    @property
    def amount_display(self) -> str:
        return format_money(self.amount, self.currency)


class WebhookStatus(models.TextChoices):
    RECEIVED = "received", pgettext_lazy("webhook status", "Received")
    PROCESSED = "processed", pgettext_lazy("webhook status", "Processed")
    FAILED = "failed", pgettext_lazy("webhook status", "Failed")
    INVALID = "invalid", pgettext_lazy("webhook status", "Invalid")
    DUPLICATE = "duplicate", pgettext_lazy("webhook status", "Duplicate")
    IGNORED = "ignored", pgettext_lazy("webhook status", "Ignored")
    # Authentic (validly signed) but impossible to apply (an amount that cannot be a
    # number, a refund larger than the payment): answered so that Midtrans stops
    # retrying, and kept for staff to look at.
    REJECTED = "rejected", pgettext_lazy("webhook status", "Rejected")


class WebhookLog(TrackedModel):
    tracked_fields = ("status",)

    provider = models.CharField(max_length=20, default="midtrans", verbose_name=_("provider"))
    body = models.TextField(blank=True, verbose_name=_("body"))
    # The request body's size in bytes (``body`` may hold only a prefix of it).
    body_size = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("body size"))
    headers = models.JSONField(default=dict, blank=True, verbose_name=_("headers"))
    remote_addr = models.GenericIPAddressField(null=True, blank=True, verbose_name=_("remote addr"))
    order_id = models.CharField(
        max_length=100, blank=True, db_index=True, verbose_name=_("order id")
    )
    transaction_status = models.CharField(
        max_length=30, blank=True, verbose_name=_("transaction status")
    )
    signature_valid = models.BooleanField(null=True, verbose_name=_("signature valid"))
    status = models.CharField(
        max_length=9,
        choices=WebhookStatus.choices,
        default=WebhookStatus.RECEIVED,
        verbose_name=_("status"),
    )
    payment = models.ForeignKey(
        Payment,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="webhook_logs",
        verbose_name=_("payment"),
    )
    error = models.TextField(blank=True, verbose_name=_("error"))
    processed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("processed at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["-created_at", "-pk"]
        permissions = [("reprocess_webhooklog", "Can reprocess webhook notifications")]
        verbose_name = _("webhook log")
        verbose_name_plural = _("webhook logs")

    def __str__(self) -> str:
        return f"{self.provider} {self.order_id or '?'} {self.transaction_status} ({self.status})"


class BillingEvent(models.Model):
    """A once-only fact recorded by the billing run (a reminder sent, a dunning step).

    ``key`` is unique, so a second run (or a second worker) that tries to record the
    same fact fails to insert and does not send the reminder again.
    """

    key = models.CharField(max_length=150, unique=True)
    kind = models.CharField(max_length=40)
    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    invoice = models.ForeignKey(
        Invoice, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.key


class OverdueInvoice(Invoice):
    """The admin's overdue queue (a proxy: same rows; changes still go through services)."""

    class Meta:
        proxy = True
        verbose_name = _("overdue invoice")
        verbose_name_plural = _("overdue invoices (queue)")


class OverpaidPayment(Payment):
    """The admin's "overpaid / returned" list (a proxy: payments with ``overpaid_amount``)."""

    class Meta:
        proxy = True
        verbose_name = _("overpaid payment")
        verbose_name_plural = _("overpaid payments (returned)")
