"""The site's error pages and what answers where a bare status used to.

- With DEBUG off, a 404 (an unknown address, another account's invoice) and a 403 are
  the portal's pages with a way on; a 500 is a page of its own that needs no request,
  database or static file.
- A GET on an address only a form's button may open is a 405 with a page that says so
  (``MethodNotAllowedPageMiddleware``; the hosted invoice's pay address says it itself).
- ``/favicon.ico`` is the portal's icon.
- The PDF link of an email, followed signed out, signs in and comes back to the
  invoice's page with the PDF offered (``?download=pdf``).
"""

from __future__ import annotations

from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import PermissionDenied
from django.db import OperationalError, connection
from django.test import RequestFactory
from django.urls import path, reverse
from django.views.defaults import server_error

import portal.urls
from portal import links
from subscriptions.tests.factories import InvoiceFactory

pytestmark = pytest.mark.django_db


# This module is the URLconf of the tests that need a failing view (ROOT_URLCONF).
def boom(request):
    raise RuntimeError("boom")


def forbidden(request):
    raise PermissionDenied


urlpatterns = [path("boom/", boom), path("forbidden/", forbidden), *portal.urls.urlpatterns]

PAGE_MIDDLEWARE = "portal.middleware.MethodNotAllowedPageMiddleware"


@pytest.fixture
def production(settings):
    """DEBUG off: Django renders the project's 404/500 templates."""
    settings.DEBUG = False
    return settings


@pytest.fixture
def failing(production, client):
    production.ROOT_URLCONF = __name__
    client.raise_request_exception = False
    return client


@pytest.fixture
def with_page_middleware(settings):
    if PAGE_MIDDLEWARE not in settings.MIDDLEWARE:
        settings.MIDDLEWARE = [*settings.MIDDLEWARE, PAGE_MIDDLEWARE]
    return settings


def html(response) -> str:
    return response.content.decode()


# --- 404 and 403 ---------------------------------------------------------------------------


def test_another_accounts_invoice_is_a_branded_404(production, client, alice, bob):
    invoice = InvoiceFactory(user=bob)
    client.force_login(alice)

    response = client.get(reverse("portal:invoice_detail", args=[invoice.pk]))

    assert response.status_code == 404
    assert "404.html" in [t.name for t in response.templates]
    page = html(response)
    assert "We can't find that page" in page
    assert "You are signed in as alice@example.com." in page
    assert f'href="{reverse("portal:dashboard")}"' in page
    assert invoice.number not in page


def test_an_unknown_address_signed_out_is_a_404_that_offers_to_sign_in(production, client):
    response = client.get("/no/such/page/")

    assert response.status_code == 404
    page = html(response)
    assert "We can't find that page" in page
    assert f'href="{reverse("account_login")}"' in page


def test_a_permission_denied_is_a_branded_403(failing, alice):
    failing.force_login(alice)

    response = failing.get("/forbidden/")

    assert response.status_code == 403
    assert "You can't open this page" in html(response)


# --- 500 -----------------------------------------------------------------------------------


