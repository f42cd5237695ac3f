#!/usr/bin/env bash
# Every benchmark of issue 8 §1, one after the other (about an hour on 2 cores).
# Results: var/bench/*.json and Markdown tables on stdout (copied into docs/benchmarks.md).
# Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and wrk; creates and drops
# its own databases (billing_bench_*), never billing_portal.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v wrk >/dev/null 2>&1 || {
  echo "wrk is missing: apt-get install -y wrk" >&2
  exit 1
}
PY=.venv/bin/python
echo "== load average before: $(cat /proc/loadavg)"
$PY bench/portal_bench.py
$PY bench/webhook_bench.py
$PY bench/wallet_bench.py
BENCH_SIZES=${BENCH_SIZES:-1000,10000,100000} BENCH_RECEIVERS=${BENCH_RECEIVERS:-both} \
  $PY bench/billing_bench.py
echo "== load average after: $(cat /proc/loadavg)"
