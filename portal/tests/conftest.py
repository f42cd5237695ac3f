"""Fixtures of the hardening tests (access table, CSRF, input fuzzing)."""

from __future__ import annotations

import pytest

from .test_access_table import World


@pytest.fixture
def world(alice, bob, staff, settings) -> World:
    """alice's billing objects (made on first use), with bob and staff beside her."""
    # The offline sandbox is the gateway; its notifications would go nowhere.
    settings.MIDTRANS_SERVER_KEY = ""
    settings.SUBSCRIPTIONS_GATEWAY = ""
    settings.SUBSCRIPTIONS_SANDBOX_ALLOWED = True
    settings.MIDTRANS_NOTIFICATION_URL = "http://127.0.0.1:9/webhooks/midtrans/"
    world = World(alice, bob, staff)
    world.subscription  # noqa: B018 (the owner is a subscriber: made up front)
    return world