def test_a_crash_is_a_branded_500_made_without_the_database(failing, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = failing.get("/boom/")

    assert response.status_code == 500
    page = html(response)
    assert "Something went wrong on our side" in page
    assert 'href="/"' in page
    assert '<link rel="icon" href="/favicon.ico">' in page
    assert "<style" not in page  # a <style> needs the request's CSP nonce: there is none


def test_the_500_page_renders_with_the_database_down():
    request = RequestFactory().get("/")
    with mock.patch.object(connection, "cursor", side_effect=OperationalError("down")):
        response = server_error(request)

    assert response.status_code == 500
    assert "Something went wrong on our side" in html(response)


# --- 405 -----------------------------------------------------------------------------------


def test_get_on_the_hosted_pay_address_explains_and_links_to_the_invoice(client, alice):
    invoice = InvoiceFactory(user=alice)
    token = links.hosted_invoice_token(invoice.pk)

    response = client.get(reverse("hosted:pay", args=[token]))

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    page = html(response)
    assert "This link only works from the invoice page" in page
    assert f'href="{reverse("hosted:invoice", args=[token])}"' in page
    assert 'name="robots" content="noindex, nofollow"' in page  # the hosted layout
    assert "no-store" in response["Cache-Control"]
    assert client.head(reverse("hosted:pay", args=[token])).status_code == 405


def test_get_on_a_post_only_portal_address_is_a_405_page(with_page_middleware, client, alice):
    client.force_login(alice)

    response = client.get(reverse("portal:wallet_topup"))

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    page = html(response)
    assert "This page only opens from a button" in page
    assert f'href="{reverse("portal:dashboard")}"' in page


def test_the_405_page_leaves_htmx_other_methods_and_pages_that_say_something_alone(
    with_page_middleware, client, alice
):
    client.force_login(alice)

    htmx = client.get(reverse("portal:wallet_topup"), headers={"HX-Request": "true"})
    assert (htmx.status_code, htmx.content) == (405, b"")
    post = client.post(reverse("portal:wallet"))
    assert (post.status_code, post.content) == (405, b"")


def test_signed_out_the_405_page_offers_to_sign_in(with_page_middleware, client):
    response = client.get(reverse("set_language"))

    assert response.status_code == 405
    assert f'href="{reverse("account_login")}"' in html(response)


# --- favicon -------------------------------------------------------------------------------


def test_the_favicon_is_an_icon(client, alice):
    response = client.get("/favicon.ico")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/")
    body = b"".join(response.streaming_content)
    assert body[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert "max-age" in response["Cache-Control"]
    assert client.head("/favicon.ico").status_code == 200
    assert client.post("/favicon.ico").status_code == 405


def test_the_favicon_with_debug_off(production, client):
    response = client.get("/favicon.ico")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/")


# --- The PDF link signed out ---------------------------------------------------------------


def test_the_pdf_link_signed_out_signs_in_back_to_the_invoice_page(client, alice):
    invoice = InvoiceFactory(user=alice, status="paid")
    detail = reverse("portal:invoice_detail", args=[invoice.pk])

    response = client.get(links.invoice_pdf_path(invoice.pk))

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == reverse("account_login")
    assert parse_qs(location.query)["next"] == [f"{detail}?download=pdf"]

    # Signing in follows next (allauth).
    signed_in = client.post(
        f"{reverse('account_login')}?{location.query}",
        {"login": alice.email, "password": "correct horse battery"},
    )
    assert signed_in.status_code == 302
    assert signed_in["Location"] == f"{detail}?download=pdf"


def test_the_invoice_page_offers_the_pdf_when_asked(client, alice):
    invoice = InvoiceFactory(user=alice, status="paid")
    detail = reverse("portal:invoice_detail", args=[invoice.pk])
    pdf = reverse("portal:invoice_pdf", args=[invoice.pk])
    client.force_login(alice)

    offered = html(client.get(f"{detail}?download=pdf"))
    assert 'data-testid="pdf-download-offer"' in offered
    assert f"The PDF of invoice {invoice.number} is ready." in offered
    assert f'<a href="{pdf}" class="btn btn-primary' in offered
    assert 'data-testid="pdf-download-offer"' not in html(client.get(detail))
    # Asked once: the offer is not carried to the next page.
    assert 'data-testid="pdf-download-offer"' not in html(client.get(detail))


def test_signed_in_the_pdf_link_downloads_and_a_stranger_gets_a_404(client, alice, bob):
    invoice = InvoiceFactory(user=alice, status="paid")
    pdf = reverse("portal:invoice_pdf", args=[invoice.pk])

    client.force_login(alice)
    response = client.get(pdf)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")

    client.force_login(bob)
    assert client.get(pdf).status_code == 404
