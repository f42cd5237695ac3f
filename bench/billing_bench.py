"""Billing run: auto-paid renewals per second at 1,000, 10,000 and 100,000 due
subscriptions, in one worker and in two workers at once.

    .venv/bin/python bench/billing_bench.py                   # 1k, 10k, 100k
    BENCH_SIZES=1000,10000 .venv/bin/python bench/billing_bench.py
    BENCH_RECEIVERS=both ...   # also measure without the portal's receivers

For each size a template database is filled once with ``bulk_create`` (users, a
monthly plan, active subscriptions whose period ended an hour ago, wallets with
auto-pay, a balance of two periods and its ledger row); every run starts from a
copy of it (``CREATE DATABASE ... TEMPLATE``). A worker is its own process calling
``run_billing`` (production settings: emails are enqueued in django-tasks-db's
queue, not sent). With two workers both start at once on the same rows. After each
run: one paid renewal invoice per subscription, every subscription in its next
period, every wallet's balance equal to its ledger's sum and one debit per wallet.
Runs: BENCH_BILLING_RUNS (3) at 1k, one at 10k and 100k; at 100k each run is stopped
after BENCH_LIMIT_SECONDS (300) and what it committed is counted and checked (a
stopped worker's open transaction rolls back, so this also checks that a run killed
halfway leaves every row done or untouched).
"""

from __future__ import annotations

import collections
import datetime as dt
import multiprocessing as mp
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

TEMPLATE = "billing_bench_billing_tpl"
DB = "billing_bench_billing"
SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "1000,10000,100000").split(",")]
RUNS = int(os.environ.get("BENCH_BILLING_RUNS", "3"))
RECEIVERS = os.environ.get("BENCH_RECEIVERS", "on")  # on | off | both
# At 100,000 and more, stop each run after this many seconds (0: run to the end) and
# count the renewals it committed: at tens of renewals per second a full run takes
# an hour per mode.
LIMIT = float(os.environ.get("BENCH_LIMIT_SECONDS", "300"))


def disconnect_portal_receivers() -> list[str]:
    """Disconnect the portal's receivers (banners, emails) from every billing signal;
    the wallet's own receivers (top-ups) stay."""
    import weakref

    from django.dispatch import Signal

    from subscriptions import signals

    removed = []
    for name in dir(signals):
        signal = getattr(signals, name)
        if not isinstance(signal, Signal):
            continue
        for lookup_key, ref, *_ in list(signal.receivers):
            func = ref() if isinstance(ref, weakref.ReferenceType) else ref
            if func is not None and (getattr(func, "__module__", "") or "").startswith("portal"):
                uid = lookup_key[0] if isinstance(lookup_key[0], str) else None
                signal.disconnect(func, dispatch_uid=uid)
                removed.append(f"{name}:{func.__name__}")
    return removed


def worker(receivers: bool, ready, go, out) -> None:
    common.setup_django(DB, fresh=False)
    from django.db import connection

    from subscriptions.services.billing_run import run_billing

    removed = [] if receivers else disconnect_portal_receivers()
    connection.ensure_connection()
    ready.put(os.getpid())
    go.wait()
    started = time.time()
    report = run_billing()
    elapsed = time.time() - started
    out.put(
        {
            "counts": dict(report.counts),
            "failures": len(report.failures),
            "seconds": elapsed,
            "end": time.time(),
            "peak_rss_mb": common.vm_hwm_mb(),
            "receivers_removed": len(removed),
        }
    )


class WaitSampler(threading.Thread):
    """What the workers' connections are doing, sampled from pg_stat_activity every
    0.2 s: shows whether two workers wait on each other's locks (and which)."""

    def __init__(self, start_at: float) -> None:
        super().__init__(daemon=True)
        self.start_at = start_at
        self.samples: collections.Counter = collections.Counter()
        self.done = threading.Event()
        self.start()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(common.PG_ADMIN, autocommit=True) as conn:
            while not self.done.wait(0.2):
                if time.time() < self.start_at + 0.5:
                    continue
                rows = conn.execute(
                    "SELECT state, wait_event_type, wait_event, query FROM pg_stat_activity "
                    "WHERE datname = %s AND backend_type = 'client backend'",
                    [DB],
                ).fetchall()
                for state, wait_type, wait_event, query in rows:
                    if state == "idle":
                        key = "idle, between transactions"
                    elif wait_type == "Lock":
                        key = f"waiting for a lock: {' '.join(query.split()[:2])[:60]}"
                    elif state == "idle in transaction":
                        key = "in transaction, Python working"
                    else:
                        key = f"{state} {wait_type or ''} {wait_event or ''}".strip()
                    self.samples[key] += 1

    def stop(self) -> dict:
        self.done.set()
        self.join()
        total = sum(self.samples.values()) or 1
        return {key: round(n / total, 3) for key, n in self.samples.most_common(8)}


