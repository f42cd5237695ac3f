"""Liveness (``/healthz``) and readiness (``/readyz``) for the load balancer.

``/healthz`` says the process answers, touching nothing. ``/readyz`` says this node
can serve customers: it reaches the database and the shared cache, and answers 503
when either is down, so the load balancer stops sending customers to it.

The database-down case runs manage.py in a subprocess whose ``DATABASE_URL`` points at
a port where nothing listens: the real settings, a real failed connection.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
UNREACHABLE_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:9/0",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}


@pytest.mark.django_db
def test_ready_when_the_database_and_the_cache_answer(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.content.decode().startswith("ok")
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_not_ready_when_the_cache_is_unreachable_but_still_alive(client, settings):
    settings.CACHES = UNREACHABLE_REDIS

    ready = client.get("/readyz")
    alive = client.get("/healthz")

    assert ready.status_code == 503
    assert "cache" in ready.content.decode()
    assert alive.status_code == 200


PROBE = """
from django.test import Client
client = Client(raise_request_exception=False)
for path in ("/healthz", "/readyz"):
    response = client.get(path)
    print(path, response.status_code, response.content.decode().replace(chr(10), " "))
"""


def test_not_ready_when_the_database_is_unreachable_but_still_alive():
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE", "SESSION_ENGINE"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        DEBUG="1",
        # Nothing listens on port 9 (discard); the cache is the process's own.
        DATABASE_URL="postgres://postgres@127.0.0.1:9/nowhere",
        CACHE_URL="locmemcache://",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", PROBE],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    answers = dict(line.split(" ", 1) for line in result.stdout.splitlines() if line)
    assert answers["/healthz"].startswith("200")
    assert answers["/readyz"].startswith("503")
    assert "database" in answers["/readyz"]
