"""The portal's allauth adapter: where allauth asks the project about the request.

- The client's address (for allauth's rate limits) is read through
  ``TRUSTED_PROXY_COUNT`` (``subscriptions.client_ip``), so behind a proxy each
  customer is counted on their own and a forged ``X-Forwarded-For`` counts for nothing.
"""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from subscriptions.client_ip import client_ip


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request: HttpRequest) -> str:
        ip = client_ip(request)
        if not ip:
            raise PermissionDenied("Unable to determine client IP address")
        return ip
