"""Which gateway is active: ``SUBSCRIPTIONS_GATEWAY``, or Midtrans when it has a server
key and the offline sandbox otherwise."""

from __future__ import annotations

from ..app_settings import app_settings, midtrans_settings
from ..exceptions import GatewayError
from .base import PaymentGateway

GATEWAY_NAMES = ("midtrans", "sandbox")


def active_gateway_name() -> str:
    configured = (app_settings.GATEWAY or "").strip().lower()
    if configured:
        return configured
    return "midtrans" if midtrans_settings.SERVER_KEY else "sandbox"


def get_gateway(name: str | None = None) -> PaymentGateway:
    """The gateway called ``name`` (default: the active one), ready to use.

    Raises ``GatewayError`` when it cannot be used here (no Midtrans key, or the
    sandbox with DEBUG off and no explicit permission), never ImproperlyConfigured:
    a checkout shows the message instead of failing with a 500.
    """
    name = name or active_gateway_name()
    if name == "midtrans":
        from .midtrans import MidtransGateway

        return MidtransGateway.from_settings()
    if name == "sandbox":
        from .sandbox import SandboxGateway

        return SandboxGateway()
    raise GatewayError(f"Unknown payment gateway {name!r}; use one of {', '.join(GATEWAY_NAMES)}.")
