"""Wallet contention: 8 processes debit ONE wallet through ``wallet_debit``, against
8 processes running a raw conditional UPDATE of one row.

    .venv/bin/python bench/wallet_bench.py     # BENCH_RUNS=5, BENCH_SECONDS=5

Each client is its own process with its own connection; the two kinds take turns in
every run. The service path: lock the wallet row, check the idempotency key, insert
the ledger row, update the balance, commit. The baseline: ``UPDATE wallets_wallet SET
balance = balance - 1 WHERE id = %s AND balance >= 1`` in autocommit, on a second
wallet kept out of the ledger check. Afterwards the hot wallet's balance must equal
its opening balance minus every debit, and the sum of its ledger.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

DB = "billing_bench_wallet"
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
OPENING = Decimal("100000000.00")


def client(kind: str, wallet_id: int, run: int, number: int, ready, go, out) -> None:
    common.setup_django(DB, fresh=False)
    from django.db import connection

    from wallets.models import Wallet
    from wallets.services import wallet_debit

    wallet = Wallet.objects.get(pk=wallet_id)
    connection.ensure_connection()
    raw = connection.connection  # psycopg connection, autocommit outside atomic()
    sql = "UPDATE wallets_wallet SET balance = balance - 1 WHERE id = %s AND balance >= 1"
    ready.put(number)
    go.wait()
    start_at = time.time()
    deadline = start_at + SECONDS
    done = 0
    if kind == "raw":
        with raw.cursor() as cursor:
            while time.time() < deadline:
                cursor.execute(sql, (wallet_id,))
                assert cursor.rowcount == 1
                done += 1
    else:
        while time.time() < deadline:
            wallet_debit(
                wallet=wallet,
                amount=Decimal("1"),
                kind="payment",
                idempotency_key=f"bench:{run}:{number}:{done}",
                description="Bench debit",
            )
            done += 1
    out.put((done, time.time() - start_at))


def run_clients(kind: str, wallet_id: int, run: int) -> dict:
    ctx = mp.get_context("spawn")
    out, ready, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(target=client, args=(kind, wallet_id, run, i, ready, go, out))
        for i in range(CLIENTS)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:  # every client set up and connected before the clock starts
        ready.get()
    go.set()
    results = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    ops = sum(done for done, _ in results)
    elapsed = max(seconds for _, seconds in results)
    return {"ops": ops, "seconds": elapsed, "rate": ops / elapsed}


def main() -> None:
    common.setup_django(DB)
    info = common.machine()
    from django.db.models import Sum

    from bench import fixtures
    from wallets.models import Wallet, WalletTransaction

    hot_user, raw_user = fixtures.users(2, "wallet")
    hot, raw = fixtures.wallets([hot_user, raw_user], balance=OPENING, auto_pay=False)
    common.close_django_connections()
    results: dict[str, list[dict]] = {"raw UPDATE": [], "wallet_debit": []}
    for run in range(common.RUNS):
        raw_result = run_clients("raw", raw.pk, run)
        service = run_clients("service", hot.pk, run)
        results["raw UPDATE"].append(raw_result)
        results["wallet_debit"].append(service)
        print(
            f"run {run + 1}: raw {raw_result['rate']:.0f}/s, wallet_debit {service['rate']:.0f}/s"
        )
    debits = sum(r["ops"] for r in results["wallet_debit"])
    raw_ops = sum(r["ops"] for r in results["raw UPDATE"])
    hot.refresh_from_db()
    raw.refresh_from_db()
    ledger = WalletTransaction.objects.filter(wallet=hot)
    facts = {
        "debits": debits,
        "balance": hot.balance,
        "expected": OPENING - debits,
        "ledger_sum": ledger.aggregate(s=Sum("amount"))["s"],
        "ledger_rows": ledger.count(),
        "distinct_balance_after": ledger.values("balance_after").distinct().count(),
        "raw_balance": raw.balance,
        "raw_expected": OPENING - raw_ops,
    }
    exact = (
        facts["balance"] == facts["expected"] == facts["ledger_sum"]
        and facts["ledger_rows"] == debits + 1 == facts["distinct_balance_after"]
        and facts["raw_balance"] == facts["raw_expected"]
    )
    facts["exact"] = exact
    assert Wallet.objects.filter(pk=hot.pk, balance=OPENING - debits).exists()
    common.close_django_connections()
    common.drop_db(DB)
    if not exact:
        raise SystemExit(f"balance not exact: {facts}")
    base = common.median([r["rate"] for r in results["raw UPDATE"]])
    rows, summary = [], {}
    for name, runs in results.items():
        rate = common.median([r["rate"] for r in runs])
        summary[name] = {"rate": rate, "ratio": rate / base}
        rows.append([name, f"{rate:.0f}", f"{rate / base:.0%}"])
    common.save(
        "wallet", {"machine": info, "summary": summary, "runs_raw": results, "facts": facts}
    )
    print(common.machine_md(info))
    print(f"{CLIENTS} client processes, median of {common.RUNS} runs of {SECONDS:g}s")
    print(common.md_table(["path", "debits/s", "of raw UPDATE"], rows))
    print(f"verification: {facts}")


if __name__ == "__main__":
    main()
