"""Portal throughput: signed-in pages and HTMX partials against /healthz.

    .venv/bin/python bench/portal_bench.py            # BENCH_RUNS=5, BENCH_SECONDS=8

gunicorn (production settings, 2 workers x 4 threads) serves a fresh PostgreSQL
database ``billing_bench_portal``; wrk (another process) keeps 8 connections busy on
one URL at a time, the URLs taking turns in each run so that every ratio compares
runs made moments apart. The user: an active subscription, 50 invoices, a wallet with
500 ledger rows, signed in by a session row whose cookie wrk sends itself (the
session cookie is ``Secure``, which a plain-HTTP client would otherwise drop).
Afterwards: the peak RSS (VmHWM) of each gunicorn worker.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

DB = "billing_bench_portal"
SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
HTMX = {"HX-Request": "true"}

# name, path, extra headers, what the body must contain
ENDPOINTS = [
    ("healthz", "/healthz", {}, "ok"),
    ("signed in, empty (bench view)", "/bench/signed-in/", {}, "signed in"),
    ("layout only (bench view)", "/bench/layout/", {}, "Layout only"),
    ("dashboard", "/billing/", {}, "INV-"),
    ("invoice list", "/billing/invoices/", {}, "INV-"),
    ("wallet page", "/billing/wallet/", {}, "Bench top-up"),
    (
        "partial: invoice list",
        "/billing/invoices/",
        {**HTMX, "HX-Target": "invoice-list"},
        "INV-",
    ),
    (
        "partial: subscription card",
        "/billing/",
        {**HTMX, "HX-Target": "subscription-card"},
        "Pro",
    ),
]


def make_user():
    from django.utils import timezone

    from bench import fixtures

    plan = fixtures.plan()
    (user,) = fixtures.users(1, "portal")
    (sub,) = fixtures.subscriptions(
        [user], plan, status="active", period_end=timezone.now() + timezone.timedelta(days=12)
    )
    fixtures.invoice_rows(sub, 50, number_from=1)
    fixtures.wallets([user], balance=fixtures.PRICE * 20, auto_pay=True, ledger_rows=500)
    return user


def check(path: str, headers: dict, needle: str) -> None:
    request = urllib.request.Request(f"http://{common.HOST}:{common.PORT}{path}", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        body = response.read().decode()
        if response.status != 200 or needle not in body:
            raise SystemExit(f"{path} {headers}: {response.status}, no {needle!r} in the body")


def main() -> None:
    env = common.setup_django(DB)
    info = common.machine()
    common.collectstatic()
    user = make_user()
    from bench import fixtures

    cookie = fixtures.session_cookie(user)
    results: dict[str, list[dict]] = {name: [] for name, *_ in ENDPOINTS}
    with common.Gunicorn(env) as server:
        for _name, path, headers, needle in ENDPOINTS:
            check(path, {"Cookie": cookie, **headers}, needle)
            common.wrk(path, seconds=2, headers={"Cookie": cookie, **headers})  # warm-up
        for run in range(common.RUNS):
            for name, path, headers, _ in ENDPOINTS:
                result = common.wrk(path, seconds=SECONDS, headers={"Cookie": cookie, **headers})
                if result["non2xx"] or result["errors"]:
                    raise SystemExit(f"{name}: {result}")
                results[name].append(result)
                print(
                    f"run {run + 1} {name}: {result['rps']:.0f} rps p95 {result['p95_ms']:.1f} ms"
                )
        rss = server.worker_peak_rss_mb()
    common.close_django_connections()
    common.drop_db(DB)

    base = common.median([r["rps"] for r in results["healthz"]])
    rows, summary = [], {}
    for name, *_ in ENDPOINTS:
        rps = common.median([r["rps"] for r in results[name]])
        p95 = common.median([r["p95_ms"] for r in results[name]])
        p50 = common.median([r["p50_ms"] for r in results[name]])
        summary[name] = {"rps": rps, "ratio": rps / base, "p50_ms": p50, "p95_ms": p95}
        rows.append([name, f"{rps:.0f}", f"{rps / base:.0%}", f"{p50:.1f}", f"{p95:.1f}"])
    data = {
        "machine": info,
        "workers": common.WORKERS,
        "threads": common.THREADS,
        "runs": common.RUNS,
        "seconds": SECONDS,
        "summary": summary,
        "runs_raw": results,
        "worker_peak_rss_mb": rss,
    }
    common.save("portal", data)
    print(common.machine_md(info))
    print(
        f"gunicorn {common.WORKERS} workers x {common.THREADS} threads, wrk 8 connections, "
        f"median of {common.RUNS} runs of {SECONDS}s"
    )
    print(common.md_table(["endpoint", "req/s", "of /healthz", "p50 ms", "p95 ms"], rows))
    print("gunicorn worker peak RSS (VmHWM): " + ", ".join(f"{mb:.0f} MB" for mb in rss))


if __name__ == "__main__":
    main()
