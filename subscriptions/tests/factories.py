from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from subscriptions.models import Plan, Subscription, SubscriptionStatus


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    username = factory.LazyAttribute(lambda o: o.email)
    password = factory.django.Password("correct horse battery")


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan

    name = factory.Sequence(lambda n: f"Plan {n}")
    slug = factory.Sequence(lambda n: f"plan-{n}")
    price = Decimal("150000")
    currency = "IDR"
    interval = 1
    interval_unit = "month"
    trial_period_days = 0
    features = factory.LazyFunction(lambda: {"max_projects": 3})


class SubscriptionFactory(factory.django.DjangoModelFactory):
    """A subscription row in any state, written directly (for tests that need a
    starting point; the code under test still goes through the services)."""

    class Meta:
        model = Subscription

    user = factory.SubFactory(UserFactory)
    plan = factory.SubFactory(PlanFactory)
    status = SubscriptionStatus.ACTIVE
    current_period_start = factory.LazyFunction(timezone.now)
    current_period_end = factory.LazyAttribute(
        lambda o: o.current_period_start + dt.timedelta(days=30)
    )
    billing_anchor = factory.LazyAttribute(lambda o: o.current_period_start)


# --- Payments, invoices and webhook logs (appended for the signal and transition tests) ---

from subscriptions.models import (  # noqa: E402
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    WebhookLog,
)

PAID_PAYMENT_STATUSES = ("capture", "settlement", "refund", "partial_refund")


class InvoiceFactory(factory.django.DjangoModelFactory):
    """An invoice row in any status, written directly. Not draft means it has a number
    (the ``issued_invoice_has_number`` constraint)."""

    class Meta:
        model = Invoice

    user = factory.SubFactory(UserFactory)
    status = InvoiceStatus.OPEN
    number = factory.LazyAttributeSequence(
        lambda o, n: None if o.status == InvoiceStatus.DRAFT else f"TEST-{n:06d}"
    )
    currency = "IDR"
    subtotal = Decimal("150000")
    total = Decimal("150000")


class PaymentFactory(factory.django.DjangoModelFactory):
    """A payment row in any Midtrans status; paid statuses come with ``is_paid`` set."""

    class Meta:
        model = Payment

    user = factory.SubFactory(UserFactory)
    order_id = factory.Sequence(lambda n: f"TEST-ORDER-{n}")
    gross_amount = Decimal("150000")
    currency = "IDR"
    status = PaymentStatus.PENDING
    is_paid = factory.LazyAttribute(lambda o: o.status in PAID_PAYMENT_STATUSES)
    refunded_amount = factory.LazyAttribute(
        lambda o: {
            PaymentStatus.REFUND: o.gross_amount,
            PaymentStatus.PARTIAL_REFUND: Decimal("50000"),
        }.get(o.status, Decimal("0"))
    )


class WebhookLogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookLog

    provider = "midtrans"
    body = '{"transaction_status": "settlement"}'
    order_id = factory.Sequence(lambda n: f"TEST-ORDER-{n}")
    transaction_status = "settlement"
    signature_valid = True
