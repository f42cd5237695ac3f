"""The portal's allauth adapter: where allauth asks the project about the request.

- The client's address (for allauth's rate limits) is read through
  ``TRUSTED_PROXY_COUNT`` (``subscriptions.client_ip``), so behind a proxy each
  customer is counted on their own and a forged ``X-Forwarded-For`` counts for nothing.
- Every link and name in allauth's emails comes from ``SITE_URL``, never from the
  request's ``Host``: ``ALLOWED_HOSTS`` may allow several names (an old domain, the
  load balancer's), and a reset link sent to whichever one a request used is a link
  someone else may control. allauth builds its links with
  ``request.build_absolute_uri`` in its flows; every email goes through ``send_mail``,
  which puts each ``*_url`` of the context on ``SITE_URL``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from subscriptions.client_ip import client_ip

from .links import absolute
from .templatetags.portal_tags import brand_name


@dataclass(frozen=True)
class Site:
    """What allauth's email templates read from ``current_site``."""

    name: str
    domain: str


def site() -> Site:
    return Site(name=str(brand_name()), domain=urlsplit(settings.SITE_URL).netloc)


def on_site(url: str) -> str:
    """``url`` (absolute or a path) with ``SITE_URL``'s scheme and host."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return absolute(path + (f"#{parts.fragment}" if parts.fragment else ""))


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request: HttpRequest) -> str:
        ip = client_ip(request)
        if not ip:
            raise PermissionDenied("Unable to determine client IP address")
        return ip

    def format_email_subject(self, subject: str) -> str:
        prefix = getattr(settings, "ACCOUNT_EMAIL_SUBJECT_PREFIX", None)
        return (f"[{site().name}] " if prefix is None else prefix) + str(subject)

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        context = {
            key: on_site(value) if key.endswith("_url") and isinstance(value, str) else value
            for key, value in context.items()
        }
        super().send_mail(template_prefix, email, {"current_site": site(), **context})
