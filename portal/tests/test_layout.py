"""The portal's shared layout: allauth's pages inside it, the notification region, the
navigation and the template helpers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.messages.storage.fallback import FallbackStorage
from django.template import Context, Template
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse

from portal.links import PkPath
from portal.templatetags.portal_tags import money, portal_nav

PASSWORD = "correct horse battery"  # UserFactory's


@pytest.mark.parametrize(
    "url_name",
    ["account_login", "account_signup", "account_reset_password"],
)
def test_the_entrance_pages_use_the_portal_look(client, db, url_name):
    body = client.get(reverse(url_name)).content.decode()

    assert 'class="card' in body
    assert 'class="field-input' in body
    assert "btn btn-primary" in body
    assert "/static/css/app.css" in body
    assert "/static/django_htmx/htmx" in body
    assert 'id="notifications"' in body


def test_signing_in_lands_on_the_dashboard_with_a_message_in_the_notification_region(client, alice):
    response = client.post(
        reverse("account_login"),
        {"login": alice.email, "password": PASSWORD},
        follow=True,
    )

    body = response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("portal:dashboard")
    region = body[body.index('id="notifications"') : body.index("<h1")]
    assert "Successfully signed in" in region


def test_a_wrong_password_is_reported_in_an_alert_and_not_echoed_back(client, alice):
    response = client.post(
        reverse("account_login"), {"login": alice.email, "password": "not-the-password"}
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert 'role="alert"' in body
    assert "not correct" in body
    assert "not-the-password" not in body


def test_the_account_pages_have_the_account_menu(client, alice):
    client.force_login(alice)

    for name in ("account_email", "account_change_password"):
        body = client.get(reverse(name)).content.decode()
        assert "Account settings" in body
        assert 'aria-current="page"' in body
        assert alice.email in body


def test_the_notification_region_can_be_swapped_out_of_band(rf, alice):
    request = rf.get("/")
    request.user = alice
    request.session = {}
    storage = FallbackStorage(request)
    storage.add(20, "Saved.")
    storage.add(40, "Something went wrong.")

    html = render_to_string(
        "includes/notifications.html", {"messages": storage, "oob": True}, request=request
    )

    assert 'id="notifications"' in html
    assert 'hx-swap-oob="true"' in html
    assert 'aria-live="polite"' in html
    assert "Saved." in html
    assert 'role="alert"' in html  # the error
    assert "data-dismiss" in html


def test_without_oob_the_region_is_a_plain_element():
    html = render_to_string("includes/notifications.html", {"messages": []})

    assert "hx-swap-oob" not in html


def test_the_nav_lists_only_pages_that_exist_and_marks_the_current_one(db):
    request = RequestFactory().get(reverse("portal:dashboard"))

    items = portal_nav({"request": request})

    assert [item.url for item in items if item.active] == [reverse("portal:dashboard")]
    for item in items:
        assert item.url.startswith("/")


def test_money_formats_rupiah_the_indonesian_way():
    assert money(Decimal("150000"), "IDR") == "Rp 150.000"
    assert money("1490000") == "Rp 1.490.000"
    assert money(None) == ""
    rendered = Template("{% load portal_tags %}{{ amount|money:'IDR' }}").render(
        Context({"amount": Decimal("49000")})
    )
    assert rendered == "Rp 49.000"


@pytest.mark.parametrize(
    ("tone", "css"),
    [
        ("success", "badge badge-success"),
        ("info", "badge badge-info"),
        ("warning", "badge badge-warning"),
        ("danger", "badge badge-danger"),
        ("neutral", "badge badge-neutral"),
        ("anything else", "badge badge-neutral"),
    ],
)
def test_a_badge_takes_the_classes_of_its_tone(tone, css):
    rendered = Template("{% load portal_tags %}{% badge tone 'Paid' %}").render(
        Context({"tone": tone})
    )

    assert rendered == f'<span class="{css}">Paid</span>'


def test_a_badge_escapes_its_label_and_can_carry_a_dot():
    rendered = Template("{% load portal_tags %}{% badge 'info' label dot=True %}").render(
        Context({"label": "<b>Trial</b>"})
    )

    assert rendered.startswith('<span class="badge badge-info"><svg ')
    assert rendered.endswith("&lt;b&gt;Trial&lt;/b&gt;</span>")
    assert "<b>" not in rendered


@pytest.mark.parametrize("pk", [1, 7, 42, 9876543210123, 10**15])
@pytest.mark.parametrize("name", ["portal:invoice_detail", "portal:invoice_pdf", "checkout:pay"])
def test_a_pk_path_is_the_reversed_url_of_each_pk(name, pk):
    assert PkPath(name)(pk) == reverse(name, args=[pk])
