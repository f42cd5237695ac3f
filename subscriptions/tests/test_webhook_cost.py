"""What one settlement notification costs, and that the cheaper path keeps the contract.

The payment is read once, locked, inside the transaction that applies the notification
(no unlocked read before it, no savepoint around the service); the receivers take the
user's id from the rows they were given (no read of the user); with django-tasks-db's
queue the emails' task rows are written in that transaction, so a failure after the
receivers ran leaves neither the emails nor their tasks, and Midtrans' retry queues each
once.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tasks_db.models import DBTaskResult

from portal.models import Notification, SentEmail
from subscriptions import signals
from subscriptions.models import WebhookLog

from .midtrans_samples import SERVER_KEY, notification
from .test_webhook import make_payment, post, settle

pytestmark = pytest.mark.django_db


@pytest.fixture
def midtrans(settings):
    settings.MIDTRANS_SERVER_KEY = SERVER_KEY
    settings.SUBSCRIPTIONS_GATEWAY = "midtrans"
    settings.MIDTRANS_VERIFY_STATUS = False
    settings.MIDTRANS_NOTIFICATION_URL = ""


@pytest.fixture
def db_queue(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def touching(queries, table: str) -> list[str]:
    return [q["sql"] for q in queries if f'"{table}"' in q["sql"]]


def test_a_settlement_locks_its_invoice_then_its_payment_and_never_reads_the_user(
    client, alice, midtrans, db_queue
):
    payment = make_payment(alice)
    body = settle(payment, "qris")
    SentEmail.objects.all().delete()
    DBTaskResult.objects.all().delete()

    with CaptureQueriesContext(connection) as queries:
        response = post(client, body)

    assert (response.status_code, response.json()["status"]) == (200, "processed")
    # Read once by its order id (to learn its invoice), then locked after the invoice:
    # the settlement's lock order (invoice, then payment).
    reads = [sql for sql in touching(queries, "subscriptions_payment") if sql.startswith("SELECT")]
    assert len(reads) == 2, reads
    if connection.features.has_select_for_update:
        assert "FOR UPDATE" not in reads[0]
        assert "FOR UPDATE" in reads[1]
        invoice_lock = next(
            i
            for i, q in enumerate(queries)
            if q["sql"].startswith('SELECT "subscriptions_invoice"')
        )
        payment_lock = next(i for i, q in enumerate(queries) if q["sql"] == reads[1])
        assert invoice_lock < payment_lock
    assert not touching(queries, "auth_user")
    # Each receiver that did something opened one savepoint; notify and queue_email none.
    savepoints = [q["sql"] for q in queries if q["sql"].startswith("SAVEPOINT")]
    receivers_at_work = 2  # invoice_paid (receipt), subscription_activated (welcome)
    webhook_transaction = 1  # the test's own transaction makes the webhook's a savepoint
    # payment_apply_status's own, and paying the invoice (a refusal of what it paid for
    # rolls back to it, and the money is returned instead of kept).
    settlement = 2
    assert len(savepoints) == receivers_at_work + webhook_transaction + settlement
    sent = {e.kind: e for e in SentEmail.objects.all()}
    assert set(sent) == {"payment_receipt", "subscription_started"}
    assert sent["payment_receipt"].params == {"payment_id": payment.pk}
    tasks = sorted(t.args_kwargs["args"][0] for t in DBTaskResult.objects.all())
    assert tasks == sorted(e.pk for e in sent.values())


class FailsOnce:
    """A project's receiver of ``webhook_processed`` (sent when the log's outcome is
    saved, in the webhook's transaction, after every billing receiver) that fails in the
    database the first time."""

    def __init__(self):
        self.calls = 0

    def __call__(self, sender, instance, **kwargs):
        self.calls += 1
        if self.calls == 1:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM table_of_a_migration_not_yet_run")


@pytest.fixture
def fails_once():
    receiver = FailsOnce()
    signals.webhook_processed.connect(receiver, dispatch_uid="webhook-cost-fails-once")
    yield receiver
    signals.webhook_processed.disconnect(dispatch_uid="webhook-cost-fails-once")


def test_with_the_database_queue_a_failure_after_the_receivers_leaves_no_email_and_no_task(
    client, alice, midtrans, db_queue, fails_once
):
    payment = make_payment(alice)
    body = settle(payment, "qris")
    Notification.objects.all().delete()
    SentEmail.objects.all().delete()
    DBTaskResult.objects.all().delete()

    first = post(client, body)

    assert (first.status_code, first.json()["status"]) == (503, "failed")
    payment.refresh_from_db()
    assert not payment.is_paid
    assert not Notification.objects.exists()
    assert not SentEmail.objects.exists()
    assert not DBTaskResult.objects.exists()

    retry = post(client, body)  # Midtrans retries

    assert (retry.status_code, retry.json()["status"]) == (200, "processed")
    again = post(client, body)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert sorted(Notification.objects.values_list("kind", flat=True)) == [
        "payment_received",
        "subscription_started",
    ]
    emails = list(SentEmail.objects.order_by("pk"))
    assert sorted(e.kind for e in emails) == ["payment_receipt", "subscription_started"]
    tasks = sorted(t.args_kwargs["args"][0] for t in DBTaskResult.objects.all())
    assert tasks == [e.pk for e in emails]
    assert list(WebhookLog.objects.order_by("pk").values_list("status", flat=True)) == [
        "failed",
        "processed",
        "duplicate",
    ]


def test_an_unknown_order_id_is_ignored_and_recorded(client, midtrans):
    body = notification("qris", order_id="NOT-OURS-1", gross_amount="150000.00")

    response = post(client, body)

    assert (response.status_code, response.json()["status"]) == (200, "ignored")
    log = WebhookLog.objects.get()
    assert (log.status, log.order_id, log.payment_id) == ("ignored", "NOT-OURS-1", None)
