"""The address of the client that sent a request, behind as many reverse proxies as the
deployment says (``settings.TRUSTED_PROXY_COUNT``, default 0).

Each proxy appends the address it received the request from to ``X-Forwarded-For``,
so the entry ``TRUSTED_PROXY_COUNT`` places from the end is the one our outermost proxy
wrote; everything to its left came from the client and proves nothing. With no proxy
(0) the header is ignored and the connection's address (``REMOTE_ADDR``) is the client.

One function for everything that reads a client address: allauth's sign-in limits
(``portal.account_adapter``), the payment throttle, the webhook log.
"""

from __future__ import annotations

from ipaddress import ip_address

from django.conf import settings
from django.http import HttpRequest


def _address(value: str) -> str | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443"
        value = value[1 : value.index("]")]
    try:
        return str(ip_address(value))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, or None when there is no usable one."""
    remote = _address(request.META.get("REMOTE_ADDR") or "")
    proxies = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    header = request.headers.get("X-Forwarded-For", "")
    forwarded = [entry for entry in header.split(",") if entry.strip()]
    if proxies <= 0 or not forwarded:
        return remote
    # Fewer entries than proxies: the request skipped the outer ones, and the first entry
    # was written by one of ours (a proxy that is misconfigured is not the client's 500).
    entry = forwarded[-min(proxies, len(forwarded))]
    return _address(entry) or remote
