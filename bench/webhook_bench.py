"""Webhook ingestion: signed Midtrans notifications settling distinct payments, against
a bare view that inserts one row.

    .venv/bin/python bench/webhook_bench.py     # BENCH_RUNS=5, BENCH_SECONDS=8

Each notification settles its own pending gateway payment of a pending subscription's
first invoice (the whole path: raw log, signature, amount check, payment -> invoice
paid -> subscription active, every signal and receiver, emails enqueued). The
baseline, ``/bench/insert/`` (bench/bench_urls.py), stores the same body as one
``WebhookLog`` row. wrk sends every body once (8 connections), each run its own
slice of payments; afterwards the database must show every notification processed
exactly once.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

DB = "billing_bench_webhook"
SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
PER_RUN = int(os.environ.get("BENCH_WEBHOOKS_PER_RUN", "3000"))
WRK_THREADS = 2

LUA = r"""
local counter = 0
local threads = {}
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  bodies = {}
  local i = 0
  for line in io.lines("%(file)s") do
    if i %% %(threads)d == tid then table.insert(bodies, line) end
    i = i + 1
  end
  idx = 0
  exhausted = 0
end
function request()
  idx = idx + 1
  if idx > #bodies and %(wrap)s then idx = 1 end
  if idx > #bodies then
    exhausted = 1
    return wrk.format("GET", "/healthz")
  end
  return wrk.format("POST", "%(path)s", {["Content-Type"] = "application/json"}, bodies[idx])
end
function response(status, headers, body)
  if exhausted == 1 then wrk.thread:stop() end
end
"""


def make_payments(n: int) -> list[dict]:
    """``n`` pending subscriptions, each with its open first invoice and a pending
    Midtrans payment; returns the signed settlement notification of each."""
    from django.utils import timezone

    from bench import fixtures
    from subscriptions.models import Invoice, Payment
    from subscriptions.tests.midtrans_samples import notification

    plan = fixtures.plan()
    users = fixtures.users(n, "hook")
    now = timezone.now()
    subs = fixtures.subscriptions(
        users, plan, status="pending", period_end=now + timezone.timedelta(days=30)
    )
    invoices = Invoice.objects.bulk_create(
        [
            Invoice(
                number=f"INV-{now.year}-{i + 1:06d}",
                user_id=sub.user_id,
                subscription=sub,
                status="open",
                reason="subscription_create",
                plan=plan,
                currency="IDR",
                subtotal=plan.price,
                total=plan.price,
                period_start=sub.current_period_start,
                period_end=sub.current_period_end,
                issued_at=now,
                due_date=now + timezone.timedelta(days=7),
            )
            for i, sub in enumerate(subs)
        ],
        batch_size=5000,
    )
    payments = Payment.objects.bulk_create(
        [
            Payment(
                user_id=inv.user_id,
                invoice=inv,
                subscription_id=inv.subscription_id,
                order_id=f"{inv.number}-{i:06d}",
                gross_amount=inv.total,
                currency="IDR",
                gateway="midtrans",
            )
            for i, inv in enumerate(invoices)
        ],
        batch_size=5000,
    )
    return [
        notification(
            "bank_transfer",
            order_id=p.order_id,
            gross_amount=f"{p.gross_amount:.2f}",
            server_key=common.SERVER_KEY,
            transaction_id=f"bench-{p.pk}",
        )
        for p in payments
    ]


def run_wrk(path: str, bodies: list[dict], tag: str, *, wrap: bool = False) -> dict:
    """Each body once (``wrap``: round and round, for the baseline, which only stores
    them); a run that used them all up would under-count and is refused."""
    file = common.RESULTS / f"webhook-bodies-{tag}.jsonl"
    file.write_text("".join(json.dumps(b) + "\n" for b in bodies))
    lua = LUA % {
        "file": file,
        "threads": WRK_THREADS,
        "path": path,
        "wrap": "true" if wrap else "false",
    }
    result = common.wrk(path, seconds=SECONDS, threads=WRK_THREADS, lua=lua)
    file.unlink()
    if not wrap and result["requests"] >= len(bodies) - 8:
        raise SystemExit(f"{path}: ran out of bodies; raise BENCH_WEBHOOKS_PER_RUN")
    return result


def verify(sent: int) -> dict:
    from django.db.models import Count

    from subscriptions.models import Invoice, Payment, Subscription, WebhookLog

    logs = WebhookLog.objects.filter(provider="midtrans")
    by_status = dict(logs.values_list("status").annotate(n=Count("pk")).order_by())
    twice = logs.values("order_id").annotate(n=Count("pk")).filter(n__gt=1).count()
    settled = Payment.objects.filter(status="settlement", is_paid=True).count()
    paid = Invoice.objects.filter(status="paid").count()
    active = Subscription.objects.filter(status="active").count()
    facts = {
        "completed_by_wrk": sent,
        "logs": logs.count(),
        "logs_by_status": by_status,
        "order_ids_logged_twice": twice,
        "payments_settled": settled,
        "invoices_paid": paid,
        "subscriptions_active": active,
    }
    ok = (
        set(by_status) == {"processed"}
        and twice == 0
        and facts["logs"] >= sent
        and settled == paid == active == facts["logs"]
    )
    facts["exactly_once"] = ok
    if not ok:
        raise SystemExit(f"not exactly once: {facts}")
    return facts


def main() -> None:
    env = common.setup_django(DB)
    info = common.machine()
    common.collectstatic()
    common.RESULTS.mkdir(parents=True, exist_ok=True)
    bodies = make_payments(PER_RUN * (common.RUNS + 1))
    chunks = [bodies[i * PER_RUN : (i + 1) * PER_RUN] for i in range(common.RUNS + 1)]
    results: dict[str, list[dict]] = {"bare insert": [], "webhook": []}
    sent = 0
    with common.Gunicorn(env):
        run_wrk("/bench/insert/", chunks[0], "warm", wrap=True)  # warm-up of both paths
        sent += run_wrk("/webhooks/midtrans/", chunks[0], "warm")["requests"]
        for run in range(common.RUNS):
            bare = run_wrk("/bench/insert/", chunks[run + 1], "bare", wrap=True)
            hook = run_wrk("/webhooks/midtrans/", chunks[run + 1], "hook")
            sent += hook["requests"]
            for name, result in (("bare insert", bare), ("webhook", hook)):
                if result["non2xx"] or result["errors"]:
                    raise SystemExit(f"{name}: {result}")
                results[name].append(result)
            print(f"run {run + 1}: bare {bare['rps']:.0f} rps, webhook {hook['rps']:.0f} rps")
    facts = verify(sent)
    common.close_django_connections()
    common.drop_db(DB)

    base = common.median([r["rps"] for r in results["bare insert"]])
    rows, summary = [], {}
    for name, runs in results.items():
        rps = common.median([r["rps"] for r in runs])
        p95 = common.median([r["p95_ms"] for r in runs])
        summary[name] = {"rps": rps, "ratio": rps / base, "p95_ms": p95}
        rows.append([name, f"{rps:.0f}", f"{rps / base:.0%}", f"{p95:.1f}"])
    common.save(
        "webhook",
        {"machine": info, "summary": summary, "runs_raw": results, "verification": facts},
    )
    print(common.machine_md(info))
    print(common.md_table(["endpoint", "req/s", "of bare insert", "p95 ms"], rows))
    print(f"verification: {facts}")


if __name__ == "__main__":
    main()
