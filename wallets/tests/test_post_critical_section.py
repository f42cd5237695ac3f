"""How ``_post`` moves money: a look-up of the key, then one conditional ``UPDATE`` that
locks the wallet row and moves the balance, then the ledger row.

What must not change with it: exact balances (on SQLite too, which holds decimals as
floating point), the limits and their errors, one signal per ledger row seeing the new
balance, and a post racing another with the same key answered with the first post's row
without moving money twice.
"""

import threading
from decimal import ROUND_DOWN, Decimal

import pytest
from django.db import connection, connections, transaction
from django.db.models import Sum

from subscriptions import signals
from subscriptions.exceptions import BillingError, InsufficientFunds
from subscriptions.tests.factories import UserFactory
from subscriptions.tests.parallel import run_in_processes
from wallets.models import Wallet, WalletTransaction
from wallets.services import (
    MAX_BALANCE,
    IdempotencyConflict,
    wallet_credit,
    wallet_debit,
    wallet_get_or_create,
    wallet_reverse,
)
from wallets.tests.factories import funded_wallet


def ledger_sum(wallet):
    return wallet.transactions.aggregate(total=Sum("amount"))["total"] or Decimal("0")


@pytest.mark.django_db
def test_cents_add_up_exactly_over_many_movements(alice):
    wallet = wallet_get_or_create(user=alice)
    Wallet.objects.filter(pk=wallet.pk).update(currency="USD")
    wallet.refresh_from_db()
    expected = Decimal("0")
    for i in range(60):
        credit = Decimal("0.10") if i % 3 else Decimal("0.20")
        wallet_credit(wallet=wallet, amount=credit, kind="adjustment", idempotency_key=f"c{i}")
        expected += credit
        row = wallet_debit(
            wallet=wallet, amount=Decimal("0.07"), kind="payment", idempotency_key=f"d{i}"
        )
        expected -= Decimal("0.07")
        assert row.balance_after == expected == wallet.balance
    wallet.refresh_from_db()
    # SQLite's SUM adds floats: its total is exact only to the cent.
    assert wallet.balance == expected == ledger_sum(wallet).quantize(Decimal("0.01"))
    balances = list(wallet.transactions.order_by("pk").values_list("balance_after", flat=True))
    running, sums = Decimal("0"), []
    for amount in wallet.transactions.order_by("pk").values_list("amount", flat=True):
        running += amount
        sums.append(running)
    assert balances == sums


@pytest.mark.django_db
def test_a_debit_of_the_whole_balance_and_a_credit_up_to_the_limit_are_allowed(alice):
    wallet = funded_wallet(alice, 15000)
    row = wallet_debit(wallet=wallet, amount=Decimal("15000"), kind="payment", idempotency_key="a")
    assert row.balance_after == 0 == wallet.balance
    with pytest.raises(InsufficientFunds, match=r"holds Rp 0; Rp 1 is needed"):
        wallet_debit(wallet=wallet, amount=Decimal("1"), kind="payment", idempotency_key="b")
    largest = MAX_BALANCE.quantize(Decimal("1"), rounding=ROUND_DOWN)  # whole rupiah
    top = wallet_credit(wallet=wallet, amount=largest, kind="adjustment", idempotency_key="c")
    assert top.balance_after == largest
    with pytest.raises(BillingError, match="cannot hold more than"):
        wallet_credit(wallet=wallet, amount=Decimal("1"), kind="adjustment", idempotency_key="d")
    wallet.refresh_from_db()
    assert wallet.balance == largest == ledger_sum(wallet)
    assert wallet.transactions.count() == 3
    assert not WalletTransaction.objects.filter(idempotency_key__in=["b", "d"]).exists()


@pytest.mark.django_db
def test_a_refused_debit_inside_an_outer_transaction_leaves_it_usable(alice):
    wallet = funded_wallet(alice, 1000)
    with transaction.atomic():
        with pytest.raises(InsufficientFunds):
            wallet_debit(wallet=wallet, amount=Decimal("5000"), kind="payment", idempotency_key="x")
        wallet_debit(wallet=wallet, amount=Decimal("400"), kind="payment", idempotency_key="y")
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("600") == ledger_sum(wallet)


@pytest.mark.django_db
def test_a_missing_wallet_is_still_does_not_exist(alice):
    wallet = Wallet(pk=987654, user=alice, currency="IDR")
    with pytest.raises(Wallet.DoesNotExist):
        wallet_debit(wallet=wallet, amount=Decimal("1"), kind="payment", idempotency_key="m")


