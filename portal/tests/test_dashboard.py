"""The billing dashboard at /billing/: who may see it, what it says about the current
subscription, and that it costs the same few queries however many invoices exist."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from portal import presenters
from subscriptions.models import SubscriptionStatus
from subscriptions.services import (
    LineSpec,
    invoice_create,
    payment_apply_status,
    payment_create,
    subscription_create,
)
from subscriptions.tests.factories import PaymentFactory, PlanFactory, SubscriptionFactory
from wallets.models import Wallet
from wallets.tests.factories import funded_wallet

JAKARTA = ZoneInfo("Asia/Jakarta")
URL = "/billing/"


def at(year, month, day, hour=10):
    return dt.datetime(year, month, day, hour, tzinfo=JAKARTA)


@pytest.fixture
def pro(db):
    return PlanFactory(
        name="Pro",
        slug="pro-monthly",
        price=Decimal("150000"),
        features={"max_projects": 20, "support": "email", "api_access": True},
    )


@pytest.fixture
def signed_in(client, alice):
    client.force_login(alice)
    return client


def page(client) -> str:
    """The dashboard's HTML, with non-breaking spaces read as spaces."""
    return client.get(URL).content.decode().replace("\u00a0", " ")


def plain(text: str) -> str:
    return text.replace("\u00a0", " ")


def make_invoices(user, count, *, plan=None):
    for i in range(count):
        invoice_create(
            user=user,
            plan=plan,
            lines=[LineSpec(description=f"Line {i}", unit_amount=Decimal("150000"), plan=plan)],
        )


# --- access -------------------------------------------------------------------------


def test_the_dashboard_is_routed_as_portal_dashboard():
    assert reverse("portal:dashboard") == URL


def test_an_anonymous_visitor_is_sent_to_sign_in_and_back(client, db):
    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next={URL}"


def test_the_home_page_leads_to_the_dashboard(signed_in):
    response = signed_in.get("/")

    assert response.status_code == 302
    assert response["Location"] == URL


def test_the_dashboard_only_answers_get(signed_in):
    assert signed_in.post(URL).status_code == 405


# --- what it shows ----------------------------------------------------------------------


def test_a_user_without_a_subscription_is_invited_to_choose_a_plan(signed_in):
    response = signed_in.get(URL)

    assert response.status_code == 200
    assert b"have a subscription yet" in response.content
    assert b"No invoices yet." in response.content


def test_the_page_uses_the_portal_layout(signed_in, alice):
    body = page(signed_in)

    assert 'id="notifications"' in body
    assert """hx-headers='{"X-CSRFToken": """ in body
    assert "/static/django_htmx/htmx" in body  # served by us, not a CDN
    assert alice.email in body
    assert f'action="{reverse("account_logout")}"' in body
    assert reverse("account_email") in body


def test_an_active_subscription_shows_plan_price_status_and_renewal(signed_in, alice, pro):
    SubscriptionFactory(
        user=alice,
        plan=pro,
        current_period_start=at(2026, 12, 3),
        current_period_end=at(2027, 1, 3),
    )

    body = page(signed_in)

    assert "Pro" in body
    assert "Rp 150.000" in body
    assert "Active" in body
    assert "Renews on 3 Jan 2027 for Rp 150.000." in body
    assert "3 Dec 2026 – 3 Jan 2027" in body
    assert "Up to 20 projects" in body
    assert "Email support" in body
    assert "API access" in body


def test_a_trialing_subscription_says_when_the_trial_ends(signed_in, alice, pro):
    SubscriptionFactory(
        user=alice,
        plan=pro,
        status=SubscriptionStatus.TRIALING,
        trial_end=at(2027, 1, 17),
        current_period_start=at(2027, 1, 3),
        current_period_end=at(2027, 1, 17),
    )

    body = page(signed_in)

    assert "Trial" in body
    assert "Trial ends on 17 Jan 2027, then Rp 150.000 every month." in body


def test_a_paused_subscription_says_when_it_resumes(signed_in, alice, pro):
    SubscriptionFactory(
        user=alice,
        plan=pro,
        status=SubscriptionStatus.PAUSED,
        paused_at=at(2027, 1, 10),
        resume_at=at(2027, 2, 1),
    )

    body = page(signed_in)

    assert "Paused, resumes on 1 Feb 2027." in body


