"""Midtrans-format notification bodies for tests, one per payment method.

Shapes follow the samples in Midtrans' "HTTP(S) Notification / Webhooks" guide
(card, GoPay, QRIS, ShopeePay, BCA and Permata virtual accounts, Mandiri bill,
Indomaret), with our order id, amount and a signature made with the test key.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

SERVER_KEY = "SB-Mid-server-TESTKEY0123456789abcdef"

# Midtrans' status_code per transaction status, as notifications carry them.
STATUS_CODES = {
    "capture": "200",
    "settlement": "200",
    "pending": "201",
    "deny": "202",
    "cancel": "200",
    "expire": "407",
    "refund": "200",
    "partial_refund": "200",
    "failure": "202",
    "authorize": "200",
}

METHOD_FIELDS: dict[str, dict[str, Any]] = {
    "credit_card": {
        "masked_card": "481111-1114",
        "eci": "05",
        "channel_response_message": "Approved",
        "channel_response_code": "00",
        "card_type": "credit",
        "bank": "bni",
        "approval_code": "1578569243927",
    },
    "gopay": {},
    "qris": {"transaction_type": "on-us", "issuer": "gopay", "acquirer": "gopay"},
    "shopeepay": {},
    "bank_transfer": {
        "va_numbers": [{"va_number": "333333333333333", "bank": "bca"}],
        "payment_amounts": [],
    },
    "permata": {"permata_va_number": "8562000087926752"},
    "echannel": {"biller_code": "70012", "bill_key": "990000000260"},
    "cstore": {
        "store": "indomaret",
        "payment_code": "300063000630006300",
        "approval_code": "ABC0101BCA02",
    },
}


def signature(
    order_id: str, status_code: str, gross_amount: str, server_key: str = SERVER_KEY
) -> str:
    return hashlib.sha512(f"{order_id}{status_code}{gross_amount}{server_key}".encode()).hexdigest()


def notification(
    method: str,
    *,
    order_id: str,
    gross_amount: str,
    transaction_status: str = "settlement",
    fraud_status: str | None = "accept",
    status_code: str | None = None,
    currency: str = "IDR",
    server_key: str = SERVER_KEY,
    transaction_id: str = "513f1f01-c9da-474c-9fc9-d5c64364b709",
    **extra: Any,
) -> dict[str, Any]:
    """A signed notification as Midtrans sends it for ``method``."""
    status_code = status_code or STATUS_CODES[transaction_status]
    if (
        transaction_status == "capture"
        and fraud_status == "challenge"
        and "status_code" not in extra
    ):
        status_code = "201"
    body: dict[str, Any] = {
        "transaction_time": "2026-11-26 18:27:19",
        "transaction_status": transaction_status,
        "transaction_id": transaction_id,
        "status_message": "midtrans payment notification",
        "status_code": status_code,
        "payment_type": "bank_transfer" if method == "permata" else method,
        "order_id": order_id,
        "merchant_id": "G141532850",
        "gross_amount": gross_amount,
        "currency": currency,
    }
    if fraud_status is not None:
        body["fraud_status"] = fraud_status
    if transaction_status == "settlement":
        body["settlement_time"] = "2026-11-26 18:28:04"
    body.update(METHOD_FIELDS[method])
    body.update(extra)
    body["signature_key"] = signature(order_id, status_code, gross_amount, server_key)
    return body


def resign(body: dict[str, Any], server_key: str = SERVER_KEY) -> dict[str, Any]:
    body = dict(body)
    body["signature_key"] = signature(
        body["order_id"], body["status_code"], body["gross_amount"], server_key
    )
    return body


def as_json(body: dict[str, Any]) -> str:
    return json.dumps(body)
