"""What the banner and email receivers cost, and that the cheaper way keeps the contract.

- A banner or an email is one ``INSERT ... ON CONFLICT DO NOTHING``: no savepoint, and
  the same event announced twice still adds nothing (the transaction stays usable).
- A receiver checks its cheap condition before opening its savepoint: a signal it
  ignores costs no query.
- With django-tasks-db's queue the email's task row is written in the transaction that
  made the change: it commits with it or rolls back with it, no on-commit hook.
- The receipt names the payment that was just settled without reading it back.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django_tasks_db.models import DBTaskResult

from portal import emails, receivers
from portal.models import Notification, SentEmail
from portal.notifications import notify
from subscriptions import services, signals
from subscriptions.models import Invoice
from subscriptions.tests.factories import InvoiceFactory, PlanFactory, SubscriptionFactory
from wallets.models import TransactionKind, WalletTransaction
from wallets.tests.factories import funded_wallet

from .test_notifications import CASES, Case, built, send

pytestmark = pytest.mark.django_db


@pytest.fixture(params=CASES, ids=str)
def case(request):
    return request.param


@pytest.fixture
def db_queue(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def sql_of(queries) -> list[str]:
    return [q["sql"] for q in queries]


# --- one statement per banner and per email ----------------------------------------------


def test_a_banner_announced_twice_is_one_row_and_opens_no_savepoint(alice):
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        first = notify(user_id=alice.pk, kind="k", key="event:1", title="Once")
        again = notify(user=alice, kind="k", key="event:1", title="Twice")
        # The conflict left the transaction usable (PostgreSQL aborts it on an error).
        count = Notification.objects.filter(user=alice).count()

    assert first is not None
    assert first.pk is not None
    assert first.created_at is not None
    assert again is None
    assert count == 1
    assert not [sql for sql in sql_of(queries) if "SAVEPOINT" in sql]
    assert Notification.objects.get().title == "Once"


def test_an_email_queued_twice_is_one_row_and_opens_no_savepoint(
    alice, django_capture_on_commit_callbacks
):
    subscription = SubscriptionFactory(user=alice)
    SentEmail.objects.all().delete()

    with (
        django_capture_on_commit_callbacks() as callbacks,
        transaction.atomic(),
        CaptureQueriesContext(connection) as queries,
    ):
        first = emails.queue_email(
            kind="subscription_started", user_id=alice.pk, key="ev", subscription=subscription
        )
        again = emails.queue_email(
            kind="subscription_started", user=alice, key="ev", subscription=subscription
        )

    assert first is not None
    assert again is None
    assert len(callbacks) == 1  # the immediate backend: enqueued once, after the commit
    assert not [sql for sql in sql_of(queries) if "SAVEPOINT" in sql]
    sent = SentEmail.objects.get()
    assert (sent.pk, sent.user_id, sent.idempotency_key) == (
        first.pk,
        alice.pk,
        f"ev:user-{alice.pk}",
    )
    assert sent.params == {"subscription_id": subscription.pk}


def test_a_banner_needs_its_user():
    with pytest.raises(ValueError, match="user"):
        notify(kind="k", key="event:1", title="Nobody")
    with pytest.raises(ValueError, match="user"):
        emails.queue_email(kind="subscription_started", key="event:1")


# --- the cheap condition first ---------------------------------------------------------------


def test_a_debit_that_does_not_cross_the_low_balance_line_costs_no_query(alice):
    wallet = funded_wallet(alice, 500000)
    debit = WalletTransaction(
        wallet=wallet,
        kind=TransactionKind.PAYMENT,
        amount=Decimal("-1000"),
        balance_after=Decimal("499000"),
    )

    with CaptureQueriesContext(connection) as queries:
        receivers.RECEIVERS["wallet_debited"](sender=WalletTransaction, instance=debit)

    assert len(queries) == 0
    assert not Notification.objects.filter(kind="wallet_low").exists()


@pytest.mark.parametrize(
    ("signal", "build"),
    [
        ("invoice_issued", lambda u: InvoiceFactory(user=u, status="draft")),
        ("subscription_created", lambda u: SubscriptionFactory(user=u, status="pending")),
    ],
)
def test_a_signal_the_receiver_ignores_costs_no_query(alice, signal, build):
    instance = build(alice)
    Notification.objects.all().delete()

    with CaptureQueriesContext(connection) as queries:
        getattr(signals, signal).send(
            sender=type(instance), instance=instance, previous_status=None
        )

    assert len(queries) == 0
    assert not Notification.objects.exists()


# --- the database queue: the task row is part of the change ------------------------------


def test_with_the_database_queue_each_email_task_is_written_with_the_change(
    case: Case, alice, db_queue, django_capture_on_commit_callbacks
):
    instance, kwargs = built(case, alice)
    DBTaskResult.objects.all().delete()

    with django_capture_on_commit_callbacks() as callbacks:
        send(case, instance, kwargs)
        send(case, instance, kwargs)  # the same event again: nothing more

    assert callbacks == []  # nothing is left for after the commit
    if case.email is None:
        assert not DBTaskResult.objects.exists()
        return
    sent = SentEmail.objects.get()
    task = DBTaskResult.objects.get()
    assert task.task_path == "portal.tasks.send_email"
    assert task.args_kwargs == {"args": [sent.pk], "kwargs": {}}
    assert task.status == "READY"


def test_with_the_database_queue_a_rolled_back_change_leaves_no_task(case: Case, alice, db_queue):
    instance, kwargs = built(case, alice)
    DBTaskResult.objects.all().delete()

    def send_then_fail():
        with transaction.atomic():
            send(case, instance, kwargs)
            raise RuntimeError("the request failed after the change")

    with pytest.raises(RuntimeError):
        send_then_fail()

    assert not DBTaskResult.objects.exists()
    assert not SentEmail.objects.exists()
    assert not Notification.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_with_the_database_queue_in_autocommit_the_task_follows_the_committed_row(alice, db_queue):
    """Outside a transaction (an admin action, a shell) the email's row commits on its
    own and its task is enqueued right after it, as before."""
    subscription = SubscriptionFactory(user=alice)
    DBTaskResult.objects.all().delete()
    assert not connection.in_atomic_block

    sent = emails.queue_email(
        kind="subscription_started", user=alice, key="ev", subscription=subscription
    )

    task = DBTaskResult.objects.get()
    assert task.args_kwargs == {"args": [sent.pk], "kwargs": {}}


def test_with_the_immediate_backend_the_email_is_sent_after_the_commit_only(
    alice, django_capture_on_commit_callbacks
):
    subscription = SubscriptionFactory(user=alice)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        emails.queue_email(
            kind="subscription_started", user_id=alice.pk, key="ev", subscription=subscription
        )
        assert mail.outbox == []

    assert len(mail.outbox) == 1


# --- the receipt's payment ---------------------------------------------------------------


def pending_signup(user):
    subscription = services.subscription_create(
        user=user, plan=PlanFactory(price=Decimal("150000"))
    )
    invoice = subscription.invoices.get()
    return invoice, services.payment_create(user=user, amount=invoice.total, invoice=invoice)


def test_the_receipt_names_the_settled_payment_without_reading_it_back(alice):
    invoice, payment = pending_signup(alice)

    with CaptureQueriesContext(connection) as queries:
        services.payment_apply_status(payment=payment, transaction_status="settlement")

    receipt = SentEmail.objects.get(kind="payment_receipt")
    assert receipt.params == {"payment_id": payment.pk}
    assert receipt.invoice_id == invoice.pk
    assert not [sql for sql in sql_of(queries) if '"subscriptions_payment"."paid_at" DESC' in sql]
    assert not [sql for sql in sql_of(queries) if 'FROM "auth_user"' in sql]


def test_a_payment_settled_for_another_invoice_is_not_named_on_a_receipt(alice):
    first, payment = pending_signup(alice)
    # payment_success without the invoice being paid (it could not be: rolled back).
    signals.payment_success.send(sender=type(payment), instance=payment, previous_status="pending")
    other = InvoiceFactory(user=alice, status="open")

    offline = services.invoice_mark_paid_offline(invoice=other, reference="BANK-1")

    receipt = SentEmail.objects.get(kind="payment_receipt", invoice=other)
    assert receipt.params == {"payment_id": offline.pk}  # invoice_paid's payment=
    assert Invoice.objects.get(pk=first.pk).status == "open"


def test_a_receipt_for_an_invoice_paid_without_its_settlement_reads_the_payment(alice):
    invoice, payment = pending_signup(alice)
    payment.is_paid, payment.status = True, "settlement"
    payment.paid_at = invoice.issued_at
    payment.save()  # payment_success, but the invoice is paid later, at another time

    offline = services.invoice_mark_paid_offline(invoice=invoice, reference="BANK-1")

    # The receipt names the payment that paid it (invoice_paid's payment=), not a guess.
    receipt = SentEmail.objects.get(kind="payment_receipt")
    assert receipt.params == {"payment_id": offline.pk}
