"""Shared fixtures for the whole suite.

Tests marked ``postgres`` need PostgreSQL semantics (row locks, several processes at
once); they are skipped when the suite runs on the SQLite default and run in CI,
which runs the suite on both.

Tests marked ``clock_sensitive`` show a date made from "now"; they run again with the
clock moved to either side of midnight in the project's time zone and in UTC
(``CLOCK_EDGES``), so a date written in the wrong zone fails whatever the hour.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection, connections
from django.utils import translation


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" in engine:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL=postgres://...)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


# --- The clock at midnight -----------------------------------------------------------------

# Asia/Jakarta is UTC+7: from 17:00 to 24:00 UTC its calendar day is a day ahead of UTC's.
# Year end, so the month and the year (invoice numbers) turn over too. "now" is the real
# clock. Each edge is 30 seconds from midnight and the clock ticks from there.
CLOCK_EDGES = {
    "now": None,
    "jakarta-23:59": dt.datetime(2026, 12, 31, 16, 59, 30, tzinfo=dt.UTC),
    "jakarta-00:00": dt.datetime(2026, 12, 31, 17, 0, 30, tzinfo=dt.UTC),
    "utc-23:59": dt.datetime(2026, 12, 31, 23, 59, 30, tzinfo=dt.UTC),
    "utc-00:00": dt.datetime(2027, 1, 1, 0, 0, 30, tzinfo=dt.UTC),
}


def pytest_generate_tests(metafunc):
    if metafunc.definition.get_closest_marker("clock_sensitive"):
        metafunc.parametrize("clock_edge", list(CLOCK_EDGES), indirect=True)


@pytest.fixture(autouse=True)
def clock_edge(request):
    """For a ``clock_sensitive`` test, the clock moved to one of ``CLOCK_EDGES`` before
    any other fixture makes a row; for every other test, nothing."""
    instant = CLOCK_EDGES.get(getattr(request, "param", None))
    if instant is None:
        yield
        return
    with time_machine.travel(instant, tick=True):
        yield


@pytest.fixture(autouse=True)
def site_language():
    """Every test starts in the site's language and leaves it so: a request's
    LocaleMiddleware activates its language in this thread and nothing deactivates it,
    so an Indonesian request would otherwise leak into the next test."""
    translation.deactivate()
    yield
    translation.deactivate()


def local(value: dt.datetime) -> dt.datetime:
    """``value`` in the project's time zone (Asia/Jakarta), made without the code under
    test: what a test formats the dates it expects from."""
    from django.conf import settings

    return value.astimezone(ZoneInfo(settings.TIME_ZONE))


def local_day(value: dt.datetime) -> str:
    """The calendar day of ``value`` in the project's time zone as the pages write it
    ("3 Jan 2027")."""
    day = local(value)
    return f"{day.day} {day:%b %Y}"


@pytest.fixture
def is_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def alice(db):
    from subscriptions.tests.factories import UserFactory

    return UserFactory(email="alice@example.com")


@pytest.fixture
def bob(db):
    from subscriptions.tests.factories import UserFactory

    return UserFactory(email="bob@example.com")


@pytest.fixture
def staff(db):
    from subscriptions.tests.factories import UserFactory

    return UserFactory(email="staff@example.com", is_staff=True, is_superuser=True)


# --- Real Chromium (Playwright) against live_server ---------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", Path(__file__).parent / "var" / "screenshots"))


@pytest.fixture
def chromium():
    """Headless Debian Chromium for one test (``make test`` installs it).

    Per test rather than per session: Playwright's sync API runs an event loop in a
    greenlet, and database connections opened while it runs belong to its context
    (asgiref's Local is context-aware). They are closed inside that context before
    the test database is flushed, or SQLite's shared in-memory database stays locked
    and PostgreSQL cannot drop the test database.
    """
    if CHROMIUM is None:
        pytest.fail("Browser tests need Debian's chromium: run `make test` (it installs it).")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()
        connections.close_all()


@pytest.fixture
def sandbox_settings(settings):
    """The offline sandbox gateway, its notifications sent nowhere (port 9: refused at
    once) unless the test points ``MIDTRANS_NOTIFICATION_URL`` somewhere."""
    settings.MIDTRANS_SERVER_KEY = ""
    settings.SUBSCRIPTIONS_GATEWAY = ""
    settings.SUBSCRIPTIONS_SANDBOX_ALLOWED = True
    settings.MIDTRANS_NOTIFICATION_URL = "http://127.0.0.1:9/webhooks/midtrans/"
    return settings


@pytest.fixture
def sandbox_gateway(sandbox_settings, live_server):
    """The offline sandbox gateway, delivering its notifications to ``live_server``."""
    sandbox_settings.MIDTRANS_NOTIFICATION_URL = ""
    sandbox_settings.SITE_URL = live_server.url
    return live_server


# Reports every Content-Security-Policy violation of a page (and of its frames) to the
# test: the event carries what was refused and by which directive.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (event) {
  window.__cspViolation({
    directive: event.effectiveDirective,
    blocked: event.blockedURI,
    source: event.sourceFile + ":" + event.lineNumber,
    sample: event.sample,
    page: location.href,
  });
});
"""


@pytest.fixture
def page_for(chromium, live_server, client, monkeypatch):
    """``page_for(user)``: a fresh browser page signed in as ``user`` (or anonymous with None).

    Screenshots go to ``var/screenshots/`` (``screenshot(page, "name")``).
    Every browser test fails if Chromium reports a Content-Security-Policy violation
    (the event, or the console error it logs); ``page_for.csp_violations`` lists them
    for a test that provokes one on purpose (it empties the list when done).
    """
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    contexts = []
    violations: list = []

    def on_console(message) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            violations.append(message.text)

    def make(user=None, *, width=1200, height=1000):
        context = chromium.new_context(viewport={"width": width, "height": height})
        context.expose_binding("__cspViolation", lambda source, report: violations.append(report))
        context.add_init_script(REPORT_CSP_VIOLATIONS)
        if user is not None:
            client.force_login(user)
            cookie = client.cookies["sessionid"].value
            context.add_cookies([{"name": "sessionid", "value": cookie, "url": live_server.url}])
        contexts.append(context)
        page = context.new_page()
        page.on("console", on_console)
        page.set_default_timeout(15_000)
        return page

    make.csp_violations = violations
    yield make
    for context in contexts:
        context.close()
    connections.close_all()
    assert not violations, f"Content-Security-Policy violations: {violations}"


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
