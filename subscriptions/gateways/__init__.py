"""Payment gateways: the interface (``base``), Midtrans over HTTP (``midtrans``), the
offline ``sandbox``, and ``get_gateway()`` choosing the active one."""

from .base import (
    CheckoutSession,
    GatewayTransaction,
    PaymentGateway,
    notification_signature,
    signature_is_valid,
)
from .registry import active_gateway_name, get_gateway

__all__ = [
    "CheckoutSession",
    "GatewayTransaction",
    "PaymentGateway",
    "active_gateway_name",
    "get_gateway",
    "notification_signature",
    "signature_is_valid",
]
