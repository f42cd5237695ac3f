"""``manage.py prune_webhook_logs``: webhook logs are not kept forever (issue 13, item 3).

A ``processed`` log is the evidence of a change to a payment and is never deleted. Every
other log goes after ``SUBSCRIPTIONS_WEBHOOK_LOG_RETENTION_DAYS`` (``--days``); a request
that was never validly signed (malformed, unsigned, too large: ``invalid`` without a valid
signature) goes sooner, after ``SUBSCRIPTIONS_WEBHOOK_UNVERIFIED_LOG_RETENTION_DAYS``
(``--unverified-days``). The billing run prunes at its end, so one schedule does both.
"""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from subscriptions.models import WebhookLog

from .factories import PaymentFactory, WebhookLogFactory

pytestmark = pytest.mark.django_db


def log(name: str, *, days_old: float, status: str, signature_valid=True, **fields):
    made = WebhookLogFactory(
        order_id=name, status=status, signature_valid=signature_valid, **fields
    )
    WebhookLog.objects.filter(pk=made.pk).update(
        created_at=timezone.now() - dt.timedelta(days=days_old)
    )
    return made


def remaining() -> set[str]:
    return set(WebhookLog.objects.values_list("order_id", flat=True))


def prune(*args: str) -> str:
    out = StringIO()
    call_command("prune_webhook_logs", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def logs(db):
    payment = PaymentFactory(status="settlement")  # paid: nothing for the billing run to do
    return [
        # Evidence: what changed a payment stays, however old.
        log("processed-old", days_old=3650, status="processed", payment=payment),
        log("processed-new", days_old=1, status="processed", payment=payment),
        # Authentic but not applied: kept for the full age.
        log("duplicate-old", days_old=91, status="duplicate", payment=payment),
        log("duplicate-new", days_old=89, status="duplicate", payment=payment),
        log("ignored-old", days_old=91, status="ignored"),
        log("rejected-old", days_old=91, status="rejected", payment=payment),
        log("rejected-new", days_old=30, status="rejected", payment=payment),
        log("failed-old", days_old=91, status="failed", signature_valid=None),
        log("failed-new", days_old=30, status="failed", signature_valid=None),
        log("mismatch-old", days_old=91, status="invalid", payment=payment),
        log("mismatch-new", days_old=30, status="invalid", payment=payment),
        log("received-old", days_old=91, status="received"),
        # Never validly signed: junk, gone after a week.
        log("unsigned-old", days_old=8, status="invalid", signature_valid=False),
        log("unsigned-new", days_old=6, status="invalid", signature_valid=False),
        log("malformed-old", days_old=8, status="invalid", signature_valid=None),
        log("malformed-new", days_old=6, status="invalid", signature_valid=None),
    ]


def test_processed_logs_stay_and_the_rest_go_by_age(logs):
    output = prune()

    assert remaining() == {
        "processed-old",
        "processed-new",
        "duplicate-new",
        "rejected-new",
        "failed-new",
        "mismatch-new",
        "unsigned-new",
        "malformed-new",
    }
    assert "8 webhook log(s) deleted" in output


def test_the_ages_are_settings(logs, settings):
    settings.SUBSCRIPTIONS_WEBHOOK_LOG_RETENTION_DAYS = 20
    settings.SUBSCRIPTIONS_WEBHOOK_UNVERIFIED_LOG_RETENTION_DAYS = 3

    prune()

    assert remaining() == {"processed-old", "processed-new"}


def test_the_ages_are_options(logs):
    prune("--days", "100", "--unverified-days", "7")

    assert remaining() == {
        "processed-old",
        "processed-new",
        "duplicate-old",
        "duplicate-new",
        "ignored-old",
        "rejected-old",
        "rejected-new",
        "failed-old",
        "failed-new",
        "mismatch-old",
        "mismatch-new",
        "received-old",
        "unsigned-new",
        "malformed-new",
    }


def test_a_dry_run_deletes_nothing_and_says_what_would_go(logs):
    before = remaining()

    output = prune("--dry-run")

    assert remaining() == before
    assert "8 webhook log(s) would be deleted" in output


@pytest.mark.parametrize("args", [("--days", "0"), ("--unverified-days", "-1")])
def test_an_age_under_one_day_is_refused(logs, args):
    with pytest.raises(CommandError):
        prune(*args)
    assert len(remaining()) == len(logs)


def test_deletes_run_in_batches_so_memory_stays_flat(db):
    for n in range(7):
        log(f"unsigned-{n}", days_old=30, status="invalid", signature_valid=False)

    with CaptureQueriesContext(connection) as queries:
        output = prune("--batch-size", "3")

    assert not WebhookLog.objects.exists()
    assert "7 webhook log(s) deleted" in output
    deletes = [q["sql"] for q in queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 3
    selects = [q["sql"] for q in queries if q["sql"].startswith("SELECT")]
    assert all("LIMIT 3" in sql for sql in selects), selects


def test_the_billing_run_prunes_at_its_end(logs):
    out = StringIO()

    call_command("run_billing", stdout=out)

    assert "unsigned-old" not in remaining()
    assert "processed-old" in remaining()
    assert "8 webhook log(s) deleted" in out.getvalue()


def test_the_billing_run_prunes_as_of_its_own_now(logs):
    later = (timezone.now() + dt.timedelta(days=2)).isoformat()

    call_command("run_billing", "--now", later, stdout=StringIO())

    assert "unsigned-new" not in remaining()  # 6 days old + 2 = 8 > 7
