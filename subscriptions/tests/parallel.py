"""Run a function in several OS processes at once against the test database.

For the tests that must show behaviour under real concurrency on PostgreSQL
(row locks, counters): each child is a fresh interpreter (``spawn``) that sets up
Django against the *test* database of the calling test, waits on a barrier so all
start together, runs ``func(index, *args)`` and sends back its result or error.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import traceback
from typing import Any

from django.db import connection


def _database_url() -> str:
    s = connection.settings_dict
    user = s.get("USER") or "postgres"
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or "5432"
    return f"postgres://{user}{password}@{host}:{port}/{s['NAME']}"


def _child(database_url, func_path, index, args, barrier, results, overrides):
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.test_settings")
    import django
    from django.conf import settings

    django.setup()
    for name, value in overrides.items():  # the calling test's settings fixture changes
        setattr(settings, name, value)
    module_name, func_name = func_path.rsplit(":", 1)
    func = getattr(importlib.import_module(module_name), func_name)
    try:
        barrier.wait(timeout=60)
        results.put((index, "ok", func(index, *args)))
    except Exception:  # reported to the parent, which fails the test
        results.put((index, "error", traceback.format_exc()))
    finally:
        from django.db import connections

        connections.close_all()


def run_in_processes(
    func_path: str,
    count: int,
    *args: Any,
    timeout: float = 120,
    settings: dict[str, Any] | None = None,
) -> list[Any]:
    """Run ``module:function`` in ``count`` processes; return results in index order.

    ``settings``: Django settings to set in each child (a test's overrides)."""
    assert connection.vendor == "postgresql", "run_in_processes needs PostgreSQL"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(count)
    results = ctx.Queue()
    url = _database_url()
    processes = [
        ctx.Process(target=_child, args=(url, func_path, i, args, barrier, results, settings or {}))
        for i in range(count)
    ]
    for process in processes:
        process.start()
    collected = {}
    errors = []
    for _ in range(count):
        index, kind, value = results.get(timeout=timeout)
        if kind == "error":
            errors.append(f"process {index}:\n{value}")
        collected[index] = value
    for process in processes:
        process.join(timeout=30)
    if errors:
        raise AssertionError("\n".join(errors))
    return [collected[i] for i in range(count)]
