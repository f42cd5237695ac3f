"""Rate limits on starting payments at the gateway (checkout, top-up, hosted invoice).

Every start creates a transaction at Midtrans, and the hosted invoice's pay endpoint
needs no sign-in, so starts are counted per customer (the invoice's owner on the
hosted page, whoever clicks) and per client address (``subscriptions.client_ip``,
which knows ``TRUSTED_PROXY_COUNT``), in fixed windows of
``PORTAL_PAYMENT_STARTS_WINDOW`` seconds, in the shared cache (``CACHES["default"]``,
where allauth keeps its limits too). A limit of 0 switches that count off.

A refused start is answered 429 with ``Retry-After`` before anything reaches the
gateway: the view's own page with the message, or, for an HTMX request, the
notification region out of band.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from subscriptions.client_ip import client_ip


class PaymentStartsThrottled(Exception):
    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        self.message = _(
            "Too many payment attempts. Nothing was charged; please try again in "
            "%(minutes)s minutes."
        ) % {"minutes": max(1, math.ceil(retry_after / 60))}
        super().__init__(self.message)


def _over(key: str, limit: int, window: int) -> bool:
    """Count one start under ``key``; True when that makes more than ``limit``."""
    cache.add(key, 0, timeout=window)
    try:
        count = cache.incr(key)
    except ValueError:  # the key expired between add() and incr()
        cache.set(key, 1, timeout=window)
        count = 1
    return count > limit


def payment_start(request: HttpRequest, *, user) -> None:
    """Count a payment start for ``user`` and the client's address, or raise
    ``PaymentStartsThrottled`` (then start nothing)."""
    window = settings.PORTAL_PAYMENT_STARTS_WINDOW
    now = time.time()
    bucket = int(now // window)
    counts = (
        ("user", user.pk, settings.PORTAL_PAYMENT_STARTS_PER_USER),
        ("ip", client_ip(request), settings.PORTAL_PAYMENT_STARTS_PER_IP),
    )
    for kind, who, limit in counts:
        if limit and _over(f"portal:payment-starts:{kind}:{who}:{bucket}", limit, window):
            raise PaymentStartsThrottled(retry_after=math.ceil((bucket + 1) * window - now))


def throttled_response(
    request: HttpRequest, error: PaymentStartsThrottled, page: Callable[[], HttpResponse]
) -> HttpResponse:
    """429: ``page()`` (the view's page showing ``error.message``), or for HTMX the
    message in the notification region, swapped out of band and nothing else."""
    if getattr(request, "htmx", False):
        messages.error(request, error.message)
        html = render_to_string("includes/notifications.html", {"oob": True}, request=request)
        response = HttpResponse(html)
        response["HX-Reswap"] = "none"
    else:
        response = page()
    response.status_code = 429
    response["Retry-After"] = str(error.retry_after)
    return response
