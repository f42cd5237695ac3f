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

from .money import format_money
from .tracking import TrackedModel

ORDER_ID_RE = r"^[A-Za-z0-9\-_~.]{1,50}$"
order_id_validator = RegexValidator(
    ORDER_ID_RE,
    "Order ids use letters, digits and - _ ~ . only, at most 50 characters (Midtrans' rule).",
)

MONEY = {"max_digits": 14, "decimal_places": 2}


class IntervalUnit(models.TextChoices):
    DAY = "day", "Day"
    WEEK = "week", "Week"
    MONTH = "month", "Month"
    YEAR = "year", "Year"


class PlanQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)


class Plan(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    price = models.DecimalField(**MONEY, validators=[MinValueValidator(Decimal("0"))])
    currency = models.CharField(max_length=3, default="IDR")
    interval = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)])
    interval_unit = models.CharField(
        max_length=5, choices=IntervalUnit.choices, default=IntervalUnit.MONTH
    )
    trial_period_days = models.PositiveIntegerField(default=0)
    features = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    sort_order = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PlanQuerySet.as_manager()

    class Meta:
        ordering = ["sort_order", "price", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="plan_price_not_negative"),
            models.CheckConstraint(condition=Q(interval__gte=1), name="plan_interval_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.price_display} / {self.interval_display})"

    @property
    def price_display(self) -> str:
        return format_money(self.price, self.currency)

    @property
    def interval_display(self) -> str:
        unit = self.get_interval_unit_display().lower()
        return unit if self.interval == 1 else f"{self.interval} {unit}s"

    @property
    def approx_days(self) -> int:
        """Rough length of one period, for ordering plans of different intervals."""
        per_unit = {"day": 1, "week": 7, "month": 30, "year": 365}[self.interval_unit]
        return per_unit * self.interval

    def same_interval_as(self, other: Plan) -> bool:
        return (self.interval_unit, self.interval) == (other.interval_unit, other.interval)


class SubscriptionStatus(models.TextChoices):
    PENDING = "pending", "Pending payment"
    TRIALING = "trialing", "Trial"
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Past due"
    PAUSED = "paused", "Paused"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


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
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subscriptions"
    )
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(
        max_length=10, choices=SubscriptionStatus.choices, default=SubscriptionStatus.PENDING
    )
    payment_type = models.CharField(max_length=40, blank=True)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    # Periods are counted from here (see periods.py); moved when a pause shifts them.
    billing_anchor = models.DateTimeField(null=True, blank=True)
    trial_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancellation_reason = models.TextField(blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    resume_at = models.DateTimeField(null=True, blank=True)
    scheduled_plan = models.ForeignKey(
        Plan,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="scheduled_subscriptions",
    )
    scheduled_change_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # When it became past_due: the grace period (SUBSCRIPTIONS_GRACE_PERIOD_DAYS) runs
    # from here, and it expires when that ends.
    past_due_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

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
    DRAFT = "draft", "Draft"
    OPEN = "open", "Open"
    PAID = "paid", "Paid"
    OVERDUE = "overdue", "Overdue"
    VOID = "void", "Void"
    UNCOLLECTIBLE = "uncollectible", "Uncollectible"


PAYABLE_INVOICE_STATUSES = (
    InvoiceStatus.OPEN,
    InvoiceStatus.OVERDUE,
    InvoiceStatus.UNCOLLECTIBLE,
)


class InvoiceReason(models.TextChoices):
    SUBSCRIPTION_CREATE = "subscription_create", "First period"
    TRIAL_END = "trial_end", "Trial conversion"
    RENEWAL = "renewal", "Renewal"
    PLAN_CHANGE = "plan_change", "Plan change"
    REACTIVATION = "reactivation", "Reactivation"
    MANUAL = "manual", "Manual"


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

    number = models.CharField(max_length=32, unique=True, null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="invoices"
    )
    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, null=True, blank=True, related_name="invoices"
    )
    status = models.CharField(
        max_length=13, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT
    )
    reason = models.CharField(
        max_length=20, choices=InvoiceReason.choices, default=InvoiceReason.MANUAL
    )
    # The plan this invoice bills for (the new plan for a plan change or a renewal that
    # applies a scheduled downgrade).
    plan = models.ForeignKey(
        Plan, on_delete=models.PROTECT, null=True, blank=True, related_name="invoices"
    )
    currency = models.CharField(max_length=3, default="IDR")
    subtotal = models.DecimalField(**MONEY, default=Decimal("0"))
    discount = models.DecimalField(**MONEY, default=Decimal("0"))
    tax = models.DecimalField(**MONEY, default=Decimal("0"))
    total = models.DecimalField(**MONEY, default=Decimal("0"))
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    due_date = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True)
    # Starting a gateway checkout, paying from the wallet and marking paid offline are
    # serialised on the invoice: each claims it (under the row lock) for the seconds its
    # gateway calls take, so a second attempt started meanwhile is refused, not doubled.
    checkout_claim = models.CharField(max_length=32, blank=True, editable=False)
    checkout_claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

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

    def __str__(self) -> str:
        return self.number or f"Draft invoice #{self.pk}"

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
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    description = models.CharField(max_length=255)
    quantity = models.PositiveIntegerField(default=1)
    unit_amount = models.DecimalField(**MONEY)
    amount = models.DecimalField(**MONEY)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    is_proration = models.BooleanField(default=False)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, null=True, blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.description}: {self.amount}"


