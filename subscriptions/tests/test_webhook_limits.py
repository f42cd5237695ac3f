"""What the Midtrans webhook reads and keeps (issue 13, item 3).

- A body over ``SUBSCRIPTIONS_WEBHOOK_MAX_BODY_BYTES`` is refused 413 after reading at
  most a prefix of it (checked over a real socket: the server answers while most of the
  declared body has not even been sent); only that prefix and the size are kept.
- A request that is not validly signed (malformed, unsigned, badly signed) keeps only what
  staff need to see an attack: its size, address, selected headers and the first
  ``KEPT_UNVERIFIED_BYTES`` of its body, written once (one INSERT, no UPDATE).
- A validly signed notification is kept in full.
"""

from __future__ import annotations

import json
import socket
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from subscriptions.models import WebhookLog
from subscriptions.webhooks import KEPT_UNVERIFIED_BYTES

from . import test_webhook
from .midtrans_samples import as_json
from .test_webhook import URL, post, settle
from .test_webhook_hardening import snapshot

midtrans = test_webhook.midtrans
payment = test_webhook.payment

KIB = 1024


def padded(body: dict, size: int) -> bytes:
    """``body`` as JSON with a ``padding`` field making it exactly ``size`` bytes."""
    raw = as_json({**body, "padding": ""}).encode()
    raw = as_json({**body, "padding": "x" * (size - len(raw))}).encode()
    assert len(raw) == size
    return raw


def stored_bytes(log: WebhookLog) -> int:
    return len(log.body.encode("utf-8"))


def untouched(payment) -> bool:
    return snapshot(payment)[:3] == ("pending", False, Decimal("0"))


# --- The size limit -----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_signed_body_over_the_limit_is_413_and_only_a_prefix_is_kept(client, payment):
    raw = padded(settle(payment, "gopay"), 64 * KIB + 1)

    response = post(client, raw, REMOTE_ADDR="198.51.100.7")

    assert (response.status_code, response.json()["status"]) == (413, "invalid")
    assert untouched(payment)
    log = WebhookLog.objects.get()
    assert log.body_size == len(raw)
    assert stored_bytes(log) <= KEPT_UNVERIFIED_BYTES
    assert raw.decode().startswith(log.body)
    assert (log.status, log.remote_addr) == ("invalid", "198.51.100.7")
    assert "64 KiB" in log.error or str(64 * KIB) in log.error


@pytest.mark.django_db
def test_a_signed_notification_at_the_limit_is_processed_and_kept_in_full(client, payment):
    raw = padded(settle(payment, "gopay"), 64 * KIB)

    response = post(client, raw)

    assert (response.status_code, response.json()["status"]) == (200, "processed")
    log = WebhookLog.objects.get()
    assert (log.body, log.body_size) == (raw.decode(), len(raw))


@pytest.mark.django_db
def test_the_limit_is_a_setting(client, payment, settings):
    settings.SUBSCRIPTIONS_WEBHOOK_MAX_BODY_BYTES = 300
    raw = as_json(settle(payment, "gopay")).encode()
    assert len(raw) > 300

    response = post(client, raw)

    assert response.status_code == 413
    assert untouched(payment)


@pytest.mark.django_db
def test_a_one_megabyte_flood_keeps_at_most_the_prefix_of_each_request(client, midtrans):
    """The issue's probe: 50 POSTs of 1 MB added 51 MB to the database."""
    raw = b'{"order_id": "' + b"A" * 1_000_000 + b'"}'

    codes = {post(client, raw).status_code for _ in range(50)}

    assert codes == {413}
    logs = list(WebhookLog.objects.all())
    assert len(logs) == 50
    assert all(log.body_size == len(raw) for log in logs)
    assert max(stored_bytes(log) for log in logs) <= KEPT_UNVERIFIED_BYTES
    assert sum(stored_bytes(log) + len(json.dumps(log.headers)) for log in logs) < 50 * 4 * KIB


