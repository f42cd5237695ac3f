"""Probes for the load balancer.

- ``/healthz`` (liveness): the process answers. Touches nothing, so a slow database
  never makes an orchestrator restart healthy workers.
- ``/readyz`` (readiness): this node can serve customers. It runs ``SELECT 1`` on
  every configured database and writes and reads a key in the shared cache (where
  sessions, allauth's rate limits and the payment throttle live); when either fails it
  answers 503 naming what is down, so the load balancer stops routing to this node
  until it recovers. The reason is logged; the answer names only the part.
"""

from __future__ import annotations

import logging
import secrets

from django.core.cache import cache
from django.db import connections
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache

logger = logging.getLogger(__name__)


@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


def _database_down() -> bool:
    for alias in connections:
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception:  # any driver's error: the database cannot serve this node
            logger.exception("readyz: database %r is unreachable", alias)
            return True
    return False


def _cache_down() -> bool:
    token = secrets.token_hex(8)
    try:
        cache.set("portal:readyz", token, timeout=30)
        return cache.get("portal:readyz") != token
    except Exception:  # redis-py, the database cache's driver...: the cache is down
        logger.exception("readyz: the cache is unreachable")
        return True


@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    down = [
        name for name, failed in (("database", _database_down), ("cache", _cache_down)) if failed()
    ]
    if down:
        return HttpResponse(
            f"unavailable: {', '.join(down)}", status=503, content_type="text/plain"
        )
    return HttpResponse("ok", content_type="text/plain")
