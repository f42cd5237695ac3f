"""The client's address behind reverse proxies (``TRUSTED_PROXY_COUNT``).

Behind a proxy every request comes from the proxy's address (``REMOTE_ADDR``); the
proxy appends the address it saw to ``X-Forwarded-For``. allauth's sign-in limits
count per client address, so with the proxy's address they counted every customer
as one: one attacker's wrong passwords locked everyone out.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from subscriptions.client_ip import client_ip

PROXY = "10.0.0.1"
ATTACKER = "203.0.113.7"
CUSTOMER = "198.51.100.9"
PASSWORD = "correct horse battery"  # the factories' password


@pytest.fixture
def rate_limits(settings):
    """allauth's default limits (the test settings switch them off): 10 failed sign-ins
    per address a minute, 5 per account in 5 minutes."""
    settings.ACCOUNT_RATE_LIMITS = {}
    return settings


def sign_in(client, email: str, password: str, **headers):
    return client.post(reverse("account_login"), {"login": email, "password": password}, **headers)


LOCKED = "Too many failed login attempts"


def locked_out(response) -> bool:
    return LOCKED in response.content.decode()


def lock_out(client, **headers) -> None:
    """Wrong passwords for made-up accounts until allauth refuses the address."""
    for attempt in range(11):
        response = sign_in(client, f"nobody{attempt}@example.com", "wrong", **headers)
    assert locked_out(response)


@pytest.mark.django_db
def test_a_locked_out_attacker_behind_the_proxy_does_not_lock_out_another_customer(
    client, alice, rate_limits
):
    rate_limits.TRUSTED_PROXY_COUNT = 1
    lock_out(client, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=ATTACKER)

    response = sign_in(
        client, alice.email, PASSWORD, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=CUSTOMER
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:dashboard")


@pytest.mark.django_db
def test_behind_the_proxy_a_forged_forwarded_address_does_not_escape_the_limit(
    client, alice, rate_limits
):
    """The attacker writes its own X-Forwarded-For; the proxy appends the real address,
    and only that last entry (the one our proxy wrote) is believed."""
    rate_limits.TRUSTED_PROXY_COUNT = 1
    for attempt in range(11):
        response = sign_in(
            client,
            f"nobody{attempt}@example.com",
            "wrong",
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR=f"192.0.2.{attempt}, {ATTACKER}",
        )
    assert locked_out(response)


@pytest.mark.django_db
def test_without_a_trusted_proxy_a_forwarded_address_is_ignored(client, rate_limits):
    assert rate_limits.TRUSTED_PROXY_COUNT == 0  # the default: no proxy, trust no header
    for attempt in range(11):
        response = sign_in(
            client,
            f"nobody{attempt}@example.com",
            "wrong",
            REMOTE_ADDR=ATTACKER,
            HTTP_X_FORWARDED_FOR=f"192.0.2.{attempt}",
        )
    assert locked_out(response)


@pytest.mark.parametrize(
    ("count", "remote", "forwarded", "expected"),
    [
        (0, "203.0.113.7", "192.0.2.1", "203.0.113.7"),  # no proxy: the header is anyone's
        (1, PROXY, "192.0.2.1, 203.0.113.7", "203.0.113.7"),  # the entry our proxy wrote
        (2, PROXY, "192.0.2.1, 203.0.113.7, 10.0.0.2", "203.0.113.7"),  # CDN, then our proxy
        # Fewer entries than proxies (a request that skipped the outer one): the first
        # entry, which one of ours wrote; never an error.
        (2, PROXY, "203.0.113.7", "203.0.113.7"),
        (1, PROXY, "", PROXY),  # no header at all: the connection's address
        (1, PROXY, "not an address", PROXY),
        (1, PROXY, "2001:db8::1", "2001:db8::1"),
        (0, "", "", None),
    ],
)
def test_the_client_address_is_the_entry_the_nearest_trusted_proxy_saw(
    rf, settings, count, remote, forwarded, expected
):
    settings.TRUSTED_PROXY_COUNT = count
    request = rf.get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected
