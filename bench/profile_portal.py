"""Profile one portal page in-process (pyinstrument) and count its SQL queries.

    .venv/bin/pip install pyinstrument   # a profiling tool, not a project dependency
    .venv/bin/python bench/profile_portal.py /billing/ [HX-Target] [--requests 50]

Same settings and data as portal_bench.py (database ``billing_bench_profile``),
Django's test client instead of gunicorn, so the profile shows only our code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

DB = "billing_bench_profile"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("target", nargs="?", default="")
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    common.setup_django(DB)
    common.collectstatic()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench.portal_bench import make_user

    user = make_user()
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": args.target} if args.target else {}
    response = client.get(args.path, **headers)
    assert response.status_code == 200, response.status_code
    with CaptureQueriesContext(connection) as queries:
        client.get(args.path, **headers)
    print(f"{len(queries)} queries, {len(response.content)} bytes")
    for query in queries:
        print("  ", query["sql"][:160])

    def requests():
        for _ in range(args.requests):
            client.get(args.path, **headers)

    common.profiled(requests)
    common.close_django_connections()
    common.drop_db(DB)


if __name__ == "__main__":
    main()
