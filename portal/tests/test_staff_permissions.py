"""Seeing a list never means acting on it: the billing admin's permissions and groups.

Every admin action of the billing admin needs its own permission (``ADMIN_ACTIONS`` in
the access table says which). Here each one is posted, fully filled in, by a member
of "Billing support" (view only): refused, and not a row of the database, an email or a
request to the gateway changes. The same POST by a "Billing operator" does the work.
The groups come from the portal's data migration.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, Permission
from django.core import mail
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from subscriptions import services
from subscriptions.gateways.sandbox import sandbox_server_key
from subscriptions.models import Invoice, Payment, Subscription, WebhookLog
from subscriptions.tests.factories import PlanFactory, SubscriptionFactory
from subscriptions.tests.midtrans_samples import SERVER_KEY, notification
from wallets.services import wallet_pay_invoice, wallet_set_auto_pay
from wallets.tests.factories import funded_wallet

from .test_access_table import ADMIN_ACTIONS, ADMIN_MODELS, RAN, REFUSED, AdminAction, billing_staff
from .test_csrf import database_state

pytestmark = pytest.mark.django_db

SUPPORT, OPERATOR = "Billing support", "Billing operator"
BILLING_ACTIONS = [action for action in ADMIN_ACTIONS if ADMIN_MODELS[action.model].billing]
ACTION_PERMISSIONS = sorted({action.permission for action in BILLING_ACTIONS})


def changelist(model: str) -> str:
    return reverse(f"admin:{model.replace('/', '_')}_changelist")


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def support(db):
    return billing_staff("support@example.com", SUPPORT)


@pytest.fixture
def operator(db):
    return billing_staff("operator@example.com", OPERATOR)


@pytest.fixture
def gateway(settings, httpserver):
    """The sandbox for checkouts (its notifications go to a local server), and Midtrans'
    Core API played by the same server for a Midtrans payment."""
    settings.SUBSCRIPTIONS_GATEWAY = "sandbox"
    settings.SUBSCRIPTIONS_SANDBOX_ALLOWED = True
    settings.SUBSCRIPTIONS_GATEWAY_RETRY_BACKOFF = 0
    settings.MIDTRANS_SERVER_KEY = SERVER_KEY
    settings.MIDTRANS_VERIFY_STATUS = False
    settings.MIDTRANS_API_BASE_URL = httpserver.url_for("").rstrip("/")
    settings.MIDTRANS_NOTIFICATION_URL = httpserver.url_for("/notify")
    httpserver.expect_request("/notify", method="POST").respond_with_json({})
    return httpserver


# --- One case per action: a row it would change, the details its form asks for, and
# what it does when it runs ------------------------------------------------------------


@dataclass
class Case:
    obj: object
    data: dict
    done: Callable[[], bool]  # read again from the database


CASES: dict[str, Callable[..., Case]] = {}


def case_for(name: str):
    def register(make: Callable[..., Case]) -> Callable[..., Case]:
        CASES[name] = make
        return make

    return register


def past_due_invoice(user) -> Invoice:
    """Open and a day past its due date: on the invoice list and in the overdue queue."""
    invoice = services.subscription_create(
        user=user, plan=PlanFactory(price=Decimal("150000"))
    ).invoices.get()
    Invoice.objects.filter(pk=invoice.pk).update(due_date=timezone.now() - dt.timedelta(days=1))
    return Invoice.objects.get(pk=invoice.pk)


def settled_sandbox_payment(user) -> Payment:
    payment = services.checkout_start(invoice=past_due_invoice(user), user=user)
    services.payment_apply_status(payment=payment, transaction_status="settlement")
    return payment


def challenged_sandbox_payment(user) -> Payment:
    payment = services.checkout_start(invoice=past_due_invoice(user), user=user)
    services.payment_apply_status(
        payment=payment, transaction_status="capture", fraud_status="challenge"
    )
    return payment


def midtrans_payment(user) -> Payment:
    invoice = past_due_invoice(user)
    return services.payment_create(
        user=user, amount=invoice.total, invoice=invoice, gateway="midtrans"
    )


def reread(obj):
    return type(obj).objects.get(pk=obj.pk)


def subscription_case(status: str, done: Callable[[Subscription], bool], **data) -> Case:
    subscription = SubscriptionFactory(status="active")
    if status == "paused":
        services.subscription_pause(subscription=subscription)
    elif status == "cancelling":
        services.subscription_cancel(subscription=subscription, at_period_end=True, reason="x")
    return Case(subscription, data, lambda: done(reread(subscription)))


REASON = {"apply": "1", "reason": "Probe"}


@case_for("pause_now")
def _(alice, gateway):
    return subscription_case("active", lambda s: s.status == "paused")


@case_for("resume_now")
def _(alice, gateway):
    return subscription_case("paused", lambda s: s.status == "active")


@case_for("cancel_at_period_end_action")
def _(alice, gateway):
    return subscription_case("active", lambda s: s.cancel_at_period_end, **REASON)


@case_for("cancel_now")
def _(alice, gateway):
    return subscription_case("active", lambda s: s.status == "cancelled", **REASON)


@case_for("undo_cancel")
def _(alice, gateway):
    return subscription_case("cancelling", lambda s: not s.cancel_at_period_end)


@case_for("expire_now")
def _(alice, gateway):
    return subscription_case("active", lambda s: s.status == "expired")


def invoice_case(status: str, **data) -> Callable[..., Case]:
    def make(alice, gateway):
        invoice = past_due_invoice(alice)
        return Case(invoice, data, lambda: reread(invoice).status == status)

    return make


case_for("void_invoices")(invoice_case("void", **REASON))
case_for("mark_paid_offline")(invoice_case("paid", reference="BCA-778812", **REASON))
case_for("mark_overdue")(invoice_case("overdue"))
case_for("mark_uncollectible")(invoice_case("uncollectible"))


@case_for("retry_collection")
def _(alice, gateway):
    wallet_set_auto_pay(wallet=funded_wallet(alice, 200_000), enabled=True)
    invoice = past_due_invoice(alice)
    return Case(invoice, {}, lambda: reread(invoice).status == "paid")


@case_for("resend_invoice_email")
def _(alice, gateway):
    invoice = past_due_invoice(alice)
    return Case(invoice, {}, lambda: [message.to for message in mail.outbox] == [[alice.email]])


REFUND = {"apply": "1", "amount": "50000", "reason": "Goodwill"}


@case_for("refund_through_gateway")
def _(alice, gateway):
    payment = settled_sandbox_payment(alice)
    return Case(
        payment.invoice, REFUND, lambda: reread(payment).refunded_amount == Decimal("50000")
    )


@case_for("refund")
def _(alice, gateway):
    payment = settled_sandbox_payment(alice)
    return Case(payment, REFUND, lambda: reread(payment).refunded_amount == Decimal("50000"))


@case_for("refund_to_wallet")
def _(alice, gateway):
    wallet = funded_wallet(alice, 150_000)
    invoice = past_due_invoice(alice)
    wallet_pay_invoice(invoice=invoice, user=alice)
    return Case(invoice, REFUND, lambda: reread(wallet).balance == Decimal("50000"))


@case_for("check_status")
def _(alice, gateway):
    payment = midtrans_payment(alice)
    answer = notification("gopay", order_id=payment.order_id, gross_amount="150000.00")
    gateway.expect_request(f"/v2/{payment.order_id}/status", method="GET").respond_with_json(answer)
    return Case(payment, {}, lambda: reread(payment).is_paid)


@case_for("approve_challenge")
def _(alice, gateway):
    payment = challenged_sandbox_payment(alice)
    return Case(payment, {}, lambda: reread(payment).is_paid)


@case_for("deny_challenge")
def _(alice, gateway):
    payment = challenged_sandbox_payment(alice)
    return Case(payment, {}, lambda: reread(payment).status == "deny")


@case_for("reprocess")
def _(alice, gateway):
    """A notification stored but never applied (the worker died, say), signed as the active
    gateway (the sandbox) signs them."""
    payment = services.checkout_start(invoice=past_due_invoice(alice), user=alice)
    body = notification(
        "gopay",
        order_id=payment.order_id,
        gross_amount="150000.00",
        server_key=sandbox_server_key(),
    )
    log = WebhookLog.objects.create(order_id=payment.order_id, body=json.dumps(body))
    return Case(log, {}, lambda: reread(payment).is_paid)


@case_for("adjust_balance")
def _(alice, gateway):
    wallet = funded_wallet(alice, 10_000)
    data = {"apply": "1", "amount": "1000000", "reason": "Probe"}
    return Case(wallet, data, lambda: reread(wallet).balance == Decimal("1010000"))


# A paid invoice is never in the overdue queue: it is refunded from the invoice list.
MONEY_ACTIONS = [
    action
    for action in BILLING_ACTIONS
    if not (action.model == "subscriptions/overdueinvoice" and "refund" in action.name)
]


def outside_world(gateway) -> dict:
    """Everything an action could change: the database (the admin's log and queued tasks
    too), the emails sent and the requests the gateway received."""
    return {
        **database_state(),
        "admin log": list(LogEntry.objects.values()),
        "tasks": list(DBTaskResult.objects.values()),
        "emails": len(mail.outbox),
        "gateway requests": len(gateway.log),
    }


def post_action(client: Client, action: AdminAction, case: Case, capture):
    selected = {"action": action.name, ACTION_CHECKBOX_NAME: [case.obj.pk], **case.data}
    with capture(execute=True):
        return client.post(changelist(action.model), selected)


def test_every_billing_action_has_a_case():
    assert sorted({action.name for action in BILLING_ACTIONS} - CASES.keys()) == []


@pytest.mark.parametrize("action", MONEY_ACTIONS, ids=lambda a: f"{a.model} {a.name}")
def test_view_only_staff_are_refused_every_action_and_nothing_changes_but_an_operator_runs_it(
    action, alice, support, operator, gateway, django_capture_on_commit_callbacks
):
    case = CASES[action.name](alice, gateway)
    path = changelist(action.model)
    as_support, as_operator = signed_in(support), signed_in(operator)  # sign-in sets last_login
    mail.outbox.clear()
    before = outside_world(gateway)

    refused = post_action(as_support, action, case, django_capture_on_commit_callbacks)
    assert REFUSED.matches(refused, path), refused.status_code
    assert outside_world(gateway) == before
    assert not case.done()

    ran = post_action(as_operator, action, case, django_capture_on_commit_callbacks)
    assert RAN.matches(ran, path), ran.status_code
    assert case.done(), "the operator's POST did not do the work"
    assert outside_world(gateway) != before
    (entry,) = LogEntry.objects.all()  # recorded with who did it
    assert entry.user == operator


def offered(client: Client) -> dict[str, set[str]]:
    """The actions each billing list offers the client's user."""
    found = {}
    for model in sorted({action.model for action in BILLING_ACTIONS}):
        response = client.get(changelist(model))
        assert response.status_code == 200, model
        form = response.context["action_form"]  # None: no action may be run here
        found[model] = (
            {name for name, _ in form.fields["action"].choices if name} if form else set()
        )
    return found


