"""A renewal in two transactions: (1) issue the numbered renewal invoice, (2) collect it.

The second transaction is what a crash can lose; the next run's "renewal collection"
step collects such an invoice once. These tests cut the renewal after its first
transaction by running only that one (the step's own handler inside the row's
transaction, as ``run_billing`` does) and never calling what it returns.
"""

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Count, Sum

from subscriptions.models import BillingEvent, Invoice, Payment, Subscription
from subscriptions.services import billing_run
from subscriptions.services.billing_run import run_billing
from subscriptions.tests.factories import PlanFactory, SubscriptionFactory
from subscriptions.tests.parallel import run_in_processes
from subscriptions.tests.signal_recorder import record_signals
from wallets.models import Wallet, WalletTransaction
from wallets.services import wallet_set_auto_pay
from wallets.tests.factories import funded_wallet

JKT = zoneinfo.ZoneInfo("Asia/Jakarta")
PRICE = Decimal("100000")


def at(year, month, day, hour=9, second=0):
    return dt.datetime(year, month, day, hour, 0, second, tzinfo=JKT)


def subscriber(plan, balance=None, *, status="active", **kwargs):
    sub = SubscriptionFactory(
        plan=plan,
        status=status,
        current_period_start=at(2026, 1, 1),
        current_period_end=at(2026, 2, 1),
        billing_anchor=at(2026, 1, 1),
        **kwargs,
    )
    if balance is not None:
        wallet_set_auto_pay(wallet=funded_wallet(sub.user, balance), enabled=True)
    return sub


def issue_only(sub, now, step_name="renewals"):
    """The renewal's first transaction, committed; its second one never runs (a crash)."""
    step = next(step for step in billing_run.STEPS if step.name == step_name)
    with transaction.atomic():
        locked = billing_run._lock_if_still_due(step, sub.pk, now)
        assert locked is not None
        then = step.handle(locked, now)
    assert callable(then)
    return Invoice.objects.get(subscription=sub, period_start=sub.current_period_end)


@pytest.fixture
def plan():
    return PlanFactory(price=PRICE)


@pytest.mark.django_db
def test_an_auto_paid_renewal_is_issued_then_paid_and_each_signal_is_sent_once(plan):
    sub = subscriber(plan, 250000)
    with record_signals() as sent:
        report = run_billing(now=at(2026, 2, 1, 10))
    assert report.ok, report.summary()
    assert dict(report.counts) == {"renewed_auto_paid": 1}
    invoice = Invoice.objects.get(subscription=sub)
    assert invoice.status == "paid"
    assert sent.one("invoice_created").status == "open"  # issued, numbered
    assert sent.one("invoice_created").instance.number == invoice.number
    for name in (
        "invoice_paid",
        "payment_created",
        "payment_success",
        "wallet_debited",
        "subscription_renewed",
    ):
        sent.one(name)
    assert sent.one("subscription_renewed").kwargs["invoice"].pk == invoice.pk
    assert "invoice_overdue" not in sent.names()
    sub.refresh_from_db()
    assert sub.current_period_end == at(2026, 3, 1)
    assert sub.user.wallet.balance == Decimal("150000")


@pytest.mark.django_db
def test_an_invoice_issued_before_a_crash_is_collected_by_the_next_run_exactly_once(plan):
    sub = subscriber(plan, 250000)
    invoice = issue_only(sub, at(2026, 2, 1, 10))
    assert invoice.status == "open"
    assert not invoice.payments.exists()
    sub.refresh_from_db()
    assert sub.current_period_end == at(2026, 2, 1)  # not renewed yet

    with record_signals() as sent:
        report = run_billing(now=at(2026, 2, 1, 11))
    assert report.ok, report.summary()
    assert dict(report.counts) == {"recovered_renewed_auto_paid": 1}
    assert "invoice_created" not in sent.names()  # no second invoice
    sent.one("invoice_paid")
    sent.one("wallet_debited")
    sent.one("subscription_renewed")
    invoice.refresh_from_db()
    sub.refresh_from_db()
    assert invoice.status == "paid"
    assert invoice.payments.get().is_paid
    assert sub.current_period_end == at(2026, 3, 1)
    assert sub.user.wallet.balance == Decimal("150000")
    assert WalletTransaction.objects.filter(wallet__user=sub.user, kind="payment").count() == 1

    # Nothing is left to do, however often the run goes.
    for hour in (12, 13):
        assert not run_billing(now=at(2026, 2, 1, hour)).counts
    assert Invoice.objects.filter(subscription=sub).count() == 1


@pytest.mark.django_db
def test_a_run_of_only_the_collection_step_collects_what_a_crash_left_and_renews_nothing_else(
    plan,
):
    left = subscriber(plan, 250000)
    invoice = issue_only(left, at(2026, 2, 1, 10))
    due = subscriber(plan, 250000)  # due as well, but not this run's business

    report = run_billing(now=at(2026, 2, 1, 11), steps=[billing_run.COLLECTION])

    assert report.ok, report.summary()
    assert dict(report.counts) == {"recovered_renewed_auto_paid": 1}
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert not Invoice.objects.filter(subscription=due).exists()


@pytest.mark.django_db
def test_a_refused_collection_is_not_attempted_again_dunning_stays_as_it_was(plan):
    sub = subscriber(plan, 0)  # auto-pay on, nothing in the wallet
    report = run_billing(now=at(2026, 2, 1, 10))
    assert dict(report.counts) == {"renewal_invoiced": 1}
    invoice = Invoice.objects.get(subscription=sub)
    assert BillingEvent.objects.filter(invoice=invoice, kind="renewal_collection_declined")

    # A top-up afterwards is not collected by the next run, only at a dunning step.
    wallet = Wallet.objects.get(user=sub.user)
    funded_wallet(sub.user, 250000)
    wallet.refresh_from_db()
    assert not run_billing(now=at(2026, 2, 2)).counts
    invoice.refresh_from_db()
    assert invoice.status == "open"
    run_billing(now=invoice.due_date)
    report = run_billing(now=invoice.due_date + dt.timedelta(days=1))
    assert report.counts["overdue_auto_paid"] == 1


@pytest.mark.django_db
def test_a_trial_end_left_between_its_two_transactions_is_finished_by_the_next_run():
    plan = PlanFactory(price=PRICE, trial_period_days=14)
    sub = subscriber(plan, status="trialing", trial_end=at(2026, 2, 1))
    invoice = issue_only(sub, at(2026, 2, 1, 10), step_name="trial endings")
    assert invoice.reason == "trial_end"
    sub.refresh_from_db()
    assert sub.status == "trialing"

    report = run_billing(now=at(2026, 2, 1, 11))
    assert report.ok, report.summary()
    assert report.counts["recovered_trials_unpaid"] == 1
    sub.refresh_from_db()
    assert sub.status == "past_due"
    assert Invoice.objects.filter(subscription=sub).count() == 1
    assert not run_billing(now=at(2026, 2, 1, 12)).counts.get("recovered_trials_unpaid")


@pytest.mark.django_db
def test_an_open_renewal_invoice_not_issued_by_the_run_is_left_alone(plan):
    # Issued by the service directly (the admin, a script): the run never collected such
    # an invoice at once, and still does not; dunning does, as before.
    from subscriptions import services

    sub = subscriber(plan, 250000)
    invoice = services.subscription_create_renewal_invoice(subscription=sub, now=at(2026, 1, 30))
    assert not run_billing(now=at(2026, 2, 1, 10)).counts.get("renewed_auto_paid")
    invoice.refresh_from_db()
    assert invoice.status == "open"


SUBSCRIBERS = 30
LEFT_OVER = 8  # of them, issued by an earlier run that died before collecting


def billing_worker(index: int, when: str) -> dict:
    # The second worker starts a second later: its "renewal collection" step may meet
    # the first worker's renewals between their two transactions.
    now = dt.datetime.fromisoformat(when) + dt.timedelta(seconds=index)
    report = run_billing(now=now, batch_size=7)
    return {"counts": dict(report.counts), "failures": report.failures}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_renew_and_recover_in_two_transactions_without_duplicates(plan):
    subs = [subscriber(plan, 250000) for _ in range(SUBSCRIBERS)]
    for sub in subs[:LEFT_OVER]:
        issue_only(sub, at(2026, 2, 1, 9, second=30))

    results = run_in_processes(
        "subscriptions.tests.test_billing_two_phase:billing_worker",
        2,
        at(2026, 2, 1, 10).isoformat(),
    )
    assert all(not r["failures"] for r in results), results

    invoices = Invoice.objects.filter(reason="renewal")
    assert invoices.count() == SUBSCRIBERS
    assert set(invoices.values_list("status", flat=True)) == {"paid"}
    assert invoices.values("subscription").distinct().count() == SUBSCRIBERS
    assert len(set(invoices.values_list("number", flat=True))) == SUBSCRIBERS
    assert not invoices.annotate(n=Count("payments")).exclude(n=1).exists()
    assert Payment.objects.filter(is_paid=True).count() == SUBSCRIBERS
    assert WalletTransaction.objects.filter(kind="payment").count() == SUBSCRIBERS
    for wallet in Wallet.objects.all():
        total = wallet.transactions.aggregate(total=Sum("amount"))["total"] or 0
        assert wallet.balance == total == Decimal("150000")
    assert Subscription.objects.filter(current_period_end=at(2026, 3, 1)).count() == SUBSCRIBERS

    def count(*keys):
        return sum(r["counts"].get(key, 0) for r in results for key in keys)

    # Each renewal was paid by exactly one worker, which counted it.
    assert count("renewed_auto_paid", "recovered_renewed_auto_paid") == SUBSCRIBERS
    assert count("recovered_renewed_auto_paid") >= LEFT_OVER


@pytest.mark.django_db(transaction=True)
def test_a_renewal_issued_by_another_run_after_the_due_check_is_skipped_and_takes_no_number(
    plan,
):
    # Between a run's due check and its lock, another run's first transaction may commit
    # the renewal invoice without changing the subscription row, so the lock does not
    # see it. The one-invoice-per-period constraint refuses the second invoice, and the
    # row is skipped with its whole transaction rolled back (the counter too).
    sub = subscriber(plan, 250000)
    first = issue_only(sub, at(2026, 2, 1, 10))

    def issue_again():
        with transaction.atomic():
            locked = Subscription.objects.select_for_update().select_related("plan", "user")
            billing_run._issue_renewal(locked.get(pk=sub.pk), at(2026, 2, 1, 10))

    with pytest.raises(billing_run._IssuedMeanwhile):
        issue_again()
    assert Invoice.objects.filter(subscription=sub).count() == 1
    later = subscriber(plan, 250000)
    report = run_billing(now=at(2026, 2, 1, 11))
    assert report.ok, report.summary()
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers[0] == first.number
    assert int(numbers[1][-6:]) == int(first.number[-6:]) + 1  # no gap
    assert Invoice.objects.get(subscription=later).status == "paid"