@pytest.mark.django_db
def test_receivers_of_a_movement_see_the_new_balance_on_the_row_and_in_the_database(alice, staff):
    wallet = funded_wallet(alice, 10000)
    seen = []

    def receiver(sender, instance, **kwargs):
        stored = Wallet.objects.values_list("balance", flat=True).get(pk=instance.wallet_id)
        seen.append((instance.amount, instance.balance_after, instance.wallet.balance, stored))

    signals.wallet_debited.connect(receiver)
    signals.wallet_credited.connect(receiver)
    try:
        entry = wallet_debit(
            wallet=wallet, amount=Decimal("2500"), kind="payment", idempotency_key="p"
        )
        wallet_reverse(entry=entry, reason="Charged twice", created_by=staff)
    finally:
        signals.wallet_debited.disconnect(receiver)
        signals.wallet_credited.disconnect(receiver)
    assert seen == [
        (Decimal("-2500"), Decimal("7500"), Decimal("7500"), Decimal("7500")),
        (Decimal("2500"), Decimal("10000"), Decimal("10000"), Decimal("10000")),
    ]


# --- PostgreSQL: a post with the same key commits between the look-up and the INSERT ---


def _post_between_lookup_and_insert(key: str, other_post):
    """An execute wrapper that, right after this connection's look-up of ``key``, runs
    ``other_post`` to completion in another thread (its own connection and commit)."""
    done = []

    def wrapper(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not done and sql.startswith("SELECT") and params and key in params:
            done.append(True)

            def run():
                try:
                    done.append(other_post())
                except Exception as error:  # reported to the test below
                    done.append(error)
                finally:
                    connections.close_all()

            thread = threading.Thread(target=run)
            thread.start()
            thread.join(timeout=30)
        return result

    return wrapper, done


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_post_racing_one_with_the_same_key_answers_the_first_row_and_moves_money_once():
    wallet = funded_wallet(UserFactory(), 50000)
    debited = []

    def receiver(sender, instance, **kwargs):
        debited.append(instance.idempotency_key)

    def first():
        return wallet_debit(
            wallet=Wallet.objects.get(pk=wallet.pk),
            amount=Decimal("20000"),
            kind="payment",
            idempotency_key="race",
        )

    wrapper, done = _post_between_lookup_and_insert("race", first)
    signals.wallet_debited.connect(receiver)
    try:
        with connection.execute_wrapper(wrapper):
            answer = wallet_debit(
                wallet=wallet, amount=Decimal("20000"), kind="payment", idempotency_key="race"
            )
    finally:
        signals.wallet_debited.disconnect(receiver)
    first_row = done[1]
    assert isinstance(first_row, WalletTransaction)
    assert answer.pk == first_row.pk
    assert wallet.balance == Decimal("30000")
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("30000") == ledger_sum(wallet)
    assert wallet.transactions.count() == 2
    assert debited == ["race"]  # the first post's signal only: the second inserted nothing


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_racing_post_with_the_same_key_and_another_amount_is_a_conflict():
    wallet = funded_wallet(UserFactory(), 50000)

    def first():
        return wallet_debit(
            wallet=Wallet.objects.get(pk=wallet.pk),
            amount=Decimal("1000"),
            kind="payment",
            idempotency_key="race",
        )

    wrapper, done = _post_between_lookup_and_insert("race", first)
    with connection.execute_wrapper(wrapper), pytest.raises(IdempotencyConflict):
        wallet_debit(wallet=wallet, amount=Decimal("2000"), kind="payment", idempotency_key="race")
    assert isinstance(done[1], WalletTransaction)
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("49000") == ledger_sum(wallet)


def debit_same_key(index: int, wallet_pk: int) -> int:
    wallet = Wallet.objects.get(pk=wallet_pk)
    return wallet_debit(
        wallet=wallet, amount=Decimal("7000"), kind="payment", idempotency_key="same"
    ).pk


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_processes_posting_the_same_key_at_once_debit_once_and_get_one_row():
    wallet = funded_wallet(UserFactory(), 50000)
    pks = run_in_processes("wallets.tests.test_post_critical_section:debit_same_key", 8, wallet.pk)
    row = WalletTransaction.objects.get(idempotency_key="same")
    assert pks == [row.pk] * 8
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("43000") == ledger_sum(wallet)
    assert wallet.transactions.count() == 2
