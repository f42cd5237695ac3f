"""Twelve months of a subscriber population, one day at a time, with random events.

Each simulated day: subscribers do random things through the services (upgrade,
downgrade, pause, resume, cancel, top up, switch auto-pay, pay or fail an invoice),
then the billing run runs, then the invariants are checked:

- never two live invoices for one subscription period;
- never an invoice created while its subscription is paused or after it ended;
- every renewal moved the subscription into a period paid by exactly one paid invoice;
- every past_due subscription that expires does so at the end of its grace period;
- every wallet balance equals the sum of its ledger and is never negative.

It lives in ``wallets`` because it exercises billing and wallet together.
"""

from __future__ import annotations

import datetime as dt
import random
import zoneinfo
from collections import Counter
from decimal import Decimal

import pytest
import time_machine
from django.db.models import Count, Sum

from subscriptions import services, signals
from subscriptions.app_settings import app_settings
from subscriptions.exceptions import BillingError
from subscriptions.models import Invoice, Plan, Subscription
from subscriptions.services.billing_run import run_billing
from subscriptions.tests.factories import PlanFactory, UserFactory
from wallets.models import Wallet
from wallets.services import (
    topup_create,
    wallet_get_or_create,
    wallet_pay_invoice,
    wallet_set_auto_pay,
)

JKT = zoneinfo.ZoneInfo("Asia/Jakarta")
START = dt.datetime(2026, 1, 1, 8, tzinfo=JKT)
DAYS = 365
SUBSCRIBERS = 16


class Observer:
    """Receivers that check the invariants at the moment things happen."""

    def __init__(self):
        self.violations: list[str] = []
        self.renewals: list[tuple[int, dt.datetime]] = []
        self.expired_after_grace: list[dt.timedelta] = []
        self.counts = Counter()
        self.now = START

    def on_invoice_created(self, sender, instance, **kwargs):
        sub = instance.subscription
        if sub is not None:
            status = Subscription.objects.values_list("status", flat=True).get(pk=sub.pk)
            if status in ("paused", "cancelled", "expired"):
                self.violations.append(f"invoice {instance} created while {status}")
        self.counts["invoices"] += 1

    def on_renewed(self, sender, instance, period_start, period_end, invoice=None, **kwargs):
        self.renewals.append((instance.pk, period_start))
        self.counts["renewals"] += 1

    def on_expired(self, sender, instance, previous_status=None, **kwargs):
        if previous_status == "past_due":
            self.expired_after_grace.append(self.now - instance.past_due_at)
        self.counts["expired"] += 1

    def connect(self):
        signals.invoice_created.connect(self.on_invoice_created)
        signals.subscription_renewed.connect(self.on_renewed)
        signals.subscription_expired.connect(self.on_expired)

    def disconnect(self):
        signals.invoice_created.disconnect(self.on_invoice_created)
        signals.subscription_renewed.disconnect(self.on_renewed)
        signals.subscription_expired.disconnect(self.on_expired)


def settle(payment, status="settlement"):
    return services.payment_apply_status(payment=payment, transaction_status=status)


def act(rng: random.Random, user, plans: list[Plan], now: dt.datetime, counts: Counter):
    """One random thing a subscriber might do today, through the services only."""
    sub = Subscription.objects.filter(user=user).select_related("plan").first()
    roll = rng.random()
    try:
        invoice = Invoice.objects.payable().filter(user=user).order_by("pk").first()
        if invoice is not None and rng.random() < 0.5:
            pay_or_fail(rng, user, invoice, counts)
            return
        if sub is None or not sub.is_live:
            if roll < 0.3:
                if sub is None:
                    services.subscription_create(user=user, plan=rng.choice(plans))
                else:
                    services.subscription_reactivate(subscription=sub)
                counts["subscribe"] += 1
            return
        if roll < 0.04 and sub.status == "active":
            services.subscription_pause(
                subscription=sub,
                resume_at=now + dt.timedelta(days=rng.randint(3, 40))
                if rng.random() < 0.7
                else None,
            )
            counts["pause"] += 1
        elif roll < 0.08 and sub.status == "paused":
            services.subscription_resume(subscription=sub)
            counts["resume"] += 1
        elif roll < 0.10:
            services.subscription_cancel(
                subscription=sub, at_period_end=rng.random() < 0.7, reason="simulated"
            )
            counts["cancel"] += 1
        elif roll < 0.13 and sub.cancel_at_period_end:
            services.subscription_undo_cancel(subscription=sub)
            counts["undo_cancel"] += 1
        elif roll < 0.19:
            other = rng.choice([p for p in plans if p.pk != sub.plan_id])
            result = services.subscription_change_plan(subscription=sub, new_plan=other)
            counts[f"change_{result.kind}"] += 1
        elif roll < 0.25:
            topup = topup_create(user=user, amount=Decimal(rng.choice([50000, 150000, 400000])))
            settle(topup.payment, "settlement" if rng.random() < 0.85 else "deny")
            counts["top_up"] += 1
        elif roll < 0.28:
            wallet = wallet_get_or_create(user=user)
            wallet_set_auto_pay(wallet=wallet, enabled=not wallet.auto_pay)
            counts["toggle_auto_pay"] += 1
    except BillingError:
        counts["refused"] += 1


