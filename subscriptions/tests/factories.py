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
