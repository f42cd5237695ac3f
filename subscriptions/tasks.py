"""Background tasks of the billing app (django-tasks; any configured backend).

Schedule ``run_billing_task`` (or ``manage.py run_billing``) every few minutes; it is
safe to overlap with itself: see ``services/billing_run.py``.
"""

from __future__ import annotations

import datetime as dt

from django_tasks import task

from .services.billing_run import run_billing


@task()
def run_billing_task(now: str | None = None) -> dict:
    """Run the billing cycle; returns counts per kind and failures (JSON-serialisable)."""
    report = run_billing(now=dt.datetime.fromisoformat(now) if now else None)
    return {
        "counts": dict(report.counts),
        "failures": [list(failure) for failure in report.failures],
        "ok": report.ok,
    }
