"""The reader's language (portal/languages.py): the switch, the browser's
Accept-Language, and the account's stored preference that follows it to other devices.

"Indonesian" is read from ``<html lang>`` and from one of allauth's own strings on the
sign-in page (its Indonesian catalogue ships with allauth), so these tests need no
string of ours to be translated.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from portal.languages import language_of
from portal.models import Preferences

PASSWORD = "correct horse battery"  # UserFactory's
LOGIN = "/accounts/login/"
DASHBOARD = "/billing/"
ENGLISH = "Forgot your password?"  # allauth's sign-in page
INDONESIAN = "Lupa kata sandi Anda?"  # the same, from allauth's Indonesian catalogue
COOKIE = settings.LANGUAGE_COOKIE_NAME


def lang(response) -> str:
    html = response.content.decode()
    start = html.index("<html")
    tag = html[start : html.index(">", start)]
    return tag.split('lang="', 1)[1].split('"', 1)[0]


def switch(client: Client, language: str, next_url: str = LOGIN, **extra):
    return client.post(reverse("set_language"), {"language": language, "next": next_url}, **extra)


def sign_in(client: Client, email: str, password: str = PASSWORD):
    response = client.post(reverse("account_login"), {"login": email, "password": password})
    assert response.status_code == 302, response.content.decode()[:2000]
    return response


def stored(user) -> str | None:
    return Preferences.objects.filter(user=user).values_list("language", flat=True).first()


# --- Anonymous switch ------------------------------------------------------------------


@pytest.mark.django_db
def test_the_anonymous_switch_sets_the_cookie_and_returns_to_the_page():
    client = Client()
    assert lang(client.get(LOGIN)) == "en"

    response = switch(client, "id")

    assert response.status_code == 302
    assert response["Location"] == LOGIN
    assert response.cookies[COOKIE].value == "id"
    page = client.get(response["Location"])
    assert lang(page) == "id"
    assert INDONESIAN in page.content.decode()
    assert ENGLISH not in page.content.decode()

    # And back.
    switch(client, "en")
    page = client.get(LOGIN)
    assert lang(page) == "en"
    assert ENGLISH in page.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "next_url", ["https://evil.example/phish", "//evil.example/", "http://evil.example"]
)
def test_an_unsafe_next_is_refused_and_the_switch_stays_on_the_site(next_url):
    client = Client()

    response = switch(client, "id", next_url)

    assert response.status_code == 302
    assert "evil.example" not in response["Location"]
    assert response["Location"].startswith("/")
    assert response.cookies[COOKIE].value == "id"  # the language is still switched


@pytest.mark.django_db
def test_a_get_does_not_change_the_language():
    client = Client()

    response = client.get(reverse("set_language"), {"language": "id", "next": LOGIN})

    assert response.status_code == 405
    assert COOKIE not in response.cookies
    assert lang(client.get(LOGIN)) == "en"


@pytest.mark.django_db
def test_the_switch_needs_the_csrf_token():
    client = Client(enforce_csrf_checks=True)

    refused = switch(client, "id")

    assert refused.status_code == 403
    assert COOKIE not in refused.cookies
    assert lang(client.get(LOGIN)) == "en"

    # With the token the sign-in page's form carries, it goes through.
    client.get(LOGIN)
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    response = switch(client, "id", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 302
    assert response.cookies[COOKIE].value == "id"


@pytest.mark.django_db
def test_an_unsupported_language_in_the_switch_changes_nothing():
    client = Client()

    response = switch(client, "fr")

    assert response.status_code == 302
    assert COOKIE not in response.cookies
    assert lang(client.get(LOGIN)) == "en"


@pytest.mark.django_db
def test_a_regional_variant_in_the_switch_is_stored_as_the_language():
    client = Client()

    response = switch(client, "id-ID")

    assert response.cookies[COOKIE].value == "id"
    assert lang(client.get(LOGIN)) == "id"


# --- Accept-Language -------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["id", "id-ID", "id-ID,id;q=0.9,en;q=0.5"])
def test_a_first_visit_follows_an_indonesian_browser(header):
    page = Client().get(LOGIN, HTTP_ACCEPT_LANGUAGE=header)

    assert lang(page) == "id"
    assert INDONESIAN in page.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["fr", "fr-FR,fr;q=0.9", "zz"])
def test_an_unsupported_browser_language_falls_back_to_english(header):
    page = Client().get(LOGIN, HTTP_ACCEPT_LANGUAGE=header)

    assert lang(page) == "en"
    assert ENGLISH in page.content.decode()


@pytest.mark.django_db
def test_the_switch_wins_over_the_browser():
    client = Client(HTTP_ACCEPT_LANGUAGE="id")
    assert lang(client.get(LOGIN)) == "id"

    switch(client, "en")

    assert lang(client.get(LOGIN)) == "en"


# --- Signed in: the account's preference ------------------------------------------------


def test_a_signed_in_switch_is_stored_and_follows_the_account_to_another_device(alice):
    laptop = Client()
    sign_in(laptop, alice.email)

    response = switch(laptop, "id", DASHBOARD)

    assert response["Location"] == DASHBOARD
    assert stored(alice) == "id"
    assert language_of(alice) == "id"
    assert lang(laptop.get(DASHBOARD)) == "id"

    # A phone that never saw the switch (its browser says English) signs in.
    phone = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert lang(phone.get(LOGIN)) == "en"
    sign_in(phone, alice.email)
    assert lang(phone.get(DASHBOARD)) == "id"
    assert stored(alice) == "id"  # signing in did not overwrite it


def test_a_language_chosen_before_signing_in_becomes_the_preference(alice):
    Preferences.objects.create(user=alice, language="en")
    client = Client()
    switch(client, "id")

    sign_in(client, alice.email)

    assert stored(alice) == "id"
    assert lang(client.get(DASHBOARD)) == "id"


def test_an_account_without_a_preference_takes_the_language_it_signs_in_with(alice):
    assert stored(alice) is None
    assert language_of(alice) == "en"  # the site's

    sign_in(Client(HTTP_ACCEPT_LANGUAGE="id"), alice.email)

    assert stored(alice) == "id"
    assert language_of(alice) == "id"


def test_the_cookie_is_realigned_to_the_accounts_language_after_sign_in(alice):
    Preferences.objects.create(user=alice, language="id")
    client = Client()
    client.cookies[COOKIE] = "en"  # this device was English before
    assert lang(client.get(LOGIN)) == "en"

    response = sign_in(client, alice.email)

    # Set as soon as the sign-in answers, so it is right even before the next page.
    assert response.cookies[COOKIE].value == "id"
    page = client.get(DASHBOARD)
    assert lang(page) == "id"

    # Signing out keeps the account's language on this device.
    client.post(reverse("account_logout"))
    assert client.cookies[COOKIE].value == "id"
    assert lang(client.get(LOGIN)) == "id"


def test_switching_back_to_english_is_stored_too(alice):
    Preferences.objects.create(user=alice, language="id")
    client = Client()
    sign_in(client, alice.email)
    assert lang(client.get(DASHBOARD)) == "id"

    switch(client, "en", DASHBOARD)

    assert stored(alice) == "en"
    assert lang(client.get(DASHBOARD)) == "en"
    other = Client(HTTP_ACCEPT_LANGUAGE="id")
    sign_in(other, alice.email)
    assert lang(other.get(DASHBOARD)) == "en"


def test_an_unsupported_stored_language_reads_as_the_sites(alice):
    Preferences.objects.create(user=alice, language="fr")

    assert language_of(alice) == "en"
    assert language_of(None) == "en"


def test_the_signed_in_message_is_in_the_accounts_language(alice):
    """allauth writes "Signed in as ..." during the sign-in request, after the account's
    language is known: on a device that was English, it is already Indonesian."""
    from django.contrib.messages import get_messages

    Preferences.objects.create(user=alice, language="id")
    client = Client(HTTP_ACCEPT_LANGUAGE="en")

    response = sign_in(client, alice.email)

    shown = [str(message) for message in get_messages(response.wsgi_request)]
    assert shown == [f"Berhasil masuk sebagai {alice.email}."]
