"""allauth in Indonesian: its pages (allauth's own strings from its catalogue, ours from
the project's) in the portal's layout with the language switch, and its emails branded
and written in the recipient's language, whoever triggers them.

Needs the compiled catalogue (``manage.py translations --write``) for our strings.
"""

from __future__ import annotations

import re
import time

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse

from portal.languages import language_of
from portal.models import Preferences

PASSWORD = "a much better passphrase 42"
COOKIE = settings.LANGUAGE_COOKIE_NAME
BRAND = "Kopi Kita Billing"


@pytest.fixture(autouse=True)
def brand(settings):
    settings.PORTAL_BRAND_NAME = BRAND
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"


@pytest.fixture
def window_start():
    """From the start of a 30 s TOTP window, so a code computed now is still current."""
    with time_machine.travel((int(time.time()) // 30 + 1) * 30, tick=True):
        yield


def indonesian() -> Client:
    client = Client()
    client.cookies[COOKIE] = "id"
    return client


def text(response) -> str:
    return response.content.decode()


def visible(html: str) -> str:
    """The words a reader sees (tags, scripts and styles removed, spaces collapsed)."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    html = re.sub(r"<[^>]+>", " ", html)
    return " ".join(html.split())


def html_alternative(message) -> str:
    (html,) = [content for content, mimetype in message.alternatives if mimetype == "text/html"]
    return html


def sign_up(client: Client, email: str):
    return client.post(
        reverse("account_signup"), {"email": email, "password1": PASSWORD, "password2": PASSWORD}
    )


# --- Pages --------------------------------------------------------------------------------


def test_the_sign_in_page_in_indonesian_with_the_switch(db):
    page = indonesian().get(reverse("account_login"))
    html = text(page)
    words = visible(html)

    assert '<html lang="id"' in html
    # allauth's strings, from allauth's Indonesian catalogue...
    assert "Lupa kata sandi Anda?" in words
    assert "Ingat Saya" in words
    assert "Masuk" in words
    # ...and ours, around them.
    assert "Langganan, tagihan, dan pembayaran dalam satu tempat." in words
    assert "Kata sandi" in words
    for english in ("Forgot your password?", "Remember Me", "Sign In", "in one place"):
        assert english not in words
    # The switch: a POST to set_language that comes back to this page, Indonesian pressed.
    switch = re.search(r"<form[^>]*data-language-switch.*?</form>", html, flags=re.S)
    assert switch, "no language switch on the sign-in page"
    form = switch.group(0)
    assert f'action="{reverse("set_language")}"' in form
    assert 'method="post"' in form
    assert 'name="csrfmiddlewaretoken"' in form
    assert f'name="next" value="{reverse("account_login")}"' in form
    assert re.search(r'value="id"[^>]*aria-pressed="true"', form)
    assert re.search(r'value="en"[^>]*aria-pressed="false"', form)


def test_the_switch_on_the_sign_in_page_keeps_the_page_and_its_next(db):
    client = Client()
    login = reverse("account_login") + "?next=/billing/invoices/"
    html = text(client.get(login))
    next_value = re.search(r'name="next" value="([^"]+)"', html).group(1)
    assert next_value.replace("&amp;", "&") == login

    response = client.post(reverse("set_language"), {"language": "id", "next": login})

    assert response["Location"] == login
    page = client.get(login)
    assert "Lupa kata sandi Anda?" in visible(text(page))


def test_the_sign_up_page_in_indonesian_with_the_switch(db):
    html = text(indonesian().get(reverse("account_signup")))
    words = visible(html)

    assert '<html lang="id"' in html
    assert "Sudah memiliki akun?" in words
    assert "Kata sandi (lagi)" in words
    assert "Langganan, tagihan, dan pembayaran dalam satu tempat." in words
    assert "data-language-switch" in html
    assert "Already have an account?" not in words


@pytest.mark.parametrize(
    ("url_name", "indonesian_text"),
    [
        ("account_reset_password", "Lupa kata sandi Anda?"),
        ("account_email_verification_sent", "Verifikasi Alamat E-mail Anda"),
    ],
)
def test_the_other_entrance_pages_are_in_indonesian(db, url_name, indonesian_text):
    html = text(indonesian().get(reverse(url_name)))

    assert '<html lang="id"' in html
    assert indonesian_text in visible(html)
    assert "data-language-switch" in html
    assert 'class="card' in html  # the portal's look


def test_the_account_pages_are_in_indonesian(alice):
    Preferences.objects.create(user=alice, language="id")
    client = Client()
    client.force_login(alice)
    session = client.session
    session["portal_language"] = "id"
    session.save()

    words = visible(text(client.get(reverse("account_change_password"))))
    assert "Detail masuk dan pengaturan keamanan akun Anda." in words
    assert "Autentikasi dua faktor" in words
    assert "Two-factor authentication" not in words

    words = visible(text(client.get(reverse("mfa_index"))))
    assert "Autentikasi dua faktor" in words


# --- Emails -------------------------------------------------------------------------------


def test_the_verification_email_is_in_the_language_the_customer_signed_up_in(db):
    email = "pelanggan@example.co.id"

    response = sign_up(indonesian(), email)

    assert response.status_code == 302
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(email=email)
    assert language_of(user) == "id"  # the sign-up page's language is the account's
    (message,) = mail.outbox
    assert message.to == [email]
    assert message.subject == f"[{BRAND}] Mohon Konfirmasi Alamat E-mail Anda"
    assert "127.0.0.1" not in message.subject
    assert "testserver" not in message.subject
    assert f"Halo dari {BRAND}!" in message.body
    assert "/accounts/confirm-email/" in message.body
    assert "Please Confirm" not in message.body
    assert "Hello from" not in message.body
    # The HTML version, in the look of the billing emails.
    html = html_alternative(message)
    assert '<html lang="id">' in html
    assert BRAND in html
    assert "Konfirmasi alamat email" in html  # the button
    assert f"{BRAND} mengirim email ini" in html
    assert 'href="http://testserver/accounts/confirm-email/' in html


def test_a_language_switched_to_before_signing_up_is_the_accounts(db):
    from django.contrib.auth import get_user_model

    client = Client(HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    client.post(reverse("set_language"), {"language": "id", "next": reverse("account_signup")})

    sign_up(client, "baru@example.co.id")

    assert language_of(get_user_model().objects.get(email="baru@example.co.id")) == "id"
    (message,) = mail.outbox
    assert message.subject == f"[{BRAND}] Mohon Konfirmasi Alamat E-mail Anda"


def test_an_english_sign_up_gets_an_english_verification_email(db):
    sign_up(Client(), "customer@example.com")

    (message,) = mail.outbox
    assert message.subject == f"[{BRAND}] Please Confirm Your Email Address"
    assert f"Hello from {BRAND}!" in message.body
    html = html_alternative(message)
    assert '<html lang="en">' in html
    assert "Confirm email address" in html


def test_an_anonymous_password_reset_is_written_in_the_accounts_language(alice, bob):
    Preferences.objects.create(user=alice, language="id")
    Preferences.objects.create(user=bob, language="en")

    # Asked for from an English page, for an Indonesian account...
    Client().post(reverse("account_reset_password"), {"email": alice.email})
    # ...and from an Indonesian page, for an English one.
    indonesian().post(reverse("account_reset_password"), {"email": bob.email})

    to_alice, to_bob = mail.outbox
    assert to_alice.to == [alice.email]
    assert to_alice.subject == f"[{BRAND}] E-mail Reset Kata Sandi"
    assert "/accounts/password/reset/key/" in to_alice.body
    assert "Buat kata sandi baru" in html_alternative(to_alice)
    assert to_bob.to == [bob.email]
    assert to_bob.subject == f"[{BRAND}] Password Reset Email"
    assert "Choose a new password" in html_alternative(to_bob)


def test_a_reset_for_an_address_without_an_account_is_in_the_visitors_language(db):
    indonesian().post(reverse("account_reset_password"), {"email": "nobody@example.com"})

    (message,) = mail.outbox
    assert message.subject == f"[{BRAND}] Akun Tidak Dikenal"
    assert "Buat akun" in html_alternative(message)


def test_signing_up_again_with_a_known_address_answers_in_the_accounts_language(alice):
    Preferences.objects.create(user=alice, language="id")

    sign_up(Client(), alice.email)

    (message,) = mail.outbox
    assert message.to == [alice.email]
    assert message.subject == f"[{BRAND}] Akun Sudah Ada"


def test_the_email_language_does_not_leak_into_the_page(alice):
    """Rendering an Indonesian email during an English request leaves the page English."""
    Preferences.objects.create(user=alice, language="id")
    client = Client()

    response = client.post(reverse("account_reset_password"), {"email": alice.email}, follow=True)

    assert mail.outbox[0].subject == f"[{BRAND}] E-mail Reset Kata Sandi"
    assert '<html lang="en"' in text(response)
    assert "Forgot your password?" not in visible(text(response))  # the "sent" page
    assert "Password Reset" in visible(text(response))


# --- Two-factor -----------------------------------------------------------------------------


# allauth sends the notice on commit, in the request: a real transaction.
@pytest.mark.django_db(transaction=True)
def test_two_factor_pages_and_notice_in_the_accounts_language(window_start, alice, settings):
    from allauth.account.models import EmailAddress

    from .test_accounts import totp

    settings.ACCOUNT_EMAIL_NOTIFICATIONS = True
    EmailAddress.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    Preferences.objects.create(user=alice, language="id")
    laptop = Client()
    laptop.post(
        reverse("account_login"), {"login": alice.email, "password": "correct horse battery"}
    )

    activate = laptop.get(reverse("mfa_activate_totp"))
    if activate.status_code == 302 and activate["Location"].startswith(
        reverse("account_reauthenticate")
    ):  # allauth asks for the password again before a security change
        assert "Masukkan kata sandi Anda:" in visible(text(laptop.get(activate["Location"])))
        laptop.post(activate["Location"], {"password": "correct horse battery"})
        activate = laptop.get(reverse("mfa_activate_totp"))
    assert activate.status_code == 200, activate.get("Location")
    words = visible(text(activate))
    assert "Aktifkan Aplikasi Autentikator" in words
    assert "Autentikasi dua faktor" in words  # our side menu
    secret = re.search(r'id="authenticator_secret"[^>]*value="([A-Z2-7]+)"', text(activate))
    laptop.post(reverse("mfa_activate_totp"), {"code": totp(secret.group(1))})

    # The security notice is written in the account's language.
    (notice,) = [m for m in mail.outbox if m.to == [alice.email]]
    assert notice.subject == f"[{BRAND}] Aplikasi Autentikator Diaktifkan"
    assert '<html lang="id">' in html_alternative(notice)

    # Signing in on an Indonesian phone: the code page is Indonesian and in the portal look.
    phone = indonesian()
    response = phone.post(
        reverse("account_login"), {"login": alice.email, "password": "correct horse battery"}
    )
    assert response["Location"] == reverse("mfa_authenticate")
    html = text(phone.get(reverse("mfa_authenticate")))
    assert "Akun Anda dilindungi oleh autentikasi dua faktor." in visible(html)
    assert "data-language-switch" in html
    assert 'class="card' in html


# --- In a browser ---------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", [1200, 390])
def test_the_switch_on_the_sign_in_page_in_a_browser(page_for, live_server, width):
    from conftest import screenshot

    page = page_for(None, width=width)
    page.goto(f"{live_server.url}{reverse('account_login')}?next=/billing/")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="Sign In").is_visible()

    page.locator("[data-language-switch] button[value='id']").click()

    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "id"
    assert page.url == f"{live_server.url}{reverse('account_login')}?next=/billing/"
    assert page.get_by_role("heading", name="Masuk").is_visible()
    assert page.get_by_text("Lupa kata sandi Anda?").is_visible()
    pressed = page.locator("[data-language-switch] button[aria-pressed='true']")
    assert pressed.get_attribute("value") == "id"
    screenshot(page, f"sign-in-id-{width}")
