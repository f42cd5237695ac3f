"""The Midtrans client and gateway against a real local HTTP server.

Each test checks the request exactly as Midtrans would receive it (method, path,
Basic auth, JSON headers, Idempotency-Key, body) and answers with Midtrans'
documented responses and errors, including an error inside an HTTP 200.
"""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests
from werkzeug import Response

from subscriptions.exceptions import GatewayError, GatewayUnavailable
from subscriptions.gateways import get_gateway
from subscriptions.gateways.midtrans import MidtransClient, MidtransGateway

from .midtrans_samples import SERVER_KEY

AUTH = "Basic " + base64.b64encode(f"{SERVER_KEY}:".encode()).decode()
ORDER = "INV-2026-000001-a1b2c3d4e5f6"

SNAP_REQUEST = {
    "transaction_details": {"order_id": ORDER, "gross_amount": 150000},
    "item_details": [{"id": "line-1", "name": "Pro (monthly)", "price": 150000, "quantity": 1}],
    "customer_details": {"first_name": "alice", "email": "alice@example.com"},
    "callbacks": {"finish": "https://shop.example/billing/checkout/x/finish/"},
    "expiry": {"start_time": "2026-11-26 18:00:00 +0700", "unit": "minutes", "duration": 1440},
}
SNAP_OK = {
    "token": "66e4fa55-fdac-4ef9-91b5-733b97d1b862",
    "redirect_url": "https://app.sandbox.midtrans.com/snap/v4/redirection/66e4fa55-fdac-4ef9-91b5-733b97d1b862",
}


def gateway_for(httpserver, **kwargs) -> MidtransGateway:
    base = httpserver.url_for("").rstrip("/")
    client = MidtransClient(
        server_key=SERVER_KEY,
        notification_url=kwargs.pop("notification_url", ""),
        timeout=kwargs.pop("timeout", (2, 5)),
        retries=kwargs.pop("retries", 2),
        backoff=0,
    )
    return MidtransGateway(
        server_key=SERVER_KEY, api_base_url=base, snap_base_url=base, client=client, **kwargs
    )


def only_request(httpserver):
    assert len(httpserver.log) == 1, [entry[0].path for entry in httpserver.log]
    return httpserver.log[0][0]


