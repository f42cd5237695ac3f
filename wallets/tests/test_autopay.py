import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
from django.db.models import Sum

from subscriptions.models import BillingEvent, Invoice, Subscription
from subscriptions.services.billing_run import run_billing
from subscriptions.tests.factories import PlanFactory, SubscriptionFactory, UserFactory
from subscriptions.tests.parallel import run_in_processes
from wallets.models import Wallet, WalletTransaction
from wallets.services import wallet_set_auto_pay
from wallets.tests.factories import funded_wallet

JKT = zoneinfo.ZoneInfo("Asia/Jakarta")


def at(year, month, day, hour=9):
    return dt.datetime(year, month, day, hour, tzinfo=JKT)


def subscriber(plan, balance, auto_pay=True):
    sub = SubscriptionFactory(
        plan=plan,
        current_period_start=at(2026, 1, 1),
        current_period_end=at(2026, 2, 1),
        billing_anchor=at(2026, 1, 1),
    )
    wallet = funded_wallet(sub.user, balance)
    wallet_set_auto_pay(wallet=wallet, enabled=auto_pay)
    return sub


@pytest.mark.django_db
def test_auto_pay_renews_from_a_funded_wallet():
    plan = PlanFactory(price=Decimal("150000"))
    sub = subscriber(plan, 200000)
    report = run_billing(now=at(2026, 2, 1))
    assert report.counts["renewed_auto_paid"] == 1
    sub.refresh_from_db()
    invoice = Invoice.objects.get(subscription=sub)
    assert invoice.status == "paid"
    assert invoice.payments.get().payment_type == "wallet"
    assert sub.current_period_end == at(2026, 3, 1)
    assert sub.user.wallet.balance == Decimal("50000")


@pytest.mark.django_db
@pytest.mark.parametrize(("balance", "auto_pay"), [(100000, True), (500000, False)])
def test_without_auto_pay_or_funds_the_renewal_invoice_stays_open(balance, auto_pay):
    plan = PlanFactory(price=Decimal("150000"))
    sub = subscriber(plan, balance, auto_pay=auto_pay)
    report = run_billing(now=at(2026, 2, 1))
    assert report.counts["renewal_invoiced"] == 1
    assert Invoice.objects.get(subscription=sub).status == "open"
    assert sub.user.wallet.balance == Decimal(balance)


@pytest.mark.django_db
def test_a_top_up_during_dunning_is_collected_at_the_next_reminder():
    plan = PlanFactory(price=Decimal("150000"))
    sub = subscriber(plan, 0)
    run_billing(now=at(2026, 2, 1))
    invoice = Invoice.objects.get(subscription=sub)
    run_billing(now=invoice.due_date)
    funded_wallet(sub.user, 150000)
    report = run_billing(now=invoice.due_date + dt.timedelta(days=1))
    assert report.counts["overdue_auto_paid"] == 1
    invoice.refresh_from_db()
    sub.refresh_from_db()
    assert invoice.status == "paid"
    assert sub.status == "active"


SUBSCRIBERS = 40


def billing_worker(index: int, when: str) -> dict:
    report = run_billing(now=dt.datetime.fromisoformat(when), batch_size=7)
    return {"counts": dict(report.counts), "failures": report.failures}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_billing_runs_at_once_produce_no_duplicate_invoice_charge_or_reminder():
    plan = PlanFactory(price=Decimal("100000"))
    for i in range(SUBSCRIBERS):
        subscriber(plan, 250000 if i % 2 else 0)
    for _ in range(5):  # subscriptions with a renewal reminder due
        SubscriptionFactory(
            plan=plan,
            user=UserFactory(),
            current_period_start=at(2026, 1, 3),
            current_period_end=at(2026, 2, 3),
            billing_anchor=at(2026, 1, 3),
        )
    results = run_in_processes(
        "wallets.tests.test_autopay:billing_worker", 2, at(2026, 2, 1, 10).isoformat()
    )
    assert all(not r["failures"] for r in results)
    invoices = Invoice.objects.filter(reason="renewal")
    assert invoices.count() == SUBSCRIBERS
    assert invoices.filter(status="paid").count() == SUBSCRIBERS // 2
    debits = WalletTransaction.objects.filter(kind="payment")
    assert debits.count() == SUBSCRIBERS // 2
    for wallet in Wallet.objects.all():
        total = wallet.transactions.aggregate(total=Sum("amount"))["total"] or 0
        assert wallet.balance == total >= 0
    assert BillingEvent.objects.filter(kind="renewal_reminder").count() == 5
    handled = sum(
        r["counts"].get("renewed_auto_paid", 0) + r["counts"].get("renewal_invoiced", 0)
        for r in results
    )
    assert handled == SUBSCRIBERS
    assert (
        Subscription.objects.filter(current_period_end=at(2026, 3, 1)).count() == SUBSCRIBERS // 2
    )
