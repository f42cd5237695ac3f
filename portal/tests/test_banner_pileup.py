"""Banners do not pile up: a newer banner of a kind replaces its older self about the
same thing, the region shows a few and says how many more wait, and a banner does not
repeat the message the page already showed for the subscriber's own action."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from portal.models import Notification
from portal.notifications import REGION_LIMIT, Banners, notify
from subscriptions.services import subscription_pause, subscription_resume
from subscriptions.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


def region(client) -> str:
    body = client.get(reverse("portal:dashboard")).content.decode()
    return body[body.index('id="notifications"') : body.index("<h1")]


def test_three_pause_and_resume_cycles_leave_one_resumed_banner(alice):
    subscription = SubscriptionFactory(user=alice, status="active")
    start = timezone.now()
    for cycle in range(3):
        at = start + dt.timedelta(minutes=10 * cycle)
        subscription = subscription_pause(subscription=subscription, now=at)
        subscription = subscription_resume(
            subscription=subscription, now=at + dt.timedelta(minutes=5)
        )

    resumed = Notification.objects.filter(user=alice, kind="subscription_resumed")
    assert resumed.count() == 3  # each event is kept on the notifications page
    assert resumed.unread().count() == 1  # the region shows the newest only
    assert not Notification.objects.unread().filter(kind="subscription_paused").exists()


def test_a_banner_about_something_else_is_not_replaced(alice):
    notify(user=alice, kind="k", key="k:1", title="One", about="invoice:1")
    notify(user=alice, kind="k", key="k:2", title="Two", about="invoice:2")
    notify(user=alice, kind="other", key="o:1", title="Three", about="invoice:1")
    assert Notification.objects.unread().count() == 3
    notify(user=alice, kind="k", key="k:3", title="Four", about="invoice:1")
    assert sorted(Notification.objects.unread().values_list("title", flat=True)) == [
        "Four",
        "Three",
        "Two",
    ]


def test_the_region_says_how_many_more_are_waiting(client, alice):
    for n in range(REGION_LIMIT + 4):
        notify(user=alice, kind=f"k{n}", key=f"k:{n}", title=f"Banner number {n}")
    client.force_login(alice)

    html = region(client)
    assert html.count("data-banner=") == REGION_LIMIT
    # On a wide screen 4 more; on a phone the third is left to the link too: 5 more.
    assert "4 more notifications" in html
    assert "5 more notifications" in html
    assert html.count("hidden sm:flex") == 1

    banners = Banners(alice)
    assert (banners.more, banners.more_on_phone) == (4, 5)


def test_the_count_is_said_in_indonesian(client, alice):
    for n in range(REGION_LIMIT + 1):
        notify(user=alice, kind=f"k{n}", key=f"k:{n}", title=f"Banner number {n}")
    client.force_login(alice)
    client.post(reverse("set_language"), {"language": "id", "next": "/billing/"})
    html = region(client)
    with translation.override("id"):
        expected = translation.ngettext(
            "%(counter)s more notification", "%(counter)s more notifications", 1
        ) % {"counter": 1}
    assert "more notification" not in expected
    assert expected in html


def test_no_link_when_everything_is_shown(client, alice):
    notify(user=alice, kind="k", key="k:1", title="Only one")
    client.force_login(alice)
    assert "data-more-notifications" not in region(client)