def test_snap_checkout_posts_the_transaction_with_basic_auth_json_and_an_idempotency_key(
    httpserver,
):
    httpserver.expect_oneshot_request(
        "/snap/v1/transactions",
        method="POST",
        headers={
            "Authorization": AUTH,
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
        json=SNAP_REQUEST,
    ).respond_with_json(SNAP_OK, status=201)

    session = gateway_for(httpserver).create_checkout(SNAP_REQUEST)

    assert session.token == SNAP_OK["token"]
    assert session.redirect_url == SNAP_OK["redirect_url"]
    request = only_request(httpserver)
    assert request.headers["Idempotency-Key"] == f"snap-{ORDER}"
    assert "X-Override-Notification" not in request.headers
    httpserver.check_assertions()


def test_the_notification_url_is_sent_as_x_override_notification(httpserver):
    httpserver.expect_oneshot_request(
        "/snap/v1/transactions",
        method="POST",
        headers={"X-Override-Notification": "https://shop.example/webhooks/midtrans/"},
    ).respond_with_json(SNAP_OK, status=201)

    gateway_for(
        httpserver, notification_url="https://shop.example/webhooks/midtrans/"
    ).create_checkout(SNAP_REQUEST)
    httpserver.check_assertions()


def test_snap_401_raises_gateway_error_with_midtrans_message_and_is_not_retried(httpserver):
    httpserver.expect_request("/snap/v1/transactions", method="POST").respond_with_json(
        {
            "error_messages": [
                "Access denied due to unauthorized transaction, please check client or server key",
                "Visit https://snap-docs.midtrans.com/#request-headers for more details",
            ]
        },
        status=401,
    )
    with pytest.raises(GatewayError) as caught:
        gateway_for(httpserver).create_checkout(SNAP_REQUEST)
    assert not isinstance(caught.value, GatewayUnavailable)
    assert caught.value.status_code == 401
    assert "Access denied due to unauthorized transaction" in str(caught.value)
    assert len(httpserver.log) == 1


def test_snap_400_validation_errors_are_joined_into_the_message(httpserver):
    httpserver.expect_request("/snap/v1/transactions", method="POST").respond_with_json(
        {
            "error_messages": [
                "transaction_details.gross_amount is not equal to the sum of item_details"
            ]
        },
        status=400,
    )
    with pytest.raises(GatewayError, match="not equal to the sum of item_details"):
        gateway_for(httpserver).create_checkout(SNAP_REQUEST)


def test_snap_answer_without_token_is_an_error(httpserver):
    httpserver.expect_request("/snap/v1/transactions", method="POST").respond_with_json(
        {"redirect_url": "x"}, status=201
    )
    with pytest.raises(GatewayError, match="did not return a payment page"):
        gateway_for(httpserver).create_checkout(SNAP_REQUEST)


def test_status_is_a_get_without_body_or_idempotency_key(httpserver):
    body = {
        "status_code": "200",
        "status_message": "Success, transaction is found",
        "transaction_id": "513f1f01-c9da-474c-9fc9-d5c64364b709",
        "order_id": ORDER,
        "payment_type": "gopay",
        "transaction_time": "2026-11-26 18:45:13",
        "transaction_status": "settlement",
        "fraud_status": "accept",
        "gross_amount": "150000.00",
        "currency": "IDR",
    }
    httpserver.expect_oneshot_request(
        f"/v2/{ORDER}/status", method="GET", headers={"Authorization": AUTH}
    ).respond_with_json(body)

    transaction = gateway_for(httpserver).get_status(ORDER)

    assert transaction.transaction_status == "settlement"
    assert transaction.fraud_status == "accept"
    assert transaction.payment_type == "gopay"
    assert transaction.gross_amount == "150000.00"
    request = only_request(httpserver)
    assert "Idempotency-Key" not in request.headers
    assert request.get_data() == b""


def test_an_error_inside_http_200_is_an_error(httpserver):
    # Midtrans answers HTTP 200 with status_code 404 for an unknown order.
    httpserver.expect_request(f"/v2/{ORDER}/status", method="GET").respond_with_json(
        {"status_code": "404", "status_message": "Transaction doesn't exist."}, status=200
    )
    with pytest.raises(GatewayError) as caught:
        gateway_for(httpserver).get_status(ORDER)
    assert caught.value.status_code == 404
    assert "Transaction doesn't exist." in str(caught.value)


def test_status_code_407_in_the_body_is_the_expire_calls_success(httpserver):
    httpserver.expect_oneshot_request(
        f"/v2/{ORDER}/expire", method="POST", headers={"Authorization": AUTH}
    ).respond_with_json(
        {
            "status_code": "407",
            "status_message": "Success, transaction has expired",
            "transaction_id": "2af158d4-b82e-46ac-808b-be19aaa96ce3",
            "order_id": ORDER,
            "payment_type": "echannel",
            "transaction_time": "2026-11-26 10:05:10",
            "transaction_status": "expire",
            "gross_amount": "150000.00",
        }
    )
    transaction = gateway_for(httpserver).expire(ORDER)
    assert transaction.transaction_status == "expire"
    request = only_request(httpserver)
    assert request.headers["Idempotency-Key"]
    assert request.headers["Content-Type"] == "application/json"


def test_cancel_refused_with_412_in_the_body(httpserver):
    httpserver.expect_request(f"/v2/{ORDER}/cancel", method="POST").respond_with_json(
        {
            "status_code": "412",
            "status_message": "Merchant cannot modify the status of the transaction",
        }
    )
    with pytest.raises(GatewayError, match="Merchant cannot modify the status"):
        gateway_for(httpserver).cancel(ORDER)


@pytest.mark.parametrize(
    ("action", "status", "fraud"), [("approve", "capture", "accept"), ("deny", "deny", "deny")]
)
def test_challenge_approve_and_deny_post_to_their_endpoints(httpserver, action, status, fraud):
    httpserver.expect_oneshot_request(f"/v2/{ORDER}/{action}", method="POST").respond_with_json(
        {
            "status_code": "200",
            "status_message": f"Success, transaction is {action}d",
            "order_id": ORDER,
            "payment_type": "credit_card",
            "transaction_status": status,
            "fraud_status": fraud,
            "gross_amount": "150000.00",
        }
    )
    transaction = getattr(gateway_for(httpserver), action)(ORDER)
    assert (transaction.transaction_status, transaction.fraud_status) == (status, fraud)
    httpserver.check_assertions()


def test_refund_sends_refund_key_amount_and_reason_and_uses_the_key_as_idempotency_key(httpserver):
    httpserver.expect_oneshot_request(
        f"/v2/{ORDER}/refund",
        method="POST",
        headers={"Authorization": AUTH},
        json={"refund_key": "k-1", "amount": 50000, "reason": "customer asked"},
    ).respond_with_json(
        {
            "status_code": "200",
            "status_message": "Success, refund request is approved",
            "transaction_id": "447e846a-403e-47db-a5da-d7f3f06375d6",
            "order_id": ORDER,
            "payment_type": "credit_card",
            "transaction_time": "2026-11-26 13:36:24",
            "transaction_status": "partial_refund",
            "gross_amount": "150000.00",
            "refund_chargeback_id": 1,
            "refund_amount": "50000.00",
            "refund_key": "k-1",
        }
    )
    transaction = gateway_for(httpserver).refund(
        ORDER, amount=50000, refund_key="k-1", reason="customer asked"
    )
    assert transaction.transaction_status == "partial_refund"
    assert only_request(httpserver).headers["Idempotency-Key"] == "k-1"
    httpserver.check_assertions()


def test_refund_with_invalid_amount_raises_midtrans_414_message(httpserver):
    httpserver.expect_request(f"/v2/{ORDER}/refund", method="POST").respond_with_json(
        {"status_code": "414", "status_message": "Refund request is rejected due to invalid amount"}
    )
    with pytest.raises(GatewayError, match="invalid amount"):
        gateway_for(httpserver).refund(ORDER, amount=1, refund_key="k", reason="r")


def test_http_500_is_unavailable_and_not_retried(httpserver):
    httpserver.expect_request(f"/v2/{ORDER}/status").respond_with_json(
        {"status_code": "500", "status_message": "Sorry, we encountered internal server error."},
        status=500,
    )
    with pytest.raises(GatewayUnavailable, match="internal server error"):
        gateway_for(httpserver).get_status(ORDER)
    assert len(httpserver.log) == 1


def test_a_body_that_is_not_json_is_an_error(httpserver):
    httpserver.expect_request(f"/v2/{ORDER}/status").respond_with_data(
        "<html>oops</html>", content_type="text/html"
    )
    with pytest.raises(GatewayError, match="not a JSON object"):
        gateway_for(httpserver).get_status(ORDER)


def test_a_read_timeout_is_retried_with_the_same_idempotency_key(httpserver):
    calls = []

    def slow_then_fast(request):
        calls.append(request.headers.get("Idempotency-Key"))
        if len(calls) == 1:
            time.sleep(1.2)
        return Response(json.dumps(SNAP_OK), status=201, content_type="application/json")

    httpserver.expect_request("/snap/v1/transactions", method="POST").respond_with_handler(
        slow_then_fast
    )
    session = gateway_for(httpserver, timeout=(2, 0.8)).create_checkout(SNAP_REQUEST)
    assert session.token == SNAP_OK["token"]
    assert len(calls) == 2
    assert calls[0] == calls[1] == f"snap-{ORDER}"


class CountingSession(requests.Session):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def request(self, *args, **kwargs):
        self.calls += 1
        return super().request(*args, **kwargs)


def test_connection_errors_are_retried_a_bounded_number_of_times_then_unavailable():
    session = CountingSession()
    client = MidtransClient(
        server_key=SERVER_KEY, timeout=(0.5, 0.5), retries=2, backoff=0, session=session
    )
    gateway = MidtransGateway(
        server_key=SERVER_KEY,
        api_base_url="http://127.0.0.1:9",  # discard port: nothing listens
        snap_base_url="http://127.0.0.1:9",
        client=client,
    )
    with pytest.raises(GatewayUnavailable, match="could not be reached"):
        gateway.get_status(ORDER)
    assert session.calls == 3


def test_settings_choose_sandbox_or_production_hosts(settings):
    settings.MIDTRANS_SERVER_KEY = SERVER_KEY
    settings.MIDTRANS_API_BASE_URL = ""
    settings.MIDTRANS_SNAP_BASE_URL = ""
    settings.SUBSCRIPTIONS_GATEWAY = ""
    settings.MIDTRANS_IS_PRODUCTION = False
    gateway = get_gateway()
    assert isinstance(gateway, MidtransGateway)
    assert gateway.snap_base_url == "https://app.sandbox.midtrans.com"
    assert gateway.api_base_url == "https://api.sandbox.midtrans.com"
    settings.MIDTRANS_IS_PRODUCTION = True
    gateway = get_gateway()
    assert gateway.snap_base_url == "https://app.midtrans.com"
    assert gateway.api_base_url == "https://api.midtrans.com"


def test_midtrans_without_a_server_key_is_a_gateway_error_not_a_crash(settings):
    settings.MIDTRANS_SERVER_KEY = ""
    settings.SUBSCRIPTIONS_GATEWAY = "midtrans"
    with pytest.raises(GatewayError, match="MIDTRANS_SERVER_KEY"):
        get_gateway()
