"""Profile the billing run: the SQL of one auto-paid renewal, then pyinstrument over N.

    .venv/bin/pip install pyinstrument   # a profiling tool, not a project dependency
    .venv/bin/python bench/profile_billing.py [--n 500] [--no-receivers] [--sql]

Same fixture and settings as billing_bench.py (database ``billing_bench_profile``).
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

DB = "billing_bench_profile"


def kind(sql: str) -> str:
    sql = sql.strip()
    head = sql.split()[0].upper()
    table = re.search(r'(?:FROM|INTO|UPDATE) "?(\w+)"?', sql)
    name = table.group(1) if table else ""
    if head == "SELECT" and "FOR UPDATE" in sql:
        head = "SELECT FOR UPDATE"
    return f"{head} {name}".strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--no-receivers", action="store_true")
    parser.add_argument("--sql", action="store_true", help="print every query of one renewal")
    args = parser.parse_args()
    common.setup_django(DB)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from bench import fixtures
    from bench.billing_bench import disconnect_portal_receivers
    from subscriptions.services import billing_run

    if args.no_receivers:
        print("disconnected:", ", ".join(disconnect_portal_receivers()))
    plan = fixtures.plan()
    users = fixtures.users(args.n + 1, "prof")
    due = timezone.now() - timezone.timedelta(hours=1)
    fixtures.subscriptions(users, plan, status="active", period_end=due)
    fixtures.wallets(users, balance=fixtures.PRICE * 2, auto_pay=True)

    # One renewal, by itself: the other rows are not due yet at this "now".
    first = users[0].subscriptions.get()
    step = next(s for s in billing_run.STEPS if s.name == "renewals")
    with CaptureQueriesContext(connection) as queries:
        from django.db import transaction

        with transaction.atomic():
            sub = billing_run._lock_if_still_due(step, first.pk, timezone.now())
            outcome = step.handle(sub, timezone.now())
        # A renewal is two transactions: the first issues the invoice and hands back
        # the second, which collects it.
        if callable(outcome):
            outcome = outcome()
    assert outcome == "renewed_auto_paid", outcome
    counts = collections.Counter(kind(q["sql"]) for q in queries)
    print(f"one auto-paid renewal: {len(queries)} queries")
    for name, count in counts.most_common():
        print(f"  {count:3d}  {name}")
    if args.sql:
        for q in queries:
            print("   ", q["sql"][:200])

    report = common.profiled(billing_run.run_billing)
    print(report.summary())
    common.close_django_connections()
    common.drop_db(DB)


if __name__ == "__main__":
    main()