def run_workers(workers: int, receivers: bool, limit: float | None = None) -> dict:
    """Run ``workers`` processes at once; with ``limit`` (seconds), stop them then (a
    killed worker's open transaction rolls back) and count what they committed."""
    ctx = mp.get_context("spawn")
    out, ready, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=worker, args=(receivers, ready, go, out)) for _ in range(workers)]
    for proc in procs:
        proc.start()
    for _ in procs:  # every worker set up and connected before the clock starts
        ready.get()
    start_at = time.time()
    go.set()
    waits = WaitSampler(start_at) if workers > 1 else None
    if limit is None:
        results = [out.get() for _ in procs]
        for proc in procs:
            proc.join()
        renewed = sum(r["counts"].get("renewed_auto_paid", 0) for r in results)
        wall = max(r["end"] for r in results) - start_at
    else:
        time.sleep(max(0.0, start_at + limit - time.time()))
        results = [
            {"counts": {}, "failures": 0, "peak_rss_mb": common.vm_hwm_mb(proc.pid)}
            for proc in procs
        ]
        for proc in procs:
            proc.terminate()
            proc.join()
        wall = time.time() - start_at
        renewed = None  # counted in the database by verify()
    return {
        "waits": waits.stop() if waits else None,
        "workers": workers,
        "receivers": receivers,
        "renewed": renewed,
        "seconds": wall,
        "rate": renewed / wall if renewed is not None else None,
        "stopped_after_seconds": limit,
        "failures": sum(r["failures"] for r in results),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
        "per_worker": results,
    }


def make_template(n: int) -> None:
    common.setup_django(TEMPLATE)
    from django.utils import timezone

    from bench import fixtures

    plan = fixtures.plan(price=fixtures.PRICE)
    users = fixtures.users(n, "bill")
    fixtures.subscriptions(
        users, plan, status="active", period_end=timezone.now() - timezone.timedelta(hours=1)
    )
    fixtures.wallets(users, balance=fixtures.PRICE * 2, auto_pay=True)
    common.close_django_connections()


def verify(n: int | None) -> dict:
    """The invariants after a run; ``n`` renewals expected, or None after a run that
    was stopped (then as many as were paid, each one complete)."""
    from django.db.models import Count, F, OuterRef, Subquery, Sum
    from django.utils import timezone

    from subscriptions.models import Invoice, Subscription
    from wallets.models import Wallet, WalletTransaction

    renewals = Invoice.objects.filter(reason="renewal")
    per_sub = renewals.values("subscription").annotate(n=Count("pk")).filter(n__gt=1).count()
    ledger = (
        WalletTransaction.objects.filter(wallet=OuterRef("pk"))
        .order_by()
        .values("wallet")
        .annotate(s=Sum("amount"))
        .values("s")
    )
    off = Wallet.objects.annotate(ledger=Subquery(ledger)).exclude(balance=F("ledger"))
    facts = {
        "subscriptions": n,
        "renewal_invoices": renewals.count(),
        "paid_renewal_invoices": renewals.filter(status="paid").count(),
        "subscriptions_with_two_renewals": per_sub,
        "subscriptions_renewed": Subscription.objects.filter(
            status="active", current_period_end__gt=timezone.now() + dt.timedelta(days=20)
        ).count(),
        "wallets_off_ledger": off.count(),
        "debits": WalletTransaction.objects.filter(kind="payment").count(),
        "distinct_invoice_numbers": renewals.values("number").distinct().count(),
    }
    n = facts["paid_renewal_invoices"] if n is None else n
    facts["subscriptions"] = n
    facts["ok"] = (
        facts["renewal_invoices"] == facts["paid_renewal_invoices"] == n
        and per_sub == 0
        and facts["subscriptions_renewed"] == n
        and facts["wallets_off_ledger"] == 0
        and facts["debits"] == n
        and facts["distinct_invoice_numbers"] == n
    )
    return facts


