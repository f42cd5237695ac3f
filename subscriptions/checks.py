"""System checks of the billing app's settings (registered in ``SubscriptionsConfig.ready``)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Tags, Warning, register

from .app_settings import app_settings


@register(Tags.security, deploy=True)
def check_sandbox_not_allowed_in_production(app_configs=None, **kwargs) -> list[Warning]:
    """The sandbox marks payments paid at a click: allowed with DEBUG off, it is one
    setting away from free subscriptions (``SUBSCRIPTIONS_GATEWAY=sandbox``, or a
    missing ``MIDTRANS_SERVER_KEY``). ``check --deploy --fail-level WARNING`` fails."""
    if settings.DEBUG or not app_settings.SANDBOX_ALLOWED:
        return []
    return [
        Warning(
            "SUBSCRIPTIONS_SANDBOX_ALLOWED is on while DEBUG is off: the offline payment "
            "sandbox, which settles payments at a click, can run on this server.",
            hint="Only on a staging server. In production leave SUBSCRIPTIONS_SANDBOX_ALLOWED "
            "unset and configure MIDTRANS_SERVER_KEY.",
            id="subscriptions.W001",
        )
    ]