def pay_or_fail(rng: random.Random, user, invoice: Invoice, counts: Counter):
    choice = rng.random()
    if choice < 0.5:
        payment = services.payment_create(user=user, amount=invoice.total, invoice=invoice)
        settle(payment)
        counts["pay_gateway"] += 1
    elif choice < 0.7:
        wallet_pay_invoice(invoice=invoice, user=user)
        counts["pay_wallet"] += 1
    else:
        payment = services.payment_create(user=user, amount=invoice.total, invoice=invoice)
        settle(payment, rng.choice(["deny", "expire", "cancel"]))
        counts["pay_failed"] += 1


def check_invariants(observer: Observer):
    assert not observer.violations, observer.violations[:5]
    duplicates = (
        Invoice.objects.exclude(status="void")
        .filter(reason__in=["renewal", "trial_end", "subscription_create", "reactivation"])
        .values("subscription", "period_start")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    )
    assert not duplicates.exists(), list(duplicates)
    for balance, total in Wallet.objects.annotate(total=Sum("transactions__amount")).values_list(
        "balance", "total"
    ):
        assert balance == (total or Decimal("0")) >= 0, (balance, total)


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [7, 2026])
def test_twelve_months_of_random_subscribers_keep_every_billing_invariant(seed):
    rng = random.Random(seed)
    plans = [
        PlanFactory(name="Starter", price=Decimal("49000")),
        PlanFactory(name="Pro", price=Decimal("149000"), trial_period_days=14),
        PlanFactory(name="Business", price=Decimal("499000")),
        PlanFactory(name="Pro yearly", price=Decimal("1490000"), interval_unit="year"),
    ]
    users = [UserFactory() for _ in range(SUBSCRIBERS)]
    observer = Observer()
    observer.connect()
    counts = Counter()
    try:
        for day in range(DAYS):
            now = START + dt.timedelta(days=day)
            observer.now = now
            with time_machine.travel(now, tick=False):
                for user in users:
                    if rng.random() < 0.35:
                        act(rng, user, plans, now, counts)
                report = run_billing(now=now)
                assert report.ok, report.summary()
                counts.update(report.counts)
            check_invariants(observer)
    finally:
        observer.disconnect()

    # Every renewal landed in a period paid by exactly one paid invoice.
    paid = Counter(
        Invoice.objects.filter(status="paid", reason="renewal").values_list(
            "subscription", "period_start"
        )
    )
    assert Counter(observer.renewals) == paid
    assert all(n == 1 for n in paid.values())
    # Expiry after grace happened exactly at the grace end (the run goes daily).
    grace = dt.timedelta(days=app_settings.GRACE_PERIOD_DAYS)
    assert all(
        grace <= waited < grace + dt.timedelta(days=1) for waited in observer.expired_after_grace
    )
    # The simulation really exercised the system.
    assert observer.counts["renewals"] > 10
    for kind in (
        "pause",
        "resume",
        "cancel",
        "top_up",
        "pay_wallet",
        "pay_failed",
        "change_upgrade",
        "change_downgrade",
    ):
        assert counts[kind] > 0, (kind, counts)
    assert counts["renewed_auto_paid"] > 0
    assert counts["expired_after_grace"] > 0
    assert counts["cancelled_at_period_end"] > 0
