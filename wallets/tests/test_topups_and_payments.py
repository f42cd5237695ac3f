from decimal import Decimal

import pytest
from django.test import override_settings

from subscriptions import services, signals
from subscriptions.exceptions import BillingError, InsufficientFunds, InvoiceNotPayable
from subscriptions.services import payment_refund
from subscriptions.tests.factories import PlanFactory
from wallets.models import TopUpStatus
from wallets.services import topup_create, wallet_pay_invoice
from wallets.tests.factories import funded_wallet

pytestmark = pytest.mark.django_db


class Recorder:
    def __init__(self, *names):
        self.events = []
        self.receivers = {}
        for name in names:
            signal = getattr(signals, name)

            def receiver(sender, instance, _name=name, **kwargs):
                self.events.append(_name)

            self.receivers[name] = receiver
            signal.connect(receiver)

    def close(self):
        for name, receiver in self.receivers.items():
            getattr(signals, name).disconnect(receiver)


@pytest.fixture
def recorder():
    made = []

    def make(*names):
        rec = Recorder(*names)
        made.append(rec)
        return rec

    yield make
    for rec in made:
        rec.close()


@pytest.fixture
def open_invoice(alice):
    plan = PlanFactory(price=Decimal("150000"))
    return services.subscription_create(user=alice, plan=plan).invoices.get()


def test_a_top_up_credits_the_wallet_only_when_its_payment_settles_and_only_once(alice, recorder):
    rec = recorder("topup_completed", "wallet_credited")
    topup = topup_create(user=alice, amount=Decimal("100000"))
    assert topup.status == TopUpStatus.PENDING
    assert topup.payment.gross_amount == Decimal("100000")
    assert topup.payment.invoice is None
    assert topup.wallet.balance == 0
    for _ in range(3):
        services.payment_apply_status(payment=topup.payment, transaction_status="settlement")
    topup.refresh_from_db()
    topup.wallet.refresh_from_db()
    assert topup.status == TopUpStatus.SUCCESS
    assert topup.completed_at is not None
    assert topup.wallet.balance == Decimal("100000")
    assert topup.wallet.transactions.get().kind == "top_up"
    assert rec.events == ["wallet_credited", "topup_completed"]


@pytest.mark.parametrize(
    ("status", "expected"),
    [("deny", "failed"), ("cancel", "failed"), ("failure", "failed"), ("expire", "expired")],
)
def test_a_failed_or_expired_top_up_is_marked_so_and_credits_nothing(alice, status, expected):
    topup = topup_create(user=alice, amount=Decimal("50000"))
    services.payment_apply_status(payment=topup.payment, transaction_status=status)
    topup.refresh_from_db()
    assert topup.status == expected
    assert topup.wallet.transactions.count() == 0


@pytest.mark.parametrize("amount", ["9999", "50000001", "0", "-10000"])
def test_top_ups_outside_the_limits_are_refused(alice, amount):
    with pytest.raises(BillingError, match=r"between Rp 10\.000 and Rp 50\.000\.000"):
        topup_create(user=alice, amount=Decimal(amount))


@override_settings(WALLETS_TOPUP_MIN=Decimal("20000"))
def test_the_top_up_limits_are_settings(alice):
    with pytest.raises(BillingError, match=r"Rp 20\.000"):
        topup_create(user=alice, amount=Decimal("15000"))


def test_paying_an_invoice_from_the_wallet_debits_and_pays_through_the_same_path(
    alice, open_invoice, recorder
):
    rec = recorder(
        "payment_created",
        "payment_success",
        "invoice_paid",
        "subscription_activated",
        "wallet_debited",
    )
    wallet = funded_wallet(alice, 200000)
    payment = wallet_pay_invoice(invoice=open_invoice, user=alice)
    assert payment.payment_type == "wallet"
    assert payment.is_paid
    open_invoice.refresh_from_db()
    wallet.refresh_from_db()
    assert open_invoice.status == "paid"
    assert open_invoice.subscription.status == "active"
    assert wallet.balance == Decimal("50000")
    debit = wallet.transactions.filter(kind="payment").get()
    assert (debit.amount, debit.invoice, debit.payment) == (
        Decimal("-150000"),
        open_invoice,
        payment,
    )
    assert rec.events == [
        "payment_created",
        "wallet_debited",
        "payment_success",
        "invoice_paid",
        "subscription_activated",
    ]


def test_paying_from_a_wallet_that_holds_too_little_changes_nothing(alice, open_invoice):
    wallet = funded_wallet(alice, 100000)
    with pytest.raises(InsufficientFunds):
        wallet_pay_invoice(invoice=open_invoice, user=alice)
    open_invoice.refresh_from_db()
    wallet.refresh_from_db()
    assert open_invoice.status == "open"
    assert open_invoice.payments.count() == 0
    assert wallet.balance == Decimal("100000")


def test_a_paid_invoice_cannot_be_paid_from_the_wallet_again(alice, open_invoice):
    wallet = funded_wallet(alice, 500000)
    wallet_pay_invoice(invoice=open_invoice, user=alice)
    with pytest.raises(InvoiceNotPayable):
        wallet_pay_invoice(invoice=open_invoice, user=alice)
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("350000")


def test_someone_else_cannot_pay_an_invoice_from_their_wallet(alice, bob, open_invoice):
    funded_wallet(bob, 500000)
    with pytest.raises(InvoiceNotPayable):
        wallet_pay_invoice(invoice=open_invoice, user=bob)


def test_a_paid_invoice_can_be_refunded_to_the_wallet_in_parts(
    alice, staff, open_invoice, recorder
):
    funded_wallet(alice, 150000)
    payment = wallet_pay_invoice(invoice=open_invoice, user=alice)
    rec = recorder("payment_refunded", "wallet_credited")
    with pytest.raises(BillingError, match="reason"):
        payment_refund(
            destination="wallet",
            payment=payment,
            amount=Decimal("1000"),
            reason="",
            created_by=staff,
        )
    payment_refund(
        destination="wallet",
        payment=payment,
        amount=Decimal("50000"),
        reason="Outage",
        created_by=staff,
    )
    refund = payment_refund(
        destination="wallet", payment=payment, reason="Closing account", created_by=staff
    )
    payment.refresh_from_db()
    assert refund.amount == Decimal("100000")
    assert refund.wallet_transactions.get().amount == Decimal("100000")
    assert payment.refunded_amount == Decimal("150000")
    assert payment.status == "refund"
    assert payment.user.wallet.balance == Decimal("150000")
    with pytest.raises(BillingError):
        payment_refund(
            destination="wallet",
            payment=payment,
            amount=Decimal("1"),
            reason="more",
            created_by=staff,
        )
    assert rec.events == [
        "payment_refunded",
        "wallet_credited",
        "payment_refunded",
        "wallet_credited",
    ]
