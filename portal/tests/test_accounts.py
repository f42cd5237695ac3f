"""Accounts (django-allauth): sign up with a verified email, password reset, optional
TOTP two-factor sign-in, and rate limits kept in the real shared cache.

TOTP codes are computed here with RFC 6238 written out (HMAC-SHA1 over the time
step), not with allauth's own helpers, so the test would catch allauth and us
disagreeing about what a code is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from subscriptions.tests.factories import UserFactory

BASE_DIR = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"  # UserFactory's
NEW_PASSWORD = "a much better passphrase 42"
DASHBOARD = "/billing/"


def totp(secret: str, *, at: float | None = None, step: int = 30, digits: int = 6) -> str:
    """RFC 6238: HOTP (RFC 4226) of the number of ``step``-second intervals since 1970."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = int((time.time() if at is None else at) // step)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def text(response) -> str:
    return response.content.decode()


def sign_in(client: Client, email: str, password: str = PASSWORD):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def is_signed_in(client: Client) -> bool:
    return client.get(DASHBOARD).status_code == 200


def link_in(message, path_prefix: str) -> str:
    match = re.search(rf"https?://[^/\s]+({re.escape(path_prefix)}[^\s]+)", message.body)
    assert match, message.body
    return match.group(1)


@pytest.fixture
def mandatory_verification(settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    return settings


@pytest.fixture
def window_start():
    """Run the test from the start of a 30 s TOTP window (time keeps ticking), so a
    code computed now is still the current one when the server checks it."""
    start = (int(time.time()) // 30 + 1) * 30
    with time_machine.travel(start, tick=True):
        yield start


# --- Sign up and verify -----------------------------------------------------------------


def test_signing_up_needs_the_emailed_link_before_the_first_sign_in(
    client, db, mandatory_verification
):
    email = "new.customer@example.com"

    response = client.post(
        reverse("account_signup"),
        {"email": email, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert not is_signed_in(client)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [email]

    # Signing in before confirming is refused: it only sends the link again.
    other = Client()
    refused = sign_in(other, email, NEW_PASSWORD)
    assert refused["Location"] == reverse("account_email_verification_sent")
    assert not is_signed_in(other)

    confirm = link_in(mail.outbox[0], "/accounts/confirm-email/")
    page = client.get(confirm)
    assert page.status_code == 200
    assert 'class="card' in text(page)  # allauth's page in the portal look
    assert client.post(confirm).status_code == 302

    fresh = Client()
    response = sign_in(fresh, email, NEW_PASSWORD)
    assert response["Location"] == DASHBOARD
    assert is_signed_in(fresh)


def test_verification_is_mandatory_and_the_cache_shared_with_production_settings(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DEBUG", "CACHE_URL", "ACCOUNT_EMAIL_VERIFICATION", "DATABASE_URL"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        DEBUG="0",
        SECRET_KEY="x" * 64,
        ALLOWED_HOSTS="billing.example.com",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    code = (
        "from django.conf import settings as s;"
        "from allauth.account import app_settings as a;"
        "print(s.ACCOUNT_EMAIL_VERIFICATION, s.CACHES['default']['BACKEND'],"
        " a.RATE_LIMITS['login_failed'], s.MFA_SUPPORTED_TYPES)"
    )

    def settings_with(**extra) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=BASE_DIR,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().splitlines()[-1]

    default = settings_with()
    assert default.startswith("mandatory django.core.cache.backends.db.DatabaseCache ")
    assert "10/m/ip,5/300s/key" in default  # rate limits on
    assert "['totp', 'recovery_codes']" in default
    redis = settings_with(CACHE_URL="redis://127.0.0.1:6379/0")
    assert "django.core.cache.backends.redis.RedisCache" in redis


def test_the_redis_client_for_a_redis_cache_url_is_installed():
    import redis

    assert redis.Redis


# --- Password reset and change ----------------------------------------------------------


def test_a_forgotten_password_is_reset_through_the_emailed_link(client, alice):
    client.post(reverse("account_reset_password"), {"email": alice.email})

    assert len(mail.outbox) == 1
    link = link_in(mail.outbox[0], "/accounts/password/reset/key/")
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    response = client.post(
        form_page.redirect_chain[-1][0] if form_page.redirect_chain else link,
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302

    assert sign_in(Client(), alice.email, PASSWORD).get("Location") != DASHBOARD
    assert sign_in(Client(), alice.email, NEW_PASSWORD)["Location"] == DASHBOARD


def test_a_signed_in_customer_changes_the_password(client, alice):
    client.force_login(alice)

    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)


def test_a_second_email_address_can_be_added_and_must_be_verified(
    client, alice, mandatory_verification
):
    client.force_login(alice)

    response = client.post(
        reverse("account_email"), {"action_add": "", "email": "alice.work@example.com"}
    )

    assert response.status_code == 302
    assert mail.outbox[-1].to == ["alice.work@example.com"]
    page = text(client.get(reverse("account_email")))
    assert "alice.work@example.com" in page
    assert "Unverified" in page


# --- Two-factor (TOTP) ------------------------------------------------------------------


def confirm_password(client: Client, url: str) -> str:
    """allauth asks for the password again before a security change; give it."""
    response = client.get(url)
    if response.status_code == 302 and response["Location"].startswith(
        reverse("account_reauthenticate")
    ):
        reauthenticate = response["Location"]
        assert "Enter your password" in text(client.get(reauthenticate))
        response = client.post(reauthenticate, {"password": PASSWORD})
        assert response["Location"] == url
        response = client.get(url)
    assert response.status_code == 200, response.get("Location")
    return text(response)


def activate_totp(client: Client) -> str:
    """Turn on the authenticator app for the signed-in user; returns its secret."""
    page = confirm_password(client, reverse("mfa_activate_totp"))
    secret = re.search(r'id="authenticator_secret"[^>]*value="([A-Z2-7]+)"', page)
    assert secret, page
    response = client.post(reverse("mfa_activate_totp"), {"code": totp(secret.group(1))})
    assert response.status_code == 302, text(response)
    return secret.group(1)


def test_two_factor_sign_in_asks_for_the_authenticator_code(window_start, alice):
    client = Client()
    assert sign_in(client, alice.email)["Location"] == DASHBOARD
    secret = activate_totp(client)
    recovery = client.get(reverse("mfa_view_recovery_codes"))
    assert recovery.status_code == 200
    assert "Recovery Codes" in text(recovery)

    fresh = Client()
    response = sign_in(fresh, alice.email)
    assert response["Location"] == reverse("mfa_authenticate")
    assert not is_signed_in(fresh)  # the password alone is not enough

    wrong = f"{(int(totp(secret)) + 1) % 10**6:06d}"
    assert fresh.post(reverse("mfa_authenticate"), {"code": wrong}).status_code == 200
    assert not is_signed_in(fresh)

    code = totp(secret)
    response = fresh.post(reverse("mfa_authenticate"), {"code": code})
    assert response["Location"] == DASHBOARD
    assert is_signed_in(fresh)

    # The same code cannot be used twice (the used-code mark lives in the shared cache).
    again = Client()
    sign_in(again, alice.email)
    assert again.post(reverse("mfa_authenticate"), {"code": code}).status_code == 200
    assert not is_signed_in(again)


def test_the_two_factor_pages_look_like_the_portal(window_start, alice):
    client = Client()
    sign_in(client, alice.email)

    index = text(client.get(reverse("mfa_index")))
    activate = confirm_password(client, reverse("mfa_activate_totp"))

    for page in (index, activate):
        assert "/static/css/app.css" in page
        assert "Account settings" in page  # the account side menu
        assert 'aria-current="page"' in page
    assert "Authenticator App" in index
    assert 'src="data:image/svg+xml;base64,' in activate  # the QR code
    assert 'class="field-input' in activate
    assert "btn btn-primary" in activate


# --- Rate limits ------------------------------------------------------------------------


def test_failed_sign_ins_are_rate_limited_in_the_shared_cache(settings, alice):
    del settings.ACCOUNT_RATE_LIMITS  # the test settings switch them off; production has them
    assert django_settings.CACHES["default"]["BACKEND"].endswith("DatabaseCache")
    cache.clear()
    client = Client()

    for _ in range(5):
        response = sign_in(client, alice.email, "wrong password")
        assert "not correct" in text(response)

    blocked = sign_in(client, alice.email)  # even the right password, for now
    assert blocked.status_code == 200
    assert "Too many failed login attempts" in text(blocked)
    assert not is_signed_in(client)

    # Another account from the same address is not locked out by alice's failures.
    bob = UserFactory(email="bob@example.com")
    assert sign_in(Client(), bob.email)["Location"] == DASHBOARD