def billing_actions(permissions) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {action.model: set() for action in BILLING_ACTIONS}
    for action in BILLING_ACTIONS:
        if action.permission in permissions:
            found[action.model].add(action.name)
    return found


def test_view_only_staff_are_offered_no_action_and_operators_every_one(support, operator):
    assert offered(signed_in(support)) == billing_actions(())
    assert offered(signed_in(operator)) == billing_actions(ACTION_PERMISSIONS)


@pytest.mark.parametrize("permission", ACTION_PERMISSIONS)
def test_each_permission_offers_exactly_its_actions(permission, support):
    """Support plus one permission: that permission's actions, and no other, are offered."""
    app_label, codename = permission.split(".")
    support.user_permissions.add(
        Permission.objects.get(content_type__app_label=app_label, codename=codename)
    )
    assert offered(signed_in(support)) == billing_actions({permission})


# --- The groups ----------------------------------------------------------------------------

VIEWS = {
    f"{model.split('/')[0]}.view_{model.split('/')[1]}"
    for model, spec in ADMIN_MODELS.items()
    if spec.billing
} | {
    # Shown inside the pages above (invoice lines), or kept for the billing admin to come.
    "subscriptions.view_invoiceline",
    "subscriptions.view_overpaidpayment",
    "subscriptions.view_refund",
    "subscriptions.view_billingevent",
}


def group_permissions(name: str) -> set[str]:
    group = Group.objects.get(name=name)
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in group.permissions.select_related("content_type")
    }


def test_after_migrate_support_may_view_the_billing_records_and_nothing_more():
    assert group_permissions(SUPPORT) == VIEWS


def test_after_migrate_operators_may_also_run_every_billing_action():
    assert group_permissions(OPERATOR) == VIEWS | set(ACTION_PERMISSIONS)


def test_the_group_migration_is_reversible_and_creates_missing_permissions():
    loader = MigrationLoader(connection)
    key = ("portal", "0002_billing_staff_groups")
    (operation,) = loader.get_migration(*key).operations
    state_apps = loader.project_state(key).apps

    operation.reverse_code(state_apps, None)
    assert not Group.objects.filter(name__in=(SUPPORT, OPERATOR)).exists()

    # As on a fresh database, where permissions are made only after every migration.
    Permission.objects.filter(codename="adjust_wallet").delete()
    operation.code(state_apps, None)
    assert group_permissions(SUPPORT) == VIEWS
    assert group_permissions(OPERATOR) == VIEWS | set(ACTION_PERMISSIONS)
