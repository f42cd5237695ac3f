from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.db.models import Sum

from subscriptions import signals
from subscriptions.exceptions import BillingError, InsufficientFunds
from wallets.models import LedgerRowImmutable, TransactionKind, Wallet, WalletTransaction
from wallets.services import (
    IdempotencyConflict,
    wallet_adjust,
    wallet_credit,
    wallet_debit,
    wallet_get_or_create,
    wallet_reverse,
)
from wallets.tests.factories import funded_wallet

pytestmark = pytest.mark.django_db


def ledger_sum(wallet):
    return wallet.transactions.aggregate(total=Sum("amount"))["total"] or Decimal("0")


def test_a_wallet_is_created_once_per_user_on_first_need(alice):
    first = wallet_get_or_create(user=alice)
    assert wallet_get_or_create(user=alice) == first
    assert first.balance == 0
    assert first.currency == "IDR"


def test_a_credit_and_a_debit_move_the_balance_together_with_a_ledger_row(alice):
    wallet = wallet_get_or_create(user=alice)
    credit = wallet_credit(
        wallet=wallet, amount=Decimal("100000"), kind=TransactionKind.TOP_UP, idempotency_key="c1"
    )
    debit = wallet_debit(
        wallet=wallet, amount=Decimal("30000"), kind=TransactionKind.PAYMENT, idempotency_key="d1"
    )
    wallet.refresh_from_db()
    assert (credit.amount, credit.balance_after) == (Decimal("100000"), Decimal("100000"))
    assert (debit.amount, debit.balance_after) == (Decimal("-30000"), Decimal("70000"))
    assert wallet.balance == Decimal("70000") == ledger_sum(wallet)


def test_a_debit_larger_than_the_balance_is_refused_and_moves_nothing(alice):
    wallet = funded_wallet(alice, 20000)
    with pytest.raises(InsufficientFunds, match=r"Rp 20\.000"):
        wallet_debit(
            wallet=wallet,
            amount=Decimal("20001"),
            kind=TransactionKind.PAYMENT,
            idempotency_key="d",
        )
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("20000")
    assert wallet.transactions.count() == 1


def test_the_same_idempotency_key_twice_returns_the_first_row_and_moves_money_once(alice):
    wallet = funded_wallet(alice, 50000)
    first = wallet_debit(
        wallet=wallet, amount=Decimal("10000"), kind=TransactionKind.PAYMENT, idempotency_key="k"
    )
    again = wallet_debit(
        wallet=wallet, amount=Decimal("10000"), kind=TransactionKind.PAYMENT, idempotency_key="k"
    )
    assert again.pk == first.pk
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("40000")


def test_reusing_an_idempotency_key_for_another_amount_is_an_error(alice):
    wallet = funded_wallet(alice, 50000)
    wallet_debit(wallet=wallet, amount=Decimal("10000"), kind="payment", idempotency_key="k")
    with pytest.raises(IdempotencyConflict):
        wallet_debit(wallet=wallet, amount=Decimal("20000"), kind="payment", idempotency_key="k")


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-5")])
def test_zero_or_negative_credits_and_debits_are_refused(alice, amount):
    wallet = wallet_get_or_create(user=alice)
    with pytest.raises(BillingError):
        wallet_credit(wallet=wallet, amount=amount, kind="adjustment", idempotency_key="a")
    with pytest.raises(BillingError):
        wallet_debit(wallet=wallet, amount=amount, kind="adjustment", idempotency_key="b")


def test_ledger_rows_cannot_be_edited_or_deleted(alice):
    wallet = funded_wallet(alice, 10000)
    row = wallet.transactions.get()
    row.description = "changed"
    with pytest.raises(LedgerRowImmutable):
        row.save()
    with pytest.raises(LedgerRowImmutable):
        row.delete()
    assert WalletTransaction.objects.get(pk=row.pk).description == "Opening balance"


def test_the_database_refuses_a_negative_balance_and_a_zero_row(alice):
    wallet = funded_wallet(alice, 10000)
    with pytest.raises(IntegrityError), transaction.atomic():
        Wallet.objects.filter(pk=wallet.pk).update(balance=Decimal("-1"))
    with pytest.raises(IntegrityError), transaction.atomic():
        WalletTransaction.objects.create(
            wallet=wallet, amount=0, kind="adjustment", balance_after=0, idempotency_key="zero"
        )


def test_a_staff_adjustment_needs_a_reason_and_records_who_made_it(alice, staff):
    wallet = funded_wallet(alice, 10000)
    with pytest.raises(BillingError, match="reason"):
        wallet_adjust(wallet=wallet, amount=Decimal("5000"), reason="  ", created_by=staff)
    row = wallet_adjust(
        wallet=wallet, amount=Decimal("-4000"), reason="Goodwill mistake", created_by=staff
    )
    assert row.kind == "adjustment"
    assert row.created_by == staff
    assert "Goodwill mistake" in row.description
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("6000")


def test_a_reversal_is_a_new_opposite_row_and_only_once(alice, staff):
    wallet = funded_wallet(alice, 10000)
    entry = wallet_debit(wallet=wallet, amount=Decimal("3000"), kind="payment", idempotency_key="p")
    reversal = wallet_reverse(entry=entry, reason="Charged twice", created_by=staff)
    assert reversal.amount == Decimal("3000")
    assert reversal.reverses == entry
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("10000") == ledger_sum(wallet)
    with pytest.raises(BillingError, match="already been reversed"):
        wallet_reverse(entry=entry, reason="again", created_by=staff)


def test_credited_and_debited_signals_fire_once_per_ledger_row_by_sign(alice):
    seen = []

    def record(name):
        def receiver(sender, instance, **kwargs):
            seen.append((name, instance.amount))

        return receiver

    credited, debited = record("credited"), record("debited")
    signals.wallet_credited.connect(credited)
    signals.wallet_debited.connect(debited)
    try:
        wallet = wallet_get_or_create(user=alice)
        wallet_credit(wallet=wallet, amount=Decimal("9000"), kind="top_up", idempotency_key="c")
        wallet_debit(wallet=wallet, amount=Decimal("4000"), kind="payment", idempotency_key="d")
        # A replay of the same key is no new row, so no new signal.
        wallet_debit(wallet=wallet, amount=Decimal("4000"), kind="payment", idempotency_key="d")
    finally:
        signals.wallet_credited.disconnect(credited)
        signals.wallet_debited.disconnect(debited)
    assert seen == [("credited", Decimal("9000")), ("debited", Decimal("-4000"))]


def test_a_credit_past_the_largest_balance_is_refused_and_moves_nothing(alice):
    from wallets.services import MAX_BALANCE

    wallet = funded_wallet(alice, 10000)
    with pytest.raises(BillingError, match="cannot hold more than"):
        wallet_credit(wallet=wallet, amount=MAX_BALANCE, kind="adjustment", idempotency_key="big")
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("10000")
    assert wallet.transactions.count() == 1
