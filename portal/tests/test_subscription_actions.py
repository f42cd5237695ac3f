"""The subscription actions: pause, resume, cancel, undo a scheduled cancel, undo a
scheduled downgrade. Each is a POST (from a dialog over HTMX, from a page without
JavaScript) on the owner's subscription; a domain error becomes a message, never a
500 and never half a change."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse

from subscriptions.models import SubscriptionStatus
from subscriptions.tests.factories import PlanFactory, SubscriptionFactory

JAKARTA = ZoneInfo("Asia/Jakarta")
NOW = dt.datetime(2026, 12, 18, 10, tzinfo=JAKARTA)
HTMX = {"HX-Request": "true"}
S = SubscriptionStatus


def at(year, month, day, hour=10):
    return dt.datetime(year, month, day, hour, tzinfo=JAKARTA)


def text(response) -> str:
    return unescape(response.content.decode()).replace("\u00a0", " ")


@pytest.fixture
def now(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


@pytest.fixture
def signed_in(client, alice, now):
    client.force_login(alice)
    return client


@pytest.fixture
def starter(db):
    return PlanFactory(name="Starter", price=Decimal("49000"))


@pytest.fixture
def subscription(alice, now):
    """Alice on Pro, active, in the period 3 Dec 2026 to 3 Jan 2027."""
    return SubscriptionFactory(
        user=alice,
        plan=PlanFactory(name="Pro", price=Decimal("150000")),
        current_period_start=at(2026, 12, 3),
        current_period_end=at(2027, 1, 3),
        billing_anchor=at(2026, 12, 3),
    )


def url(name: str, subscription) -> str:
    return reverse(f"portal:subscription_{name}", args=[subscription.pk])


def refreshed(subscription):
    subscription.refresh_from_db()
    return subscription


ACTIONS = ["pause", "resume", "cancel", "undo_cancel", "undo_plan_change"]
CONFIRMS = ["pause_confirm", "resume_confirm", "cancel_confirm"]


# --- routing and access -----------------------------------------------------------------------


def test_action_urls_sit_under_the_subscription():
    assert reverse("portal:subscription_pause", args=[3]) == "/billing/subscription/3/pause/"
    assert (
        reverse("portal:subscription_pause_confirm", args=[3])
        == "/billing/subscription/3/pause/confirm/"
    )
    assert (
        reverse("portal:subscription_undo_cancel", args=[3])
        == "/billing/subscription/3/cancel/undo/"
    )
    assert (
        reverse("portal:subscription_undo_plan_change", args=[3])
        == "/billing/subscription/3/plan-change/undo/"
    )


@pytest.mark.parametrize("name", ACTIONS)
def test_every_action_refuses_get(signed_in, subscription, name):
    assert signed_in.get(url(name, subscription)).status_code == 405


@pytest.mark.parametrize("name", CONFIRMS)
def test_every_confirmation_refuses_post(signed_in, subscription, name):
    assert signed_in.post(url(name, subscription)).status_code == 405


@pytest.mark.parametrize("name", ACTIONS)
def test_every_action_refuses_a_post_without_csrf(alice, subscription, name):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    response = client.post(url(name, subscription), {"when": "now"})

    assert response.status_code == 403
    assert refreshed(subscription).status == S.ACTIVE


@pytest.mark.parametrize("name", ACTIONS + CONFIRMS)
def test_an_anonymous_visitor_is_sent_to_sign_in(client, subscription, name):
    target = url(name, subscription)

    response = client.post(target) if name in ACTIONS else client.get(target)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next={target}"


@pytest.mark.parametrize("name", ACTIONS)
def test_a_stranger_gets_404_and_changes_nothing(client, bob, subscription, name, now):
    client.force_login(bob)

    response = client.post(url(name, subscription), {"when": "now"})

    assert response.status_code == 404
    assert refreshed(subscription).status == S.ACTIVE
    assert not subscription.cancel_at_period_end


@pytest.mark.parametrize("name", CONFIRMS)
def test_a_stranger_cannot_see_a_confirmation(client, bob, subscription, name, now):
    client.force_login(bob)

    assert client.get(url(name, subscription)).status_code == 404


# --- confirmations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("pause_confirm", "Pause your subscription"),
        ("resume_confirm", "Resume your subscription"),
        ("cancel_confirm", "Cancel your subscription"),
    ],
)
def test_a_confirmation_is_a_page_without_javascript_and_a_dialog_with_htmx(
    signed_in, subscription, name, title
):
    page = text(signed_in.get(url(name, subscription)))
    dialog_response = signed_in.get(url(name, subscription), headers=HTMX)
    dialog = text(dialog_response)

    assert "<html" in page
    assert title in page
    assert "hx-post" not in page.split('id="dialog-title"')[1]
    assert "<html" not in dialog
    assert (
        f'<h2 id="dialog-title" tabindex="-1" class="text-lg font-semibold tracking-tight text-gray-900 focus:outline-none">{title}</h2>'
        in dialog
    )
    assert 'hx-target="#subscription-card"' in dialog
    assert "data-dialog-close" in dialog
    assert "HX-Request" in dialog_response["Vary"]


def test_the_cancel_dialog_offers_to_pause_instead(signed_in, subscription):
    body = text(signed_in.get(url("cancel_confirm", subscription), headers=HTMX))

    assert "Need a break instead?" in body
    assert f'hx-get="{url("pause_confirm", subscription)}"' in body
    assert "At the end of the period, on 3 Jan 2027" in body
    assert "Now: access ends immediately" in body
    assert "It&#x27;s too expensive" in body or "It's too expensive" in body


def test_a_paused_subscription_can_only_be_cancelled_now(signed_in, subscription):
    subscription.status = S.PAUSED
    subscription.save()

    body = text(signed_in.get(url("cancel_confirm", subscription)))

    assert "At the end of the period" not in body
    assert "Now: access ends immediately" in body
    assert "Need a break instead?" not in body


# --- pause and resume -------------------------------------------------------------------------------


def test_pausing_without_a_date_pauses_until_resumed(signed_in, subscription):
    response = signed_in.post(url("pause", subscription), follow=True)

    subscription = refreshed(subscription)
    assert subscription.status == S.PAUSED
    assert subscription.resume_at is None
    assert response.redirect_chain[-1][0] == reverse("portal:dashboard")
    body = text(response)
    assert "Your subscription is paused. Resume it whenever you are ready." in body
    assert "Paused until you resume it." in body


def test_pausing_with_a_date_resumes_at_the_start_of_that_day(signed_in, subscription):
    response = signed_in.post(url("pause", subscription), {"resume_on": "2027-02-01"}, follow=True)

    subscription = refreshed(subscription)
    assert subscription.status == S.PAUSED
    assert subscription.resume_at == at(2027, 2, 1, 0)
    assert "It resumes on 1 Feb 2027." in text(response)


@pytest.mark.parametrize("day", ["2026-12-17", "2026-12-18"])
def test_a_resume_date_that_is_not_in_the_future_is_a_field_error(signed_in, subscription, day):
    response = signed_in.post(url("pause", subscription), {"resume_on": day})

    body = text(response)
    assert response.status_code == 200
    assert "Choose a date after today." in body
    # A text input, typed day first (a date picker would follow the browser's locale).
    assert 'placeholder="dd/mm/yyyy"' in body
    assert "<html" in body
    assert refreshed(subscription).status == S.ACTIVE


def test_over_htmx_a_field_error_goes_back_into_the_dialog(signed_in, subscription):
    response = signed_in.post(url("pause", subscription), {"resume_on": "2020-01-01"}, headers=HTMX)

    body = text(response)
    assert response["HX-Retarget"] == "#dialog-content"
    assert response["HX-Reswap"] == "innerHTML"
    assert "Choose a date after today." in body
    assert "<html" not in body
    assert "HX-Trigger" not in response
    assert refreshed(subscription).status == S.ACTIVE


def test_resuming_makes_it_active_and_says_when_it_renews(signed_in, subscription):
    subscription.status = S.PAUSED
    subscription.paused_at = NOW - dt.timedelta(days=5)
    subscription.save()

    response = signed_in.post(url("resume", subscription), follow=True)

    subscription = refreshed(subscription)
    assert subscription.status == S.ACTIVE
    assert subscription.current_period_end == at(2027, 1, 8)  # five paused days added back
    assert "Welcome back! Your subscription is active and renews on 8 Jan 2027." in text(response)


# --- HTMX: the card, the banner out of band, the event ------------------------------------------------


def test_an_htmx_action_returns_the_card_the_banner_out_of_band_and_the_event(
    signed_in, subscription
):
    response = signed_in.post(url("pause", subscription), headers=HTMX)

    body = text(response)
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="subscription-card"')
    assert "<html" not in body
    assert "Paused until you resume it." in body
    assert 'id="notifications"' in body
    assert 'hx-swap-oob="true"' in body.split('id="notifications"')[1].split(">")[0]
    assert "Your subscription is paused." in body.split('id="notifications"')[1]
    assert "subscription-changed" in json.loads(response["HX-Trigger"])


def test_the_message_is_shown_once(signed_in, subscription):
    signed_in.post(url("pause", subscription), headers=HTMX)

    assert "Your subscription is paused." not in text(signed_in.get("/billing/"))


# --- cancel and undo -------------------------------------------------------------------------------------


def test_cancelling_at_the_period_end_keeps_it_until_then_with_the_reason(signed_in, subscription):
    response = signed_in.post(
        url("cancel", subscription),
        {"when": "period_end", "reason": "too_expensive", "details": "  Budget cuts  "},
        follow=True,
    )

    subscription = refreshed(subscription)
    assert subscription.status == S.ACTIVE
    assert subscription.cancel_at_period_end
    assert subscription.cancellation_reason == "too_expensive: Budget cuts"
    body = text(response)
    assert "Your subscription will end on 3 Jan 2027. You can undo this until then." in body
    assert reverse("portal:subscription_undo_cancel", args=[subscription.pk]) in body


def test_cancelling_now_ends_it_at_once(signed_in, subscription):
    response = signed_in.post(url("cancel", subscription), {"when": "now"}, follow=True)

    subscription = refreshed(subscription)
    assert subscription.status == S.CANCELLED
    assert subscription.ended_at == NOW
    assert "Your subscription is cancelled." in text(response)


def test_cancel_without_choosing_when_is_a_field_error(signed_in, subscription):
    response = signed_in.post(url("cancel", subscription), {"reason": "other"})

    assert "This field is required." in text(response)
    assert refreshed(subscription).status == S.ACTIVE


def test_cancel_at_the_period_end_is_not_accepted_for_a_paused_subscription(
    signed_in, subscription
):
    subscription.status = S.PAUSED
    subscription.save()

    response = signed_in.post(url("cancel", subscription), {"when": "period_end"})

    assert "Select a valid choice." in text(response)
    assert refreshed(subscription).status == S.PAUSED


def test_undoing_a_scheduled_cancel_keeps_the_subscription(signed_in, subscription):
    subscription.cancel_at_period_end = True
    subscription.save()

    response = signed_in.post(url("undo_cancel", subscription), headers=HTMX)

    assert not refreshed(subscription).cancel_at_period_end
    body = text(response)
    assert "Your subscription is no longer set to cancel." in body
    assert "Renews on 3 Jan 2027 for Rp 150.000." in body
    assert "subscription-changed" in json.loads(response["HX-Trigger"])


def test_undoing_a_scheduled_downgrade_keeps_the_plan(signed_in, subscription, starter):
    subscription.scheduled_plan = starter
    subscription.scheduled_change_at = subscription.current_period_end
    subscription.save()

    response = signed_in.post(url("undo_plan_change", subscription), follow=True)

    subscription = refreshed(subscription)
    assert subscription.scheduled_plan is None
    assert subscription.scheduled_change_at is None
    body = text(response)
    assert "The scheduled plan change is cancelled. You stay on Pro." in body
    assert 'data-testid="scheduled-plan_change"' not in body


# --- domain errors are messages ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("resume", {}, "Only a paused subscription can be resumed."),
        ("undo_cancel", {}, "There is no scheduled cancellation to undo."),
        ("undo_plan_change", {}, "There is no scheduled plan change to cancel."),
    ],
)
def test_an_action_that_is_not_possible_becomes_a_message(
    signed_in, subscription, name, data, message
):
    response = signed_in.post(url(name, subscription), data, follow=True)

    assert response.status_code == 200
    assert message in text(response)
    assert refreshed(subscription).status == S.ACTIVE


def test_over_htmx_a_domain_error_is_a_banner_and_no_event(signed_in, subscription):
    subscription.status = S.TRIALING
    subscription.trial_end = subscription.current_period_end
    subscription.save()

    response = signed_in.post(url("pause", subscription), headers=HTMX)

    body = text(response)
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="subscription-card"')
    assert "A subscription that is trialing cannot become paused." in body
    assert "HX-Trigger" not in response
    assert refreshed(subscription).status == S.TRIALING


def test_cancelling_twice_at_the_period_end_is_a_message_not_a_500(signed_in, subscription):
    subscription.cancel_at_period_end = True
    subscription.save()

    response = signed_in.post(url("cancel", subscription), {"when": "period_end"}, follow=True)

    assert response.status_code == 200
    assert "This subscription is already set to cancel at the period end." in text(response)


def test_an_ended_subscription_cannot_be_paused(signed_in, subscription):
    subscription.status = S.CANCELLED
    subscription.save()

    response = signed_in.post(url("pause", subscription), follow=True)

    assert "A subscription that is cancelled cannot become paused." in text(response)
    assert refreshed(subscription).status == S.CANCELLED