def test_a_cancellation_at_period_end_says_when_it_cancels(signed_in, alice, pro):
    SubscriptionFactory(
        user=alice,
        plan=pro,
        cancel_at_period_end=True,
        current_period_start=at(2026, 12, 3),
        current_period_end=at(2027, 1, 3),
    )

    body = page(signed_in)

    assert "Cancels on 3 Jan 2027." in body
    assert "Renews on" not in body


def test_a_pending_subscription_says_payment_is_pending(signed_in, alice, pro):
    SubscriptionFactory(user=alice, plan=pro, status=SubscriptionStatus.PENDING)

    body = page(signed_in)

    assert "Payment pending" in body


def test_a_subscription_waiting_for_payment_offers_to_pay_its_invoice(signed_in, alice, pro):
    subscription = subscription_create(user=alice, plan=pro, allow_trial=False)
    invoice = subscription.invoices.get()
    pay_url = reverse("checkout:pay", args=[invoice.pk])

    body = page(signed_in)

    assert f'action="{pay_url}"' in body
    assert "Pay Rp 150.000" in body


def test_a_paid_invoice_has_no_pay_button(signed_in, alice, pro):
    subscription = subscription_create(user=alice, plan=pro, allow_trial=False)
    invoice = subscription.invoices.get()
    payment = payment_create(user=alice, amount=invoice.total, invoice=invoice)
    payment_apply_status(payment=payment, transaction_status="settlement")

    body = page(signed_in)

    assert reverse("checkout:pay", args=[invoice.pk]) not in body
    assert "Renews on" in body


def test_a_past_due_subscription_says_so(signed_in, alice, pro):
    SubscriptionFactory(user=alice, plan=pro, status=SubscriptionStatus.PAST_DUE)

    assert "Past due" in page(signed_in)


def test_dates_are_shown_in_the_portal_time_zone(signed_in, alice, pro):
    # 20:00 UTC on 2 Jan is already 3 Jan in Jakarta (UTC+7).
    SubscriptionFactory(
        user=alice,
        plan=pro,
        current_period_start=dt.datetime(2026, 12, 2, 20, tzinfo=dt.UTC),
        current_period_end=dt.datetime(2027, 1, 2, 20, tzinfo=dt.UTC),
    )

    assert "Renews on 3 Jan 2027" in page(signed_in)


def test_recent_invoices_are_the_users_own_latest_five(signed_in, alice, bob, pro):
    make_invoices(alice, 7, plan=pro)
    make_invoices(bob, 1, plan=pro)
    alice_numbers = list(
        alice.invoices.order_by("-issued_at", "-pk").values_list("number", flat=True)
    )
    bob_number = bob.invoices.get().number

    body = page(signed_in)

    for number in alice_numbers[:5]:
        assert number in body
    for number in alice_numbers[5:]:
        assert number not in body
    assert bob_number not in body


def test_a_stranger_never_sees_another_users_subscription(client, alice, bob, pro):
    SubscriptionFactory(user=alice, plan=PlanFactory(name="Alice Only Plan"))
    client.force_login(bob)

    body = page(client)

    assert "Alice Only Plan" not in body
    assert "have a subscription yet" in body


# --- scheduled changes, wallet, next invoice ---------------------------------------------------


def test_a_scheduled_downgrade_is_listed_with_an_undo(signed_in, alice, pro):
    starter = PlanFactory(name="Starter", price=Decimal("49000"))
    subscription = SubscriptionFactory(
        user=alice,
        plan=pro,
        current_period_end=at(2027, 1, 3),
        scheduled_plan=starter,
        scheduled_change_at=at(2027, 1, 3),
    )
    undo = reverse("portal:subscription_undo_plan_change", args=[subscription.pk])

    body = page(signed_in)

    assert "Scheduled changes" in body
    assert "On 3 Jan 2027 your plan changes to Starter, Rp 49.000 / month." in body
    assert f'hx-post="{undo}"' in body
    assert f'action="{undo}"' in body
    assert "Keep Pro" in body


def test_a_scheduled_cancel_is_listed_with_an_undo(signed_in, alice, pro):
    subscription = SubscriptionFactory(
        user=alice, plan=pro, cancel_at_period_end=True, current_period_end=at(2027, 1, 3)
    )
    undo = reverse("portal:subscription_undo_cancel", args=[subscription.pk])

    body = page(signed_in)

    assert "Your subscription ends on 3 Jan 2027 and will not renew." in body
    assert f'action="{undo}"' in body
    assert "Don't cancel" in body or "Don&#x27;t cancel" in body
    assert reverse("portal:subscription_cancel_confirm", args=[subscription.pk]) not in body


def test_an_active_subscription_offers_pause_cancel_and_change_plan(signed_in, alice, pro):
    subscription = SubscriptionFactory(user=alice, plan=pro)

    body = page(signed_in)

    for name in ("pause_confirm", "cancel_confirm"):
        confirm = reverse(f"portal:subscription_{name}", args=[subscription.pk])
        assert f'href="{confirm}" hx-get="{confirm}" hx-target="#dialog-content"' in body
    assert reverse("portal:subscription_resume_confirm", args=[subscription.pk]) not in body
    assert f'href="{reverse("portal:plans")}"' in body


def test_a_paused_subscription_offers_resume_not_pause(signed_in, alice, pro):
    subscription = SubscriptionFactory(user=alice, plan=pro, status=SubscriptionStatus.PAUSED)

    body = page(signed_in)

    assert reverse("portal:subscription_resume_confirm", args=[subscription.pk]) in body
    assert reverse("portal:subscription_pause_confirm", args=[subscription.pk]) not in body
    assert "Nothing is billed while your subscription is paused." in body


def test_the_wallet_balance_is_shown_with_a_top_up_link(signed_in, alice):
    funded_wallet(alice, 275000)

    body = page(signed_in)

    assert 'data-testid="wallet-balance">Rp 275.000<' in body
    assert f'href="{reverse("portal:wallet")}" class="link text-sm">Top up<' in body


def test_without_a_wallet_the_balance_is_zero(signed_in):
    assert 'data-testid="wallet-balance">Rp 0<' in page(signed_in)


def test_the_next_invoice_is_the_renewal_amount_and_date(signed_in, alice, pro):
    SubscriptionFactory(
        user=alice,
        plan=pro,
        current_period_start=at(2026, 12, 3),
        current_period_end=at(2027, 1, 3),
        billing_anchor=at(2026, 12, 3),
    )

    body = page(signed_in)

    assert 'data-testid="upcoming-amount">Rp 150.000<' in body
    assert "On 3 Jan 2027 for Pro" in body
    assert "Covers 3 Jan 2027 – 3 Feb 2027" in body


def test_the_next_invoice_is_on_the_scheduled_plan_when_a_downgrade_takes_effect(
    signed_in, alice, pro
):
    starter = PlanFactory(name="Starter", price=Decimal("49000"))
    SubscriptionFactory(
        user=alice,
        plan=pro,
        current_period_start=at(2026, 12, 3),
        current_period_end=at(2027, 1, 3),
        billing_anchor=at(2026, 12, 3),
        scheduled_plan=starter,
        scheduled_change_at=at(2027, 1, 3),
    )

    body = page(signed_in)

    assert 'data-testid="upcoming-amount">Rp 49.000<' in body
    assert "On 3 Jan 2027 for Starter" in body
    assert "Your switch to Starter takes effect then." in body


def test_a_subscription_that_will_cancel_has_no_next_invoice(signed_in, alice, pro):
    SubscriptionFactory(
        user=alice, plan=pro, cancel_at_period_end=True, current_period_end=at(2027, 1, 3)
    )

    body = page(signed_in)

    assert 'data-testid="upcoming-amount"' not in body
    assert "No more invoices: your subscription ends on 3 Jan 2027." in body


def test_the_cards_refresh_when_the_subscription_or_wallet_changes(signed_in, alice, pro):
    SubscriptionFactory(user=alice, plan=pro)

    body = page(signed_in)

    def card(element_id):
        start = body.index(f'id="{element_id}"')
        return body[start : body.index(">", start)]

    assert 'hx-trigger="subscription-changed from:body"' in card("upcoming-invoice")
    assert 'hx-trigger="wallet-changed from:body"' in card("wallet-card")
    assert "subscription-changed from:body" in card("recent-invoices")
    assert "invoices-changed from:body" in card("recent-invoices")
    assert "wallet-changed from:body" in card("subscription-card")
    for element_id in ("upcoming-invoice", "wallet-card", "recent-invoices"):
        assert f'hx-get="{URL}"' in card(element_id)
        assert 'hx-swap="outerHTML"' in card(element_id)


def test_the_page_has_the_dialog_for_confirmations(signed_in):
    body = page(signed_in)

    assert '<dialog id="portal-dialog" aria-labelledby="dialog-title"' in body
    assert 'id="dialog-content"' in body
    assert "/static/js/dialog.js" in body


# --- HTMX -------------------------------------------------------------------------------


def test_an_htmx_request_for_the_subscription_card_gets_only_that_fragment(signed_in, alice, pro):
    SubscriptionFactory(user=alice, plan=pro)

    response = signed_in.get(URL, headers={"HX-Request": "true", "HX-Target": "subscription-card"})

    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="subscription-card"')
    assert "<html" not in body
    assert "Renews on" in body
    assert "HX-Request" in response["Vary"]


@pytest.mark.parametrize("card", ["wallet-card", "upcoming-invoice", "recent-invoices"])
def test_an_htmx_refresh_of_a_card_gets_only_that_card(signed_in, alice, pro, card):
    SubscriptionFactory(user=alice, plan=pro)

    response = signed_in.get(URL, headers={"HX-Request": "true", "HX-Target": card})

    body = response.content.decode()
    assert body.lstrip().startswith(f'<section id="{card}"')
    assert "<html" not in body


def test_an_htmx_request_for_another_target_gets_the_whole_page(signed_in):
    response = signed_in.get(URL, headers={"HX-Request": "true", "HX-Target": "elsewhere"})

    assert "<html" in response.content.decode()


# --- query count ------------------------------------------------------------------------


@pytest.mark.parametrize("invoice_count", [1, 60])
def test_the_dashboard_runs_a_constant_number_of_queries(
    signed_in, alice, pro, invoice_count, django_assert_max_num_queries
):
    starter = PlanFactory(name="Starter", price=Decimal("49000"))
    subscription = SubscriptionFactory(
        user=alice, plan=pro, scheduled_plan=starter, scheduled_change_at=at(2027, 1, 3)
    )
    make_invoices(alice, invoice_count, plan=pro)
    for invoice in alice.invoices.all():
        for status in ("expire", "settlement"):
            PaymentFactory(user=alice, invoice=invoice, subscription=subscription, status=status)
    Wallet.objects.create(user=alice, auto_pay=True)

    # session, user, subscription (with both plans), invoices, wallet
    # (+1 spare for the session save after login).
    with django_assert_max_num_queries(6):
        response = signed_in.get(URL)

    assert response.status_code == 200
    assert "Switch to Starter" in response.content.decode()


@pytest.mark.parametrize(
    ("card", "queries", "shows"),
    [
        # session, user, then only what the card shows
        ("subscription-card", 4, "Renews on"),  # + subscription, recent invoices
        ("recent-invoices", 3, "INV-"),  # + recent invoices
        ("wallet-card", 3, "Rp 0"),  # + wallet
        ("upcoming-invoice", 3, "Rp 150.000"),  # + subscription
    ],
)
def test_a_card_refreshed_on_its_own_runs_only_its_own_queries(
    signed_in, alice, pro, card, queries, shows, django_assert_max_num_queries
):
    SubscriptionFactory(user=alice, plan=pro)
    make_invoices(alice, 30, plan=pro)
    signed_in.get(URL)  # the session save after login is not the card's

    with django_assert_max_num_queries(queries):
        response = signed_in.get(URL, headers={"HX-Request": "true", "HX-Target": card})

    assert response.status_code == 200
    assert shows in response.content.decode()


# --- presenters (the sentences, without HTTP) ---------------------------------------------


@pytest.mark.parametrize(
    ("features", "lines"),
    [
        ({"max_projects": 3, "support": "email"}, ["Up to 3 projects", "Email support"]),
        ({"max_projects": 1}, ["Up to 1 project"]),
        ({"max_projects": -1}, ["Unlimited projects"]),
        ({"max_projects": None}, ["Unlimited projects"]),
        ({"max_members": 5000}, ["Up to 5.000 members"]),
        (
            {"custom_domain": True, "sso": True, "audit_log": False},
            ["Custom domain", "Single sign-on (SSO)"],
        ),
        ({"storage_gb": 50}, ["Storage gb: 50"]),
        ({}, []),
        (None, []),
    ],
)
def test_plan_features_read_as_short_lines(features, lines):
    assert presenters.plan_features(features) == lines


def test_a_scheduled_downgrade_says_what_it_switches_to(db):
    starter = PlanFactory(name="Starter", price=Decimal("49000"))
    subscription = SubscriptionFactory(
        current_period_end=at(2027, 1, 3),
        scheduled_plan=starter,
        scheduled_change_at=at(2027, 1, 3),
    )

    assert plain(presenters.next_step(subscription)) == (
        "Switches to Starter on 3 Jan 2027 and renews for Rp 49.000."
    )


@pytest.mark.parametrize(
    ("changes", "sentence", "tone"),
    [
        ({"status": "active"}, "Renews on 3 Jan 2027 for Rp 150.000.", "success"),
        ({"status": "active", "cancel_at_period_end": True}, "Cancels on 3 Jan 2027.", "warning"),
        (
            {"status": "trialing", "trial_end": at(2027, 1, 3), "cancel_at_period_end": True},
            "Cancels on 3 Jan 2027, when the trial ends.",
            "warning",
        ),
        ({"status": "paused", "resume_at": None}, "Paused until you resume it.", "neutral"),
        (
            {"status": "cancelled", "ended_at": at(2026, 12, 20)},
            "Cancelled on 20 Dec 2026.",
            "neutral",
        ),
        ({"status": "expired", "ended_at": at(2026, 12, 21)}, "Expired on 21 Dec 2026.", "neutral"),
        (
            {"status": "past_due"},
            "Past due: pay the open invoice to keep your subscription.",
            "danger",
        ),
    ],
)
def test_every_status_has_a_sentence_and_a_tone(db, changes, sentence, tone):
    subscription = SubscriptionFactory.build(
        plan=PlanFactory.build(price=Decimal("150000")),
        current_period_start=at(2026, 12, 3),
        current_period_end=at(2027, 1, 3),
        **changes,
    )

    summary = presenters.subscription_summary(subscription)

    assert plain(summary.next_step) == sentence
    assert summary.tone == tone


def test_the_price_in_a_sentence_never_wraps(db):
    subscription = SubscriptionFactory.build(
        plan=PlanFactory.build(price=Decimal("150000")), current_period_end=at(2027, 1, 3)
    )

    assert "Rp\u00a0150.000" in presenters.next_step(subscription)


def test_billing_cycle_reads_in_words(db):
    assert presenters.billing_cycle(PlanFactory.build(interval_unit="month")) == "Monthly"
    assert presenters.billing_cycle(PlanFactory.build(interval_unit="year")) == "Yearly"
    assert (
        presenters.billing_cycle(PlanFactory.build(interval_unit="month", interval=3))
        == "Every 3 months"
    )


def test_format_date_uses_the_current_time_zone():
    assert presenters.format_date(dt.datetime(2027, 1, 2, 20, tzinfo=dt.UTC)) == "3 Jan 2027"
    assert presenters.format_date(None) == ""


def test_a_remembered_date_label_still_follows_the_active_language():
    march = dt.date(2027, 3, 3)
    with translation.override("en"):
        english = presenters.format_date(march)
    with translation.override("id"):
        indonesian = presenters.format_date(march)
    with translation.override("en"):
        again = presenters.format_date(march)

    assert (english, indonesian, again) == ("3 Mar 2027", "3 Maret 2027", "3 Mar 2027")
    assert timezone.get_current_timezone_name() == "Asia/Jakarta"
