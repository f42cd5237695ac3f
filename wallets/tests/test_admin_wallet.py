from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from subscriptions import services
from subscriptions.tests.factories import PlanFactory
from wallets.services import wallet_pay_invoice, wallet_set_auto_pay
from wallets.tests.factories import funded_wallet

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def invoice(alice):
    return services.subscription_create(
        user=alice, plan=PlanFactory(price=Decimal("150000"))
    ).invoices.get()


def post(client, model, action, pks, **data):
    url = reverse(f"admin:{model}_changelist")
    return client.post(url, {"action": action, ACTION_CHECKBOX_NAME: pks, **data})


def test_the_balance_is_read_only_in_the_admin(staff_client, alice):
    wallet = funded_wallet(alice, 10000)
    url = reverse("admin:wallets_wallet_change", args=[wallet.pk])
    staff_client.post(url, {"auto_pay": "on", "balance": "999999"})
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("10000")
    assert wallet.auto_pay is True


def test_a_staff_adjustment_from_the_admin_needs_a_reason_and_adds_a_ledger_row(
    staff_client, staff, alice
):
    wallet = funded_wallet(alice, 10000)
    post(
        staff_client,
        "wallets_wallet",
        "adjust_balance",
        [wallet.pk],
        apply="1",
        amount="5000",
        reason="",
    )
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("10000")
    post(
        staff_client,
        "wallets_wallet",
        "adjust_balance",
        [wallet.pk],
        apply="1",
        amount="5000",
        reason="Compensation for outage",
    )
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("15000")
    row = wallet.transactions.order_by("-pk").first()
    assert (row.kind, row.created_by) == ("adjustment", staff)


def test_ledger_rows_cannot_be_changed_or_deleted_in_the_admin(staff_client, alice):
    wallet = funded_wallet(alice, 10000)
    row = wallet.transactions.get()
    assert staff_client.get(reverse("admin:wallets_wallettransaction_add")).status_code == 403
    url = reverse("admin:wallets_wallettransaction_delete", args=[row.pk])
    assert staff_client.post(url, {"post": "yes"}).status_code == 403
    assert wallet.transactions.count() == 1


def test_an_invoice_can_be_refunded_to_the_wallet_from_the_invoice_admin(
    staff_client, alice, invoice
):
    funded_wallet(alice, 150000)
    wallet_pay_invoice(invoice=invoice, user=alice)
    post(
        staff_client,
        "subscriptions_invoice",
        "refund_to_wallet",
        [invoice.pk],
        apply="1",
        amount="40000",
        reason="Downtime credit",
    )
    payment = invoice.payments.get()
    assert payment.refunded_amount == Decimal("40000")
    alice.wallet.refresh_from_db()
    assert alice.wallet.balance == Decimal("40000")


def test_retry_collection_pays_an_open_invoice_from_an_auto_pay_wallet(
    staff_client, alice, invoice
):
    wallet_set_auto_pay(wallet=funded_wallet(alice, 200000), enabled=True)
    post(staff_client, "subscriptions_invoice", "retry_collection", [invoice.pk])
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert invoice.payments.get().payment_type == "wallet"