class PaymentStatus(models.TextChoices):
    """Midtrans ``transaction_status`` values, stored as received."""

    PENDING = "pending", "Pending"
    AUTHORIZE = "authorize", "Authorized"
    CAPTURE = "capture", "Captured"
    SETTLEMENT = "settlement", "Settled"
    DENY = "deny", "Denied"
    CANCEL = "cancel", "Cancelled"
    EXPIRE = "expire", "Expired"
    FAILURE = "failure", "Failed"
    REFUND = "refund", "Refunded"
    PARTIAL_REFUND = "partial_refund", "Partially refunded"


FAILED_PAYMENT_STATUSES = (
    PaymentStatus.DENY,
    PaymentStatus.CANCEL,
    PaymentStatus.EXPIRE,
    PaymentStatus.FAILURE,
)


class FraudStatus(models.TextChoices):
    NONE = "", "—"
    ACCEPT = "accept", "Accept"
    CHALLENGE = "challenge", "Challenge"
    DENY = "deny", "Deny"


class Payment(TrackedModel):
    tracked_fields = ("status", "is_paid", "refunded_amount")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments"
    )
    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, null=True, blank=True, related_name="payments"
    )
    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="payments"
    )
    order_id = models.CharField(max_length=50, unique=True, validators=[order_id_validator])
    gross_amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, default="IDR")
    status = models.CharField(
        max_length=14, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    fraud_status = models.CharField(
        max_length=9, choices=FraudStatus.choices, default="", blank=True
    )
    payment_type = models.CharField(max_length=40, blank=True)
    gateway = models.CharField(max_length=20, blank=True)
    is_paid = models.BooleanField(default=False)
    paid_at = models.DateTimeField(null=True, blank=True)
    refunded_amount = models.DecimalField(**MONEY, default=Decimal("0"))
    # Money that arrived for an invoice that was already paid or void (an attempt the
    # gateway settled although it was superseded): never kept, returned by a Refund.
    overpaid_amount = models.DecimalField(**MONEY, default=Decimal("0"))
    transaction_id = models.CharField(max_length=64, blank=True)
    snap_token = models.CharField(max_length=100, blank=True)
    redirect_url = models.URLField(max_length=500, blank=True)
    gateway_response = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

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
    PENDING = "pending", "In progress"
    SUCCEEDED = "succeeded", "Refunded"
    FAILED = "failed", "Failed"


class RefundDestination(models.TextChoices):
    GATEWAY = "gateway", "Card or account"
    WALLET = "wallet", "Wallet"


class RefundKind(models.TextChoices):
    STAFF = "staff", "Refund by staff"
    OVERPAYMENT = "overpayment", "Overpayment returned"
    EXTERNAL = "external", "Refund made at the gateway"


class Refund(models.Model):
    """One refund of (part of) a payment: recorded *before* the gateway is asked, so
    a refund in flight counts against what can still be refunded, and its
    ``refund_key`` makes a retry the same refund at Midtrans.

    ``shortfall``: for a refunded wallet top-up, the part of the refund the wallet's
    balance could no longer cover (a refund made outside the portal); staff see it.
    """

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, default="IDR")
    destination = models.CharField(
        max_length=7, choices=RefundDestination.choices, default=RefundDestination.GATEWAY
    )
    kind = models.CharField(max_length=11, choices=RefundKind.choices, default=RefundKind.STAFF)
    status = models.CharField(
        max_length=9, choices=RefundStatus.choices, default=RefundStatus.PENDING
    )
    reason = models.TextField(blank=True)
    refund_key = models.CharField(max_length=100, unique=True)
    shortfall = models.DecimalField(**MONEY, default=Decimal("0"))
    error = models.TextField(blank=True)
    gateway_response = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

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

    def __str__(self) -> str:
        return f"Refund {format_money(self.amount, self.currency)} of {self.payment_id}"

    @property
    def amount_display(self) -> str:
        return format_money(self.amount, self.currency)


class WebhookStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"
    INVALID = "invalid", "Invalid"
    DUPLICATE = "duplicate", "Duplicate"
    IGNORED = "ignored", "Ignored"
    # Authentic (validly signed) but impossible to apply (an amount that cannot be a
    # number, a refund larger than the payment): answered so that Midtrans stops
    # retrying, and kept for staff to look at.
    REJECTED = "rejected", "Rejected"


class WebhookLog(TrackedModel):
    tracked_fields = ("status",)

    provider = models.CharField(max_length=20, default="midtrans")
    body = models.TextField(blank=True)
    # The request body's size in bytes (``body`` may hold only a prefix of it).
    body_size = models.PositiveIntegerField(null=True, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    order_id = models.CharField(max_length=100, blank=True, db_index=True)
    transaction_status = models.CharField(max_length=30, blank=True)
    signature_valid = models.BooleanField(null=True)
    status = models.CharField(
        max_length=9, choices=WebhookStatus.choices, default=WebhookStatus.RECEIVED
    )
    payment = models.ForeignKey(
        Payment, on_delete=models.SET_NULL, null=True, blank=True, related_name="webhook_logs"
    )
    error = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        permissions = [("reprocess_webhooklog", "Can reprocess webhook notifications")]

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
        verbose_name = "overdue invoice"
        verbose_name_plural = "overdue invoices (queue)"


class OverpaidPayment(Payment):
    """The admin's "overpaid / returned" list (a proxy: payments with ``overpaid_amount``)."""

    class Meta:
        proxy = True
        verbose_name = "overpaid payment"
        verbose_name_plural = "overpaid payments (returned)"
