"""Every link in an email starts with ``SITE_URL``, whatever ``Host`` the request that
sent it carried.

``ALLOWED_HOSTS`` may list several names (an old domain, the load balancer's); a
password-reset request made through any of them used to get a link on that name,
from allauth's ``request.build_absolute_uri``. Each test here sends its request with
a ``Host`` that is allowed but is not ``SITE_URL``'s, and reads every email sent.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from subscriptions.tests.factories import PlanFactory

SITE = "https://billing.example.com"
OTHER_HOST = "old-billing.example.net"


@pytest.fixture
def other_host(settings) -> Client:
    settings.SITE_URL = SITE
    settings.ALLOWED_HOSTS = [OTHER_HOST, "billing.example.com", "testserver"]
    return Client(HTTP_HOST=OTHER_HOST)


def texts(message) -> list[str]:
    parts = [message.subject, message.body]
    parts += [content for content, _type in getattr(message, "alternatives", [])]
    return parts


def links(message) -> list[str]:
    return sorted(
        {url for text in texts(message) for url in re.findall(r"https?://[^\s\"'<>]+", text)}
    )


def assert_only_site_links(messages) -> None:
    assert messages, "no email was sent"
    for message in messages:
        for text in texts(message):
            assert OTHER_HOST not in text, f"{message.subject!r} names the request's host"
        found = links(message)
        assert found, f"{message.subject!r} has no link"
        off_site = [url for url in found if not url.startswith(f"{SITE}/")]
        assert not off_site, f"{message.subject!r} links off SITE_URL: {off_site}"


@pytest.mark.django_db
def test_the_password_reset_link_is_built_from_site_url(other_host, alice):
    response = other_host.post(reverse("account_reset_password"), {"email": alice.email})

    assert response.status_code == 302
    (message,) = mail.outbox
    assert any(url.startswith(f"{SITE}/accounts/password/reset/key/") for url in links(message))
    assert_only_site_links(mail.outbox)


@pytest.mark.django_db
def test_a_reset_for_an_unknown_address_links_sign_up_on_site_url(other_host):
    other_host.post(reverse("account_reset_password"), {"email": "stranger@example.com"})

    assert_only_site_links(mail.outbox)


@pytest.mark.django_db
def test_the_sign_up_confirmation_link_is_built_from_site_url(other_host):
    password = "a long and unusual passphrase"
    other_host.post(
        reverse("account_signup"),
        {"email": "new@example.com", "password1": password, "password2": password},
    )

    (message,) = mail.outbox
    assert any(url.startswith(f"{SITE}/accounts/confirm-email/") for url in links(message))
    assert_only_site_links(mail.outbox)


@pytest.mark.django_db
def test_signing_up_again_with_a_known_address_links_site_url(other_host, alice, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"  # production: enumeration-proof sign-up
    password = "a long and unusual passphrase"
    other_host.post(
        reverse("account_signup"),
        {"email": alice.email, "password1": password, "password2": password},
    )

    assert_only_site_links(mail.outbox)


@pytest.mark.django_db
def test_billing_emails_sent_during_a_request_link_site_url(
    other_host, alice, settings, django_capture_on_commit_callbacks
):
    settings.MIDTRANS_SERVER_KEY = ""
    settings.SUBSCRIPTIONS_GATEWAY = ""
    PlanFactory(slug="pro", name="Pro", price=Decimal("150000"))
    other_host.force_login(alice)

    with django_capture_on_commit_callbacks(execute=True):
        other_host.post(reverse("portal:subscribe", args=["pro"]))

    assert_only_site_links(mail.outbox)
