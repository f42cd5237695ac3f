"""Property and concurrency tests: the balance always equals the sum of the ledger."""

import random
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from subscriptions import services
from subscriptions.exceptions import BillingError, InsufficientFunds
from subscriptions.tests.factories import UserFactory
from subscriptions.tests.parallel import run_in_processes
from wallets.models import Wallet, WalletTransaction
from wallets.services import (
    topup_create,
    wallet_adjust,
    wallet_credit,
    wallet_debit,
    wallet_get_or_create,
)

amounts = st.integers(min_value=1, max_value=2_000_000).map(Decimal)


class WalletLedgerMachine(RuleBasedStateMachine):
    """Random sequences of top-ups, debits, refunds and adjustments on one wallet."""

    def __init__(self):
        super().__init__()
        self.user = UserFactory()
        self.staff = UserFactory(is_staff=True)
        self.wallet = wallet_get_or_create(user=self.user)
        self.expected = Decimal("0")
        self.payments = []
        self.counter = 0

    def key(self):
        self.counter += 1
        return f"machine:{self.wallet.pk}:{self.counter}"

    @rule(
        amount=st.integers(min_value=10_000, max_value=5_000_000).map(Decimal), settle=st.booleans()
    )
    def top_up(self, amount, settle):
        topup = topup_create(user=self.user, amount=amount)
        status = "settlement" if settle else "expire"
        services.payment_apply_status(payment=topup.payment, transaction_status=status)
        # A repeated notification never credits twice.
        services.payment_apply_status(payment=topup.payment, transaction_status=status)
        if settle:
            self.expected += amount
            self.payments.append(topup.payment)

    @rule(amount=amounts)
    def debit(self, amount):
        try:
            wallet_debit(
                wallet=self.wallet, amount=amount, kind="payment", idempotency_key=self.key()
            )
        except InsufficientFunds:
            assert amount > self.expected
        else:
            self.expected -= amount

    @rule(amount=amounts, data=st.data())
    def refund_at_the_gateway(self, amount, data):
        """A refund of a top-up made in the gateway's dashboard (its notification) takes
        the credit back, as far as the wallet still holds it; the rest is a shortfall."""
        if not self.payments:
            return
        payment = data.draw(st.sampled_from(self.payments))
        payment.refresh_from_db()
        if payment.status == "refund":
            return
        total = payment.refunded_amount + amount
        status = "refund" if total == payment.gross_amount else "partial_refund"
        if total > payment.gross_amount:
            with pytest.raises(BillingError), transaction.atomic():
                services.payment_apply_status(
                    payment=payment, transaction_status=status, refunded_amount=total
                )
            return
        before = Wallet.objects.get(pk=self.wallet.pk).balance
        services.payment_apply_status(
            payment=payment, transaction_status=status, refunded_amount=total
        )
        taken = min(amount, before)
        self.expected -= taken
        assert payment.refunds.latest("pk").shortfall == amount - taken

    @rule(amount=st.integers(min_value=-2_000_000, max_value=2_000_000).filter(bool).map(Decimal))
    def adjust(self, amount):
        try:
            wallet_adjust(wallet=self.wallet, amount=amount, reason="fix", created_by=self.staff)
        except InsufficientFunds:
            assert self.expected + amount < 0
        else:
            self.expected += amount

    @invariant()
    def balance_equals_the_ledger(self):
        wallet = Wallet.objects.get(pk=self.wallet.pk)
        total = wallet.transactions.aggregate(total=Sum("amount"))["total"] or Decimal("0")
        assert wallet.balance == total == self.expected
        assert wallet.balance >= 0
        last = wallet.transactions.order_by("-pk").first()
        assert last is None or last.balance_after == wallet.balance


@pytest.mark.django_db
def test_the_balance_always_equals_the_sum_of_the_ledger():
    run_state_machine_as_test(
        WalletLedgerMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


# --- PostgreSQL: real processes at once ---------------------------------------------------

OPS_PER_PROCESS = 200
PROCESSES = 8


def hammer_wallet(index: int, wallet_pk: int) -> dict:
    """Child process: 200 random debits and credits on one hot wallet."""
    wallet = Wallet.objects.get(pk=wallet_pk)
    rng = random.Random(index)
    result = {
        "credited": Decimal("0"),
        "debited": Decimal("0"),
        "refused": 0,
        "attempted_debits": 0,
    }
    for i in range(OPS_PER_PROCESS):
        amount = Decimal(rng.randint(1, 30) * 1000)
        key = f"hammer:{index}:{i}"
        if rng.random() < 0.6:
            result["attempted_debits"] += 1
            try:
                wallet_debit(wallet=wallet, amount=amount, kind="payment", idempotency_key=key)
            except InsufficientFunds:
                result["refused"] += 1
            else:
                result["debited"] += amount
        else:
            wallet_credit(wallet=wallet, amount=amount, kind="adjustment", idempotency_key=key)
            result["credited"] += amount
    return result


def settle_topup(index: int, payment_pk: int) -> str:
    from subscriptions.models import Payment

    payment = Payment.objects.get(pk=payment_pk)
    return services.payment_apply_status(payment=payment, transaction_status="settlement").outcome


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_processes_hammering_one_small_wallet_lose_nothing():
    user = get_user_model().objects.create_user("hot@example.com", "hot@example.com", "x")
    wallet = wallet_get_or_create(user=user)
    opening = Decimal("20000")
    wallet_credit(wallet=wallet, amount=opening, kind="adjustment", idempotency_key="opening")

    results = run_in_processes(
        "wallets.tests.test_ledger_properties:hammer_wallet", PROCESSES, wallet.pk
    )

    wallet.refresh_from_db()
    credited = sum(r["credited"] for r in results)
    debited = sum(r["debited"] for r in results)
    refused = sum(r["refused"] for r in results)
    ledger = wallet.transactions.aggregate(total=Sum("amount"))["total"]
    assert wallet.balance == opening + credited - debited == ledger
    assert wallet.balance >= 0
    assert not wallet.transactions.filter(balance_after__lt=0).exists()
    # Every debit either left a ledger row or was refused with InsufficientFunds.
    attempted = sum(r["attempted_debits"] for r in results)
    assert wallet.transactions.filter(kind="payment").count() == attempted - refused
    assert refused > 0  # the balance was small enough that some debits had to be refused
    assert WalletTransaction.objects.count() == 1 + PROCESSES * OPS_PER_PROCESS - refused


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_top_up_settlement_applied_many_times_at_once_credits_once():
    user = get_user_model().objects.create_user("topup@example.com", "topup@example.com", "x")
    topup = topup_create(user=user, amount=Decimal("75000"))
    outcomes = run_in_processes(
        "wallets.tests.test_ledger_properties:settle_topup", PROCESSES, topup.payment.pk
    )
    assert sorted(outcomes) == ["applied"] + ["duplicate"] * (PROCESSES - 1)
    wallet = Wallet.objects.get(user=user)
    assert wallet.balance == Decimal("75000")
    assert wallet.transactions.count() == 1
