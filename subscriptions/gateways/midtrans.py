"""Midtrans over real HTTP: Snap for the payment page, the Core API for the rest.

- Snap ``POST /snap/v1/transactions`` on ``app.sandbox.midtrans.com`` (or
  ``app.midtrans.com`` when ``MIDTRANS_IS_PRODUCTION``) answers a token and a
  redirect URL.
- Core API ``/v2/{order_id}/status|cancel|expire|approve|deny|refund`` on
  ``api.sandbox.midtrans.com`` / ``api.midtrans.com``.
- ``Authorization: Basic base64(server_key + ":")``, JSON in and out, an
  ``Idempotency-Key`` on every POST (kept across retries of the same call, so a retry
  after a timeout cannot charge or refund twice), connect/read timeouts, and a bounded
  number of retries on network errors only: an answer, even an error, is final.
- An error is an HTTP status >= 400, or a body ``status_code`` >= 400 other than 407
  (Midtrans answers HTTP 200 with an error body, and 407 means "expired", a success of
  the expire call); this is what the official midtrans-python-client does. It raises
  ``GatewayError`` with Midtrans' own message (``GatewayUnavailable`` for 5xx).
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from typing import Any
from urllib.parse import quote

import requests
from django.utils.translation import gettext as _

from ..app_settings import app_settings, midtrans_settings
from ..exceptions import GatewayError, GatewayUnavailable
from .base import CheckoutSession, GatewayTransaction, PaymentGateway

logger = logging.getLogger(__name__)

SNAP_URLS = {False: "https://app.sandbox.midtrans.com", True: "https://app.midtrans.com"}
API_URLS = {False: "https://api.sandbox.midtrans.com", True: "https://api.midtrans.com"}
USER_AGENT = "billing-portal-midtrans/1.0"


def error_message(body: Any, fallback: str) -> str:
    """Midtrans' own words: Snap sends ``error_messages`` (a list), the Core API
    ``status_message``."""
    if isinstance(body, dict):
        messages = body.get("error_messages")
        if isinstance(messages, list) and messages:
            return "; ".join(str(message) for message in messages)
        if isinstance(body.get("status_message"), str) and body["status_message"]:
            return body["status_message"]
    return fallback


def _body_status_code(body: dict[str, Any]) -> int | None:
    try:
        return int(str(body.get("status_code")))
    except (TypeError, ValueError):
        return None


class MidtransClient:
    """A small HTTP client for Midtrans' JSON APIs (requests underneath)."""

    def __init__(
        self,
        *,
        server_key: str,
        notification_url: str = "",
        timeout: tuple[float, float] = (5, 30),
        retries: int = 2,
        backoff: float = 0.5,
        session: requests.Session | None = None,
    ) -> None:
        self.server_key = server_key
        self.notification_url = notification_url
        self.timeout = tuple(timeout)
        self.retries = max(0, int(retries))
        self.backoff = backoff
        self.session = session or requests.Session()

    def headers(self, *, method: str, idempotency_key: str | None) -> dict[str, str]:
        token = base64.b64encode(f"{self.server_key}:".encode()).decode("ascii")
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "Authorization": f"Basic {token}",
            "User-Agent": USER_AGENT,
        }
        if method == "POST":
            headers["Idempotency-Key"] = idempotency_key or uuid.uuid4().hex
            if self.notification_url:
                headers["X-Override-Notification"] = self.notification_url
        return headers

    def request(
        self,
        method: str,
        url: str,
        *,
        body: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        method = method.upper()
        headers = self.headers(method=method, idempotency_key=idempotency_key)
        data = json.dumps(body) if body is not None else (b"{}" if method == "POST" else None)
        response = self._send(method, url, headers=headers, data=data)
        return self._parse(response)

    def _send(self, method: str, url: str, *, headers, data) -> requests.Response:
        attempt = 0
        while True:
            try:
                return self.session.request(
                    method, url, headers=headers, data=data, timeout=self.timeout
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                # Network errors only; the Idempotency-Key is the same on every attempt.
                if attempt >= self.retries:
                    logger.warning(
                        "Midtrans %s %s failed after %s attempts: %s", method, url, attempt + 1, exc
                    )
                    raise GatewayUnavailable(
                        _(
                            "The payment provider could not be reached. "
                            "Please try again in a moment."
                        )
                    ) from exc
                time.sleep(self.backoff * (2**attempt))
                attempt += 1

    def _parse(self, response: requests.Response) -> dict[str, Any]:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if status >= 400:
            message = error_message(body, f"HTTP {status}")
            error_class = GatewayUnavailable if status >= 500 else GatewayError
            raise error_class(f"Midtrans: {message}", status_code=status, body=body)
        if not isinstance(body, dict):
            raise GatewayError(
                "Midtrans answered something that is not a JSON object.", status_code=status
            )
        code = _body_status_code(body)
        if code is not None and code >= 400 and code != 407:
            message = error_message(body, f"status {code}")
            error_class = GatewayUnavailable if code >= 500 else GatewayError
            raise error_class(f"Midtrans: {message}", status_code=code, body=body)
        return body


class MidtransGateway(PaymentGateway):
    name = "midtrans"
    verifies_status = True

    def __init__(
        self,
        *,
        server_key: str,
        is_production: bool = False,
        api_base_url: str = "",
        snap_base_url: str = "",
        notification_url: str = "",
        client: MidtransClient | None = None,
    ) -> None:
        self._server_key = server_key
        self.api_base_url = (api_base_url or API_URLS[bool(is_production)]).rstrip("/")
        self.snap_base_url = (snap_base_url or SNAP_URLS[bool(is_production)]).rstrip("/")
        self.client = client or MidtransClient(
            server_key=server_key,
            notification_url=notification_url,
            timeout=app_settings.GATEWAY_TIMEOUT,
            retries=app_settings.GATEWAY_RETRIES,
            backoff=app_settings.GATEWAY_RETRY_BACKOFF,
        )

    @classmethod
    def from_settings(cls) -> MidtransGateway:
        if not midtrans_settings.SERVER_KEY:
            raise GatewayError("Midtrans is not configured (MIDTRANS_SERVER_KEY is empty).")
        return cls(
            server_key=midtrans_settings.SERVER_KEY,
            is_production=midtrans_settings.IS_PRODUCTION,
            api_base_url=midtrans_settings.API_BASE_URL,
            snap_base_url=midtrans_settings.SNAP_BASE_URL,
            notification_url=midtrans_settings.NOTIFICATION_URL,
        )

    @property
    def server_key(self) -> str:
        return self._server_key

    def _core(self, order_id: str, action: str) -> str:
        return f"{self.api_base_url}/v2/{quote(order_id, safe='')}/{action}"

    def create_checkout(self, request: dict[str, Any]) -> CheckoutSession:
        order_id = request["transaction_details"]["order_id"]
        body = self.client.request(
            "POST",
            f"{self.snap_base_url}/snap/v1/transactions",
            body=request,
            # One key per order: a retried create can never make a second Snap page.
            idempotency_key=f"snap-{order_id}",
        )
        token, redirect_url = body.get("token"), body.get("redirect_url")
        if not isinstance(token, str) or not isinstance(redirect_url, str) or not token:
            raise GatewayError(_("Midtrans did not return a payment page."), body=body)
        return CheckoutSession(token=token, redirect_url=redirect_url, response=body)

    def get_status(self, order_id: str) -> GatewayTransaction:
        return GatewayTransaction.from_body(
            self.client.request("GET", self._core(order_id, "status"))
        )

    def _post_action(self, order_id: str, action: str, body=None, key: str | None = None):
        response = self.client.request(
            "POST",
            self._core(order_id, action),
            body=body,
            # A fresh key per call (kept across its network retries), or the refund key.
            idempotency_key=key,
        )
        return GatewayTransaction.from_body(response)

    def cancel(self, order_id: str) -> GatewayTransaction:
        return self._post_action(order_id, "cancel")

    def expire(self, order_id: str) -> GatewayTransaction:
        return self._post_action(order_id, "expire")

    def approve(self, order_id: str) -> GatewayTransaction:
        return self._post_action(order_id, "approve")

    def deny(self, order_id: str) -> GatewayTransaction:
        return self._post_action(order_id, "deny")

    def refund(
        self, order_id: str, *, amount: int, refund_key: str, reason: str
    ) -> GatewayTransaction:
        body = {"refund_key": refund_key, "amount": int(amount), "reason": reason[:255]}
        return self._post_action(order_id, "refund", body, key=refund_key)