def main() -> None:
    info = None
    all_results = []
    for n in SIZES:
        common.drop_db(DB)
        make_template(n)
        info = info or common.machine()
        runs = RUNS if n <= 1_000 else 1
        limit = LIMIT if n >= 100_000 and LIMIT else None
        modes = {"on": [True], "off": [False], "both": [True, False]}[RECEIVERS]
        for receivers in modes:
            for workers in (1, 2):
                for run in range(runs):
                    common.drop_db(DB)
                    common._admin(f'CREATE DATABASE "{DB}" TEMPLATE "{TEMPLATE}"')
                    result = run_workers(workers, receivers, limit)
                    result["n"] = n
                    result["verification"] = verify_in_child(None if limit else n)
                    if limit:
                        result["renewed"] = result["verification"]["paid_renewal_invoices"]
                        result["rate"] = result["renewed"] / result["seconds"]
                    all_results.append(result)
                    print(
                        f"n={n} workers={workers} receivers={'on' if receivers else 'off'} "
                        f"run {run + 1}: {result['renewed']} renewed in {result['seconds']:.1f}s "
                        f"= {result['rate']:.0f}/s, peak RSS {result['peak_rss_mb']:.0f} MB, "
                        f"verified {result['verification']['ok']}"
                    )
                    if result["waits"]:
                        print(f"  connections of the two workers: {result['waits']}")
                    if not result["verification"]["ok"] or result["failures"]:
                        raise SystemExit(f"verification failed: {result}")
        common.drop_db(DB)
        common.drop_db(TEMPLATE)
    rows = []
    summary = []
    for n in SIZES:
        for receivers in (True, False):
            for workers in (1, 2):
                runs = [
                    r
                    for r in all_results
                    if r["n"] == n and r["workers"] == workers and r["receivers"] == receivers
                ]
                if not runs:
                    continue
                rate = common.median([r["rate"] for r in runs])
                seconds = common.median([r["seconds"] for r in runs])
                rss = max(r["peak_rss_mb"] for r in runs)
                summary.append(
                    {
                        "n": n,
                        "workers": workers,
                        "receivers": receivers,
                        "rate": rate,
                        "seconds": seconds,
                        "runs": len(runs),
                        "peak_rss_mb": rss,
                    }
                )
                rows.append(
                    [
                        f"{n:,}",
                        workers,
                        "on" if receivers else "off",
                        len(runs),
                        f"{seconds:.1f}",
                        f"{rate:.0f}",
                        f"{rss:.0f}",
                    ]
                )
    common.save("billing", {"machine": info, "summary": summary, "runs_raw": all_results})
    print(common.machine_md(info))
    print(
        common.md_table(
            [
                "due subscriptions",
                "workers",
                "receivers",
                "runs",
                "seconds",
                "renewals/s",
                "peak RSS MB",
            ],
            rows,
        )
    )


def _verify_child(n: int | None, out) -> None:
    common.setup_django(DB, fresh=False)
    left = {}
    if n is None:
        # A stopped worker may have committed a renewal's first transaction (the
        # issued invoice) and not its second (the collection): the next run's
        # "renewal collection" step collects it, once. Run only that step, then
        # check every subscription is renewed and paid or untouched.
        from subscriptions.models import Invoice
        from subscriptions.services import billing_run

        renewals = Invoice.objects.filter(reason="renewal")
        left["left_between_transactions"] = renewals.exclude(status="paid").count()
        report = billing_run.run_billing(steps=[billing_run.COLLECTION])
        left["collected_by_the_next_run"] = report.counts.get("recovered_renewed_auto_paid", 0)
    out.put({**verify(n), **left})


def verify_in_child(n: int) -> dict:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_verify_child, args=(n, out))
    proc.start()
    facts = out.get()
    proc.join()
    return facts


if __name__ == "__main__":
    main()
