"""Every POST needs the CSRF token; the Midtrans webhook is the one exception.

Each URL of the site (read from the resolver through the access table's rows) is
posted to without a token, by an anonymous visitor, the owner of the objects it names
and staff, with the data that would otherwise go through (a filled-in cancellation, a
top-up, admin actions with their reasons): 403 every time, and not a row in the
database changes.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.test import Client
from django.urls import reverse

from .test_access_table import ACCESS, World, client_for, url_patterns

WEBHOOK = "subscriptions:midtrans_webhook"

# POSTs that would change the most if the token were not checked.
ADMIN_POSTS = [
    (
        "admin:subscriptions_subscription_changelist",
        lambda w: {
            "action": "cancel_now",
            "_selected_action": [w.subscription.pk],
            "apply": "1",
            "reason": "CSRF probe",
        },
    ),
    (
        "admin:subscriptions_invoice_changelist",
        lambda w: {
            "action": "mark_paid_offline",
            "_selected_action": [w.invoice.pk],
            "apply": "1",
            "reference": "X",
            "reason": "CSRF probe",
        },
    ),
    (
        "admin:wallets_wallet_changelist",
        lambda w: {
            "action": "adjust_balance",
            "_selected_action": [w.wallet.pk],
            "apply": "1",
            "amount": "1000000",
            "reason": "CSRF probe",
        },
    ),
    ("admin:auth_user_add", lambda w: {"username": "mallory", "password1": "x" * 12}),
    ("admin:logout", lambda w: {}),
]

# What a forged POST could change: every row of our apps and of the accounts.
WATCHED_APPS = ("subscriptions", "wallets", "portal", "auth", "account", "mfa")


def database_state() -> dict[str, list[dict]]:
    state = {}
    for app in WATCHED_APPS:
        for model in apps.get_app_config(app).get_models():
            if model._meta.proxy:
                continue
            state[model._meta.label] = list(model._default_manager.order_by("pk").values())
    return state


def csrf_refused(response) -> bool:
    return response.status_code == 403 and b"CSRF" in response.content


def posts(world: World) -> list[tuple[str, dict]]:
    """One POST (path and data) per row of the access table, and the admin's actions."""
    seen, found = set(), []
    for row in ACCESS:
        path = row.build_path(world)
        data = row.data if isinstance(row.data, dict) else {}
        key = (path, tuple(sorted(data.items())))
        if row.url != WEBHOOK and key not in seen:
            seen.add(key)
            found.append((path, data))
    found += [(reverse(name), make(world)) for name, make in ADMIN_POSTS]
    return found


def test_the_webhook_is_the_only_csrf_exempt_view():
    exempt = sorted(
        pattern.key for pattern in url_patterns() if getattr(pattern.view, "csrf_exempt", False)
    )
    assert exempt == [WEBHOOK]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["anonymous", "owner", "staff"])
def test_every_post_without_the_csrf_token_is_refused_and_changes_nothing(role, world):
    client = client_for(role, world, enforce_csrf_checks=True)
    requests = posts(world)
    world.wallet  # noqa: B018 (made before the snapshot, as every object the rows name)
    before = database_state()

    accepted = []
    for path, data in requests:
        response = client.post(path, data)
        if not csrf_refused(response):
            accepted.append(f"POST {path}: {response.status_code}")

    assert not accepted, "Accepted without a CSRF token:\n  " + "\n  ".join(accepted)
    assert database_state() == before
    # Every URL of the site was tried (the webhook aside).
    tried = {row.url for row in ACCESS}
    assert {pattern.key for pattern in url_patterns()} - tried == set()


@pytest.mark.django_db
def test_the_webhook_takes_a_post_without_a_csrf_token():
    response = Client(enforce_csrf_checks=True).post(
        reverse(WEBHOOK), data="{}", content_type="application/json"
    )
    assert response.status_code == 400  # refused for its content, not for CSRF


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["form field", "htmx header"])
def test_the_same_post_with_the_token_gets_through(world, how):
    """The refusals above are the CSRF check's: with the token the action happens."""
    client = client_for("owner", world, enforce_csrf_checks=True)
    client.get(reverse("portal:dashboard"))  # sets the CSRF cookie, as the page does
    token = client.cookies["csrftoken"].value
    path = reverse("portal:notification_dismiss", args=[world.notification.pk])

    if how == "form field":
        response = client.post(path, {"csrfmiddlewaretoken": token})
    else:  # base.html puts the token in hx-headers on <body>
        response = client.post(path, HTTP_X_CSRFTOKEN=token, HTTP_HX_REQUEST="true")

    assert response.status_code in (200, 302)
    world.notification.refresh_from_db()
    assert world.notification.dismissed_at is not None
