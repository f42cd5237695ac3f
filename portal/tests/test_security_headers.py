"""Content-Security-Policy on every page, and ``Cache-Control: private, no-store`` on
every page, partial and PDF a signed-in person gets and on the hosted invoice page.

The pages are the access table's (``test_access_table.ACCESS``): each GET row the
owner gets a 200 for is requested as the owner. The browser tests
(``*_browser.py``, through the ``page_for`` fixture) check that Chromium reports no
CSP violation on the journeys; these check the headers and the markup.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse

from .test_access_table import ACCESS, GET, Row, World, client_for

OWNER_PAGES = [row for row in ACCESS if row.method == GET and row.owner == 200]
PUBLIC_PAGES = [row for row in ACCESS if row.method == GET and row.anonymous == 200]


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    parsed = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def assert_private(response, where: str) -> None:
    cache_control = {part.strip() for part in response.get("Cache-Control", "").split(",")}
    assert {"private", "no-store"} <= cache_control, f"{where}: Cache-Control {cache_control}"


class InlineCode(HTMLParser):
    """Inline scripts and event-handler attributes: what a CSP without
    'unsafe-inline' refuses to run."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}=...>")
            if name.startswith("hx-on"):
                self.found.append(f"<{tag} {name}> (htmx evaluates it)")
        data_block = attributes.get("type") in ("application/json", "application/ld+json")
        if tag == "script" and "src" not in attributes and not data_block:
            self.found.append("<script> without src")
        if tag == "style" and "nonce" not in attributes:
            self.found.append("<style> without a nonce")


@pytest.mark.django_db
@pytest.mark.parametrize("row", OWNER_PAGES, ids=str)
def test_each_signed_in_page_is_private_has_a_csp_and_no_inline_code(row: Row, world: World):
    client = client_for("owner", world)
    path = row.build_path(world)

    response = client.get(path)

    assert response.status_code == 200
    assert_private(response, path)
    if response["Content-Type"].startswith("text/html"):
        policy = directives(response)
        assert policy["script-src"] == ["'self'"] or "'unsafe-inline'" not in policy["script-src"]
        assert "'unsafe-eval'" not in policy["script-src"]
        parser = InlineCode()
        parser.feed(response.content.decode())
        assert not parser.found, f"{path}: {parser.found}"


@pytest.mark.django_db
def test_htmx_partials_are_private_too(world: World):
    client = client_for("owner", world)
    for path, target in (
        (reverse("portal:dashboard"), "wallet-card"),
        (reverse("portal:invoices"), "invoice-list"),
        (reverse("portal:wallet"), "wallet-transactions"),
    ):
        response = client.get(path, headers={"HX-Request": "true", "HX-Target": target})
        assert response.status_code == 200
        assert_private(response, f"{path} #{target}")


@pytest.mark.django_db
def test_the_hosted_invoice_page_is_private_for_anyone(world: World):
    response = Client().get(reverse("hosted:invoice", args=[world.hosted_token]))

    assert response.status_code == 200
    assert_private(response, "hosted invoice")
    assert directives(response)["frame-ancestors"] == ["'none'"]


@pytest.mark.django_db
@pytest.mark.parametrize("row", PUBLIC_PAGES, ids=str)
def test_every_public_page_has_the_policy(row: Row, world: World):
    response = Client().get(row.build_path(world))

    policy = directives(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert "'unsafe-eval'" not in policy["script-src"]
    assert "'unsafe-inline'" not in policy["script-src"]


@pytest.mark.django_db
def test_the_policy_lets_forms_send_the_browser_to_snap_and_nowhere_else(world: World, settings):
    """A payment form's POST answers with a redirect to Snap's page: Chromium checks
    that redirect against form-action."""
    settings.SITE_URL = "https://billing.example.com"
    settings.MIDTRANS_IS_PRODUCTION = True
    client = client_for("owner", world)

    policy = directives(client.get(reverse("portal:dashboard")))

    assert set(policy["form-action"]) == {
        "'self'",
        "https://billing.example.com",
        "https://app.midtrans.com",
    }
    assert "https://app.midtrans.com" in policy["script-src"]  # snap.js
    assert "https://app.midtrans.com" in policy["frame-src"]  # Snap's popup


@pytest.mark.django_db
def test_a_page_with_inline_style_gets_a_nonce_that_matches_the_header(world: World):
    client = client_for("owner", world)

    response = client.get(reverse("portal:invoice_detail", args=[world.invoice.pk]))

    nonce = re.search(r'<style nonce="([^"]+)"', response.content.decode()).group(1)
    assert f"'nonce-{nonce}'" in directives(response)["style-src"]
