"""Banners in Chromium after the subscriber's own actions: pausing shows its message
once (not as a flash and a banner), and three pause/resume cycles do not leave three
"resumed" banners. Screenshot: dashboard-after-three-cycles (a 390 px phone)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conftest import screenshot
from portal.tests.test_subscription_browser import alice_on_pro, catalogue  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.usefixtures("alice_on_pro")
def test_three_pause_and_resume_cycles_say_each_thing_once(page_for, live_server, alice):
    page = page_for(alice, width=390, height=844)
    page.goto(f"{live_server.url}/billing/")
    dialog = page.locator("#portal-dialog")
    region = page.locator("#notifications")
    card = page.locator("#subscription-card")

    for _ in range(3):
        card.get_by_role("link", name="Pause").click()
        dialog.get_by_role("button", name="Pause subscription").click()
        expect(card.get_by_test_id("status")).to_have_text("Paused")
        expect(region).to_contain_text("Your subscription is paused")  # the page says it
        expect(region.locator('[data-banner="subscription_paused"]')).to_have_count(0)

        card.get_by_role("link", name="Resume").click()
        dialog.get_by_role("button", name="Resume now").click()
        expect(card.get_by_test_id("status")).to_have_text("Active")
        expect(region).to_contain_text("Welcome back!")
        expect(region.locator('[data-banner="subscription_resumed"]')).to_have_count(0)

    page.reload()
    expect(region.locator('[data-banner="subscription_resumed"]')).to_have_count(0)
    expect(region.locator('[data-banner="subscription_paused"]')).to_have_count(0)
    screenshot(page, "dashboard-after-three-cycles")
    # The notifications page keeps the history: three pauses, three resumptions.
    page.goto(f"{live_server.url}/billing/notifications/")
    rows = page.locator("[data-notification-row]")
    expect(rows.filter(has_text="Your subscription has resumed")).to_have_count(3)
    expect(rows.filter(has_text="subscription is paused")).to_have_count(3)