def http_post(server_url: str, *, declared: int, sent: bytes) -> bytes:
    """POST to the webhook over a real socket, declaring ``declared`` bytes of body but
    sending only ``sent``; returns what the server answers (the status line first)."""
    parts = urlsplit(server_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        head = (
            f"POST {URL} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
        )
        sock.sendall(head.encode() + sent)
        sock.settimeout(10)
        try:
            return sock.recv(4096)
        except TimeoutError:
            return b"(no answer: the server is still reading the body)"


@pytest.mark.django_db(transaction=True)
def test_the_server_answers_413_without_waiting_for_a_large_declared_body(live_server, midtrans):
    # 2 MB declared (under Django's own 2.5 MB limit on request.body), 16 KiB sent: a view
    # that reads the whole body waits for the rest; this one reads only a prefix.
    answer = http_post(live_server.url, declared=2_000_000, sent=b"{" + b" " * (16 * KIB))

    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    log = WebhookLog.objects.get()
    assert log.body_size == 2_000_000
    assert stored_bytes(log) <= KEPT_UNVERIFIED_BYTES


# --- What an unauthenticated request keeps -------------------------------------------------


@pytest.mark.django_db
def test_a_badly_signed_request_keeps_its_size_address_selected_headers_and_a_prefix(
    client, payment
):
    body = {**settle(payment, "gopay"), "signature_key": "0" * 128}
    raw = padded(body, 40 * KIB)

    response = post(
        client,
        raw,
        REMOTE_ADDR="203.0.113.9",
        HTTP_USER_AGENT="curl/8.5",
        HTTP_X_FORWARDED_FOR="192.0.2.1",
        HTTP_X_ATTACKER_CHOSEN="y" * 5000,
        HTTP_AUTHORIZATION="Basic c2VjcmV0",
    )

    assert response.status_code == 401
    assert untouched(payment)
    log = WebhookLog.objects.get()
    assert (log.status, log.signature_valid) == ("invalid", False)
    assert log.body_size == len(raw)
    assert stored_bytes(log) <= KEPT_UNVERIFIED_BYTES
    assert raw.decode().startswith(log.body)
    assert log.remote_addr == "203.0.113.9"
    assert log.headers["User-Agent"] == "curl/8.5"
    assert log.headers["X-Forwarded-For"] == "192.0.2.1"
    assert log.headers["Content-Type"] == "application/json"
    assert "X-Attacker-Chosen" not in log.headers
    assert "Authorization" not in log.headers
    assert log.order_id == payment.order_id  # what it claimed to be about


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw",
    [b"not json " * 5000, b"[" + b"1," * 20000 + b"1]", b'{"order_id": "' + b"x" * 30000 + b'"}'],
    ids=["not json", "not an object", "missing fields"],
)
def test_a_malformed_request_keeps_only_a_prefix(client, midtrans, raw):
    response = post(client, raw)

    assert response.status_code == 400
    log = WebhookLog.objects.get()
    assert log.status == "invalid"
    assert log.body_size == len(raw)
    assert stored_bytes(log) <= KEPT_UNVERIFIED_BYTES


@pytest.mark.django_db
def test_a_prefix_never_splits_a_character(client, midtrans):
    raw = ('{"x": "' + "é" * 5000 + '"}').encode()

    post(client, raw)

    log = WebhookLog.objects.get()
    assert "\ufffd" not in log.body
    assert stored_bytes(log) <= KEPT_UNVERIFIED_BYTES
    assert raw.decode().startswith(log.body)


@pytest.mark.django_db
def test_an_unauthenticated_request_is_written_once(client, payment):
    body = {**settle(payment, "gopay"), "signature_key": "0" * 128}

    with CaptureQueriesContext(connection) as queries:
        assert post(client, body).status_code == 401

    writes = [q["sql"] for q in queries if "subscriptions_webhooklog" in q["sql"]]
    assert len(writes) == 1, writes
    assert writes[0].startswith("INSERT")
    assert not any('"subscriptions_payment"' in q["sql"] for q in queries)


@pytest.mark.django_db
def test_a_validly_signed_notification_is_kept_in_full_with_its_headers(client, payment):
    raw = padded(settle(payment, "gopay"), 20 * KIB)

    post(client, raw, HTTP_USER_AGENT="Veritrans")

    log = WebhookLog.objects.get()
    assert (log.status, log.signature_valid) == ("processed", True)
    assert (log.body, log.body_size) == (raw.decode(), len(raw))
    assert log.headers["User-Agent"] == "Veritrans"


@pytest.mark.django_db
def test_a_log_that_kept_only_a_prefix_is_not_reprocessed(client, payment):
    from subscriptions.exceptions import BillingError
    from subscriptions.webhooks import webhook_reprocess

    post(client, padded({**settle(payment, "gopay"), "signature_key": "0" * 128}, 10 * KIB))
    log = WebhookLog.objects.get()

    with pytest.raises(BillingError, match="Only the first 2048 bytes"):
        webhook_reprocess(log=log)

    log.refresh_from_db()
    assert (log.status, log.error) == ("invalid", "The signature does not match.")


@pytest.mark.django_db
def test_behind_a_trusted_proxy_the_log_keeps_the_senders_address(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    post(client, b"not json", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.50")
    settings.TRUSTED_PROXY_COUNT = 0
    post(client, b"not json", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.51")

    addresses = list(WebhookLog.objects.order_by("pk").values_list("remote_addr", flat=True))
    # With no proxy trusted, a forwarded address proves nothing: the connection's is kept.
    assert addresses == ["203.0.113.50", "10.0.0.2"]
