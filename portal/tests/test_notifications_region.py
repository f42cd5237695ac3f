"""Banners in the notification region: shown on every page with one query, dismissed by an
HTMX POST (or a plain form post), listed on their own page, and cleared by themselves
when what they asked for is done."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse

from portal import events
from portal.models import Notification
from portal.notifications import REGION_LIMIT, notify
from subscriptions import services
from subscriptions.tests.factories import InvoiceFactory, PlanFactory
from wallets.models import TransactionKind
from wallets.services import topup_complete, topup_create, wallet_debit
from wallets.tests.factories import funded_wallet


def banner(user, n=1, **fields) -> Notification:
    defaults = {
        "kind": "test",
        "key": f"test:{n}",
        "title": f"Banner number {n}",
        "message": "Something happened.",
    }
    return notify(user=user, **{**defaults, **fields})


@pytest.fixture
def signed_in(client, alice):
    client.force_login(alice)
    return client


def test_unread_banners_show_in_the_region_of_every_page_with_their_action(signed_in, alice):
    banner(alice, 1, level="error", link="/billing/", link_label="Pay now", needs_action=True)
    dismissed = banner(alice, 2)
    dismissed.dismissed_at = dismissed.created_at
    dismissed.save()

    for url in (reverse("portal:dashboard"), reverse("portal:notifications")):
        body = signed_in.get(url).content.decode()
        region = body[body.index('id="notifications"') : body.index("<h1")]
        assert "Banner number 1" in region
        assert "Banner number 2" not in region
        assert 'role="alert"' in region
        assert '<a href="/billing/"' in region
        assert "Pay now" in region
        assert "Action needed:" in region


def test_the_region_shows_the_newest_few_and_links_to_the_rest(signed_in, alice):
    for n in range(REGION_LIMIT + 2):
        banner(alice, n)

    body = signed_in.get(reverse("portal:dashboard")).content.decode()
    region = body[body.index('id="notifications"') : body.index("<h1")]

    assert region.count("data-banner=") == REGION_LIMIT
    assert f"Banner number {REGION_LIMIT + 1}" in region  # the newest
    assert "Banner number 0" not in region
    assert reverse("portal:notifications") in region


@pytest.mark.parametrize("count", [1, 30])
def test_the_region_costs_one_query_however_many_banners(alice, count, django_assert_num_queries):
    invoice = InvoiceFactory(user=alice)
    Notification.objects.all().delete()  # its own "new invoice" banner
    for n in range(count):  # half of them link to the invoice (its link needs no query)
        banner(alice, n, invoice=invoice if n % 2 else None, link_label="Pay now")
    request = RequestFactory().get("/")
    request.user = alice

    with django_assert_num_queries(1):
        html = render_to_string("includes/notifications.html", {"messages": []}, request=request)

    assert html.count("data-banner=") == min(count, REGION_LIMIT)


def test_a_page_that_does_not_render_the_region_makes_no_banner_query(alice):
    from portal.notifications import banners

    request = RequestFactory().get("/")
    request.user = alice

    context = banners(request)  # lazy: nothing asked yet

    assert "notification_banners" in context


def test_dismissing_with_htmx_returns_the_region_out_of_band_and_the_event(signed_in, alice):
    first, second = banner(alice, 1), banner(alice, 2)

    response = signed_in.post(
        reverse("portal:notification_dismiss", args=[first.pk]), headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    assert events.NOTIFICATIONS_CHANGED in json.loads(response["HX-Trigger"])
    body = response.content.decode()
    assert 'id="notifications"' in body
    assert 'hx-swap-oob="true"' in body
    assert "Banner number 1" not in body
    assert "Banner number 2" in body
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.dismissed_at is not None
    assert second.dismissed_at is None


def test_dismissing_without_javascript_goes_back_to_the_page(signed_in, alice):
    note = banner(alice)
    url = reverse("portal:notification_dismiss", args=[note.pk])

    response = signed_in.post(url, {"next": "/billing/?tab=invoices"})
    assert response.status_code == 302
    assert response["Location"] == "/billing/?tab=invoices"

    # Never to another site.
    response = signed_in.post(url, {"next": "https://evil.example/"})
    assert response["Location"] == reverse("portal:notifications")
    note.refresh_from_db()
    assert note.dismissed_at is not None


def test_the_banner_form_works_without_javascript(signed_in, alice):
    note = banner(alice)

    body = signed_in.get(reverse("portal:dashboard")).content.decode()

    action = reverse("portal:notification_dismiss", args=[note.pk])
    assert f'<form method="post" action="{action}"' in body
    assert 'name="csrfmiddlewaretoken"' in body


def test_only_the_owner_can_dismiss_a_banner(client, alice, bob):
    note = banner(alice)
    url = reverse("portal:notification_dismiss", args=[note.pk])

    assert client.post(url).status_code == 302  # signed out: sign in first
    client.force_login(bob)
    assert client.post(url).status_code == 404
    client.force_login(alice)
    assert client.get(url).status_code == 405
    note.refresh_from_db()
    assert note.dismissed_at is None


def test_the_notifications_page_lists_everything_in_constant_queries(
    signed_in, alice, bob, django_assert_max_num_queries
):
    for n in range(40):
        banner(alice, n)
    banner(bob, 99, title="Bob's banner")
    Notification.objects.filter(key="test:3").update(dismissed_at="2026-01-01T00:00:00Z")

    with django_assert_max_num_queries(6):
        response = signed_in.get(reverse("portal:notifications"))

    body = response.content.decode()
    listing = body[body.index('id="notification-list"') :]
    assert listing.count("data-notification-row=") == 25
    assert "Bob's banner" not in body
    assert "Page 1 of 2" in listing
    second = signed_in.get(reverse("portal:notifications") + "?page=2").content.decode()
    assert "Banner number 3" in second
    assert "dismissed" in second


def test_the_notifications_list_refreshes_itself_after_a_dismissal(signed_in, alice):
    banner(alice)

    page = signed_in.get(reverse("portal:notifications")).content.decode()
    fragment = signed_in.get(
        reverse("portal:notifications"), headers={"HX-Request": "true"}
    ).content.decode()

    assert f'hx-trigger="{events.NOTIFICATIONS_CHANGED} from:body"' in page
    assert fragment.lstrip().startswith('<section id="notification-list"')
    assert "<html" not in fragment


def test_dismiss_all_clears_the_region(signed_in, alice):
    for n in range(3):
        banner(alice, n)

    signed_in.post(reverse("portal:notifications_dismiss_all"))

    assert not Notification.objects.unread().exists()


# --- banners that clear themselves ----------------------------------------------------


def test_a_pay_now_banner_clears_when_the_invoice_is_paid(signed_in, alice):
    plan = PlanFactory(name="Pro", price=Decimal("150000"))
    invoice = services.subscription_create(user=alice, plan=plan).invoices.get()
    failed = services.payment_create(user=alice, amount=invoice.total, invoice=invoice)
    services.payment_apply_status(payment=failed, transaction_status="deny")
    unread = set(Notification.objects.unread().values_list("kind", flat=True))
    assert unread == {"payment_failed"}  # it replaced the new-invoice banner
    assert (
        f"Payment failed for {invoice.number}: pay now"
        in signed_in.get("/billing/").content.decode()
    )

    paying = services.payment_create(user=alice, amount=invoice.total, invoice=invoice)
    services.payment_apply_status(payment=paying, transaction_status="settlement")

    unread = list(Notification.objects.unread().values_list("kind", flat=True))
    assert sorted(unread) == ["payment_received", "subscription_started"]
    assert "pay now" not in signed_in.get("/billing/").content.decode()


def test_an_overdue_banner_replaces_the_invoice_banner(alice):
    plan = PlanFactory(name="Pro", price=Decimal("150000"))
    invoice = services.subscription_create(user=alice, plan=plan).invoices.get()

    services.invoice_mark_overdue(invoice=invoice)

    assert list(Notification.objects.unread().values_list("kind", flat=True)) == ["invoice_overdue"]


def test_a_low_balance_banner_clears_when_the_wallet_is_topped_up(alice):
    wallet = funded_wallet(alice, 60000)
    wallet_debit(
        wallet=wallet, amount=Decimal("20000"), kind=TransactionKind.PAYMENT, idempotency_key="x"
    )
    assert Notification.objects.unread().filter(kind="wallet_low").exists()

    topup = topup_create(user=alice, amount=Decimal("100000"))
    topup_complete(topup=topup)

    assert not Notification.objects.unread().filter(kind="wallet_low").exists()
    assert Notification.objects.unread().filter(kind="topup_completed").exists()


def test_a_debit_that_stays_below_the_threshold_does_not_warn_again(alice):
    wallet = funded_wallet(alice, 60000)
    for n in range(3):
        wallet_debit(
            wallet=wallet,
            amount=Decimal("5000"),
            kind=TransactionKind.PAYMENT,
            idempotency_key=f"x{n}",
        )

    assert Notification.objects.filter(kind="wallet_low").count() == 1
