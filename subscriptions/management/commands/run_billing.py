"""Handle everything that is due: renewals, trial ends, reminders, dunning, expiries.

Safe to run from cron every few minutes, on several machines at once, and again after
a crash: see ``subscriptions/services/billing_run.py``. Exits 1 if any row failed.

At its end it deletes webhook logs past their age, as ``manage.py prune_webhook_logs``
does (as of ``--now``; deleting is idempotent, so overlapping runs do no harm), so that
one schedule does both.
"""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from subscriptions.services.billing_run import run_billing
from subscriptions.webhooks import webhook_logs_prune


class Command(BaseCommand):
    help = "Run the billing cycle: renewals, trial endings, reminders, dunning and expiries."

    def add_arguments(self, parser):
        parser.add_argument(
            "--now",
            help="Run as if it were this ISO date-time (for catching up or testing).",
        )
        parser.add_argument("--batch-size", type=int, default=None)
        parser.add_argument(
            "--enqueue",
            action="store_true",
            help="Enqueue the run as a background task (django-tasks) instead of running it here.",
        )

    def handle(self, *args, now=None, batch_size=None, enqueue=False, **options):
        when = timezone.now()
        if now:
            try:
                when = dt.datetime.fromisoformat(now)
            except ValueError as exc:
                raise CommandError(f"--now must be an ISO date-time, not {now!r}") from exc
            if timezone.is_naive(when):
                when = timezone.make_aware(when)
        if enqueue:
            from subscriptions.tasks import run_billing_task

            result = run_billing_task.enqueue(now=when.isoformat() if now else None)
            self.stdout.write(f"Billing run enqueued as task {result.id} ({result.status}).")
            self.prune_webhook_logs(when)
            return
        self.stdout.write(f"Billing run at {when.isoformat()}")
        report = run_billing(now=when, batch_size=batch_size, progress=self.stdout.write)
        self.stdout.write("Summary:")
        self.stdout.write(report.summary())
        self.prune_webhook_logs(when)
        if not report.ok:
            raise CommandError(f"{len(report.failures)} item(s) failed; see above.")
        self.stdout.write(self.style.SUCCESS("Billing run finished."))

    def prune_webhook_logs(self, when) -> None:
        self.stdout.write(
            f"Old webhook logs: {webhook_logs_prune(now=when)} webhook log(s) deleted."
        )
