"""Profile the Midtrans webhook in-process (pyinstrument) and list the SQL of one.

    .venv/bin/pip install pyinstrument   # a profiling tool, not a project dependency
    .venv/bin/python bench/profile_webhook.py [--n 200] [--no-receivers]

Same fixture and settings as webhook_bench.py (database ``billing_bench_profile``),
Django's test client instead of gunicorn.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

DB = "billing_bench_profile"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--no-receivers", action="store_true")
    args = parser.parse_args()
    common.setup_django(DB)
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench.billing_bench import disconnect_portal_receivers
    from bench.profile_billing import kind
    from bench.webhook_bench import make_payments

    if args.no_receivers:
        disconnect_portal_receivers()
    bodies = make_payments(args.n + 1)
    client = Client(HTTP_HOST="127.0.0.1")

    def post(body):
        response = client.post(
            "/webhooks/midtrans/", json.dumps(body), content_type="application/json"
        )
        assert response.status_code == 200, response.content

    with CaptureQueriesContext(connection) as queries:
        post(bodies[0])
    counts = collections.Counter(kind(q["sql"]) for q in queries)
    print(f"one webhook: {len(queries)} queries")
    for name, count in counts.most_common():
        print(f"  {count:3d}  {name}")
    common.profiled(lambda: [post(body) for body in bodies[1:]])
    common.close_django_connections()
    common.drop_db(DB)


if __name__ == "__main__":
    main()
