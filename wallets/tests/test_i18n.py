"""The wallet speaks the reader's language: its ledger's kinds, its top-ups' states and
the errors its services raise are translated when they are read or raised."""

from decimal import Decimal

import pytest
from django.utils import translation

from subscriptions.exceptions import BillingError, InsufficientFunds
from wallets.models import TopUpStatus, TransactionKind, Wallet, WalletTransaction
from wallets.services import validate_topup_amount, wallet_debit, wallet_get_or_create

pytestmark = pytest.mark.django_db


def test_the_ledger_kinds_and_top_up_states_are_indonesian():
    with translation.override("id"):
        assert [str(label) for label in TransactionKind.labels] == [
            "Isi saldo",
            "Pembayaran",
            "Pengembalian dana",
            "Penyesuaian",
            "Pembalikan",
            "Isi saldo dikembalikan",
        ]
        assert str(TopUpStatus.SUCCESS.label) == "Selesai"
        assert str(Wallet._meta.verbose_name) == "dompet"
        assert str(WalletTransaction._meta.get_field("balance_after").verbose_name) == (
            "saldo setelahnya"
        )
    with translation.override("en"):
        assert str(TransactionKind.TOP_UP.label) == "Top-up"


def test_a_ledger_row_names_its_kind_in_the_active_language(alice):
    from wallets.services import wallet_credit

    row = wallet_credit(
        wallet=wallet_get_or_create(user=alice),
        amount=Decimal("25000"),
        kind=TransactionKind.TOP_UP,
        idempotency_key="i18n-credit",
    )
    with translation.override("id"):
        assert row.get_kind_display() == "Isi saldo"
        assert str(row) == "Isi saldo +Rp 25.000"
    with translation.override("en"):
        assert str(row) == "Top-up +Rp 25.000"


def test_a_wallet_service_refuses_in_indonesian(alice):
    wallet = wallet_get_or_create(user=alice)
    with translation.override("id"):
        with pytest.raises(BillingError) as caught:
            validate_topup_amount(Decimal("1"))
        assert str(caught.value) == "Pengisian saldo harus antara Rp 10.000 dan Rp 50.000.000."

        with pytest.raises(InsufficientFunds) as caught:
            wallet_debit(
                wallet=wallet,
                amount=Decimal("5000"),
                kind=TransactionKind.PAYMENT,
                idempotency_key="i18n-debit",
            )
        assert str(caught.value) == "Saldo dompet Rp 0; dibutuhkan Rp 5.000."

    with (
        translation.override("en"),
        pytest.raises(BillingError, match="A top-up must be between"),
    ):
        validate_topup_amount(Decimal("1"))
