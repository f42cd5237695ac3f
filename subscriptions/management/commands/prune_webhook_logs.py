"""Delete webhook logs past their age; never a processed one (the record of a change to a
payment). ``manage.py run_billing`` runs this at its end, so one schedule does both.

Ages: ``SUBSCRIPTIONS_WEBHOOK_LOG_RETENTION_DAYS`` (``--days``) for every log but a
processed one, ``SUBSCRIPTIONS_WEBHOOK_UNVERIFIED_LOG_RETENTION_DAYS``
(``--unverified-days``) for requests never validly signed. See ``subscriptions/webhooks.py``.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from subscriptions.webhooks import webhook_logs_prune


class Command(BaseCommand):
    help = "Delete old webhook logs (never a processed one)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            help="Keep logs this many days (default: SUBSCRIPTIONS_WEBHOOK_LOG_RETENTION_DAYS).",
        )
        parser.add_argument(
            "--unverified-days",
            type=int,
            help="Keep requests that were never validly signed this many days "
            "(default: SUBSCRIPTIONS_WEBHOOK_UNVERIFIED_LOG_RETENTION_DAYS).",
        )
        parser.add_argument("--batch-size", type=int, default=None)
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )

    def handle(self, *args, days=None, unverified_days=None, batch_size=None, dry_run=False, **o):
        try:
            count = webhook_logs_prune(
                days=days, unverified_days=unverified_days, batch_size=batch_size, dry_run=dry_run
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{count} webhook log(s) {'would be deleted' if dry_run else 'deleted'}.")
