"""The billing pages in Indonesian: the dashboard, the plans, the subscription dialogs
and checkout follow the reader's language (here an Indonesian browser signing in), with
``<html lang="id">``, Indonesian words and "3 Desember 2026" dates; the header's language
switch; and the pause form's date, typed day first in either language.

These read real Indonesian strings, so they need the compiled catalogue
(``python manage.py translations --write``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import AnonymousUser
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import translation
from playwright.sync_api import expect

from conftest import screenshot
from portal import presenters
from portal.forms_subscription import PauseForm, date_input_hint
from subscriptions.models import SubscriptionStatus
from subscriptions.tests.factories import PlanFactory, SubscriptionFactory

JAKARTA = ZoneInfo("Asia/Jakarta")
NOW = dt.datetime(2026, 12, 18, 10, tzinfo=JAKARTA)
PASSWORD = "correct horse battery"  # UserFactory's
DASHBOARD = "/billing/"
HTMX = {"HX-Request": "true"}
S = SubscriptionStatus


def at(year, month, day, hour=10):
    return dt.datetime(year, month, day, hour, tzinfo=JAKARTA)


def text(response) -> str:
    return unescape(response.content.decode()).replace("\u00a0", " ")


def html_lang(body: str) -> str:
    start = body.index("<html")
    tag = body[start : body.index(">", start)]
    return tag.split('lang="', 1)[1].split('"', 1)[0]


@pytest.fixture
def now(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


def signed_in_with(browser_language: str, user) -> Client:
    """A browser sending ``Accept-Language: <browser_language>`` that signs in (an
    account without a stored language takes the one it signs in with)."""
    client = Client(HTTP_ACCEPT_LANGUAGE=browser_language)
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return client


@pytest.fixture
def indonesian(alice, now):
    return signed_in_with("id", alice)


@pytest.fixture
def english(alice, now):
    return signed_in_with("en", alice)


@pytest.fixture
def pro(db):
    return PlanFactory(
        name="Pro",
        slug="pro-monthly",
        price=Decimal("150000"),
        features={"max_projects": 20, "max_members": 5, "support": "email", "api_access": True},
        sort_order=2,
    )


@pytest.fixture
def subscription(alice, pro, now):
    """Alice on Pro, active, in the period 3 Dec 2026 to 3 Jan 2027."""
    return SubscriptionFactory(
        user=alice,
        plan=pro,
        current_period_start=at(2026, 12, 3),
        current_period_end=at(2027, 1, 3),
        billing_anchor=at(2026, 12, 3),
    )


# --- the pages in Indonesian -------------------------------------------------------------


def test_the_dashboard_reads_in_indonesian_with_indonesian_dates(indonesian, subscription):
    body = text(indonesian.get(DASHBOARD))

    assert html_lang(body) == "id"
    assert "<title>Penagihan · Portal penagihan</title>" in body
    assert "Paket saat ini" in body
    assert "Aktif" in body
    assert "Diperpanjang pada 3 Januari 2027 seharga Rp 150.000." in body
    assert "3 Desember 2026 – 3 Januari 2027" in body
    assert "Rp 150.000</span>" in body
    assert "/ bulan" in body
    assert "Bulanan" in body  # the billing cycle
    assert "Hingga 20 proyek" in body
    assert "Hingga 5 anggota" in body
    assert "Dukungan email" in body
    assert "Jeda" in body
    assert "Batalkan langganan" in body
    assert "Tagihan terbaru" in body
    # No English left on the card.
    for english_text in ("Current plan", "Renews on", "Billing cycle", "Up to 20 projects"):
        assert english_text not in body


def test_the_same_dashboard_in_english_is_unchanged(english, subscription):
    body = text(english.get(DASHBOARD))

    assert html_lang(body) == "en"
    assert "Renews on 3 Jan 2027 for Rp 150.000." in body
    assert "3 Dec 2026 – 3 Jan 2027" in body
    assert "/ month" in body
    assert "Monthly" in body
    assert "Up to 20 projects" in body


def test_the_plans_page_reads_in_indonesian(indonesian, alice, pro, now):
    PlanFactory(name="Starter", slug="starter-monthly", price=Decimal("49000"), sort_order=1)
    PlanFactory(
        name="Pro",
        slug="pro-yearly",
        price=Decimal("1500000"),
        interval_unit="year",
        sort_order=3,
        trial_period_days=14,
    )

    body = text(indonesian.get(reverse("portal:plans")))

    assert html_lang(body) == "id"
    assert "<h1" in body
    assert ">Paket</h1>" in body
    assert "Harga dalam rupiah." in body
    assert ">Bulanan</a>" in body
    assert ">Tahunan</a>" in body
    assert "Berlangganan" in body
    assert "/ bulan" in body
    yearly = text(indonesian.get(reverse("portal:plans") + "?interval=year"))
    assert "Mulai uji coba 14 hari" in yearly
    assert "Uji coba gratis 14 hari" in yearly
    assert "/ tahun" in yearly


def test_the_plan_change_quote_reads_in_indonesian(indonesian, subscription):
    business = PlanFactory(name="Business", slug="business-monthly", price=Decimal("500000"))

    body = text(indonesian.get(reverse("portal:plan_change", args=[business.slug]), headers=HTMX))

    assert "Naik ke paket Business" in body
    assert "Kredit untuk sisa waktu Pro yang belum terpakai" in body
    assert "Bayar hari ini" in body
    assert "3 Januari 2027" in body
    assert "Rincian harga ini berlaku sampai pukul" in body


def test_the_pause_dialog_reads_in_indonesian(indonesian, subscription):
    url = reverse("portal:subscription_pause_confirm", args=[subscription.pk])
    body = text(indonesian.get(url, headers=HTMX))

    assert "<html" not in body  # the dialog's body
    assert 'id="dialog-title"' in body
    assert "Jeda langganan Anda" in body
    assert "Lanjutkan otomatis pada" in body
    assert "(sampai 3 Januari 2027)" in body
    assert 'placeholder="hh/bb/tttt"' in body
    assert "inputmode" not in body  # a number pad has no "/"
    assert "Tetap jalankan" in body
    assert 'aria-label="Tutup"' in body


def test_the_cancel_dialog_reads_in_indonesian(indonesian, subscription):
    url = reverse("portal:subscription_cancel_confirm", args=[subscription.pk])
    body = text(indonesian.get(url))

    assert html_lang(body) == "id"
    assert "Batalkan langganan Anda" in body
    assert "Di akhir periode, pada 3 Januari 2027" in body
    assert "Mengapa Anda membatalkan?" in body
    assert "Harganya terlalu mahal" in body
    assert "Pertahankan langganan" in body


def test_a_flash_message_after_an_action_is_in_indonesian(indonesian, subscription):
    url = reverse("portal:subscription_pause", args=[subscription.pk])
    body = text(indonesian.post(url, {"resume_on": "01/02/2027"}, follow=True))

    assert "Langganan Anda dijeda. Langganan dilanjutkan pada 1 Februari 2027." in body
    assert "Dijeda, dilanjutkan pada 1 Februari 2027." in body


def test_the_billing_cycle_and_period_length_in_both_languages(db):
    every_three_months = PlanFactory.build(interval_unit="month", interval=3)
    yearly = PlanFactory.build(interval_unit="year", interval=1)

    with translation.override("en"):
        assert presenters.billing_cycle(every_three_months) == "Every 3 months"
        assert presenters.interval_words(every_three_months) == "3 months"
        assert presenters.billing_cycle(yearly) == "Yearly"
        assert presenters.interval_words(yearly) == "year"
    with translation.override("id"):
        assert presenters.billing_cycle(every_three_months) == "Setiap 3 bulan"
        assert presenters.interval_words(every_three_months) == "3 bulan"
        assert presenters.billing_cycle(yearly) == "Tahunan"
        assert presenters.interval_words(yearly) == "tahun"


# --- the header's language switch ---------------------------------------------------------


def switch_form(body: str) -> str:
    start = body.index("data-language-switch")
    start = body.rindex("<form", 0, start)
    return body[start : body.index("</form>", start)]


def test_the_header_has_the_language_switch_signed_in(indonesian, subscription):
    body = indonesian.get(DASHBOARD + "?x=1").content.decode()

    # Two of them: next to the account menu on a phone, inside it from md.
    header = body[: body.index("</header>")]
    assert header.count("data-language-switch") == 2
    form = switch_form(header)
    assert 'method="post"' in form
    assert f'action="{reverse("set_language")}"' in form
    assert 'name="csrfmiddlewaretoken"' in form
    assert '<input type="hidden" name="next" value="/billing/?x=1">' in form
    assert 'role="group" aria-label="Bahasa"' in form
    assert 'name="language" value="en" lang="en"' in form
    assert 'name="language" value="id" lang="id"' in form
    # Each language named in its own language; the active one is pressed.
    assert ">English</span>" in form
    assert ">Bahasa Indonesia</span>" in form
    assert form.count('aria-pressed="true"') == 1
    pressed = form[: form.index('aria-pressed="true"')]
    assert pressed.rindex('value="id"') > pressed.rindex('value="en"')


def test_the_header_has_the_language_switch_signed_out(rf, db):
    # (allauth's entrance pages have their own layout; any other page signed out has
    # the portal's header with "Sign in".)
    request = rf.get("/somewhere/?page=2")
    request.user = AnonymousUser()
    request.session = {}
    with translation.override("id"):
        body = render_to_string("base.html", request=request)

    header = body[: body.index("</header>")]
    form = switch_form(header)
    assert f'action="{reverse("set_language")}"' in form
    assert '<input type="hidden" name="next" value="/somewhere/?page=2">' in form
    assert header.index("data-language-switch") < header.index(reverse("account_login"))
    assert ">Masuk</a>" in header
    assert html_lang(body) == "id"


def test_switching_in_the_header_returns_to_the_page_in_the_other_language(english, subscription):
    assert html_lang(english.get(DASHBOARD).content.decode()) == "en"

    response = english.post(reverse("set_language"), {"language": "id", "next": DASHBOARD})

    assert response.status_code == 302
    assert response["Location"] == DASHBOARD
    body = text(english.get(DASHBOARD))
    assert html_lang(body) == "id"
    assert "Diperpanjang pada 3 Januari 2027" in body


# --- the pause form's date ------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "id"])
@pytest.mark.parametrize("typed", ["25/12/2026", "2026-12-25", "25-12-2026"])
def test_the_resume_date_is_read_day_first_or_iso_in_both_languages(now, language, typed):
    with translation.override(language):
        form = PauseForm({"resume_on": typed})
        assert form.is_valid(), form.errors
    assert form.cleaned_data["resume_on"] == dt.date(2026, 12, 25)
    assert form.resume_at == at(2026, 12, 25, 0)


@pytest.mark.parametrize(
    ("language", "hint", "error"),
    [("en", "dd/mm/yyyy", "Choose a date after today."), ("id", "hh/bb/tttt", "Pilih tanggal")],
)
@pytest.mark.parametrize("typed", ["18/12/2026", "01/01/2020"])
def test_a_resume_date_not_after_today_is_a_field_error(now, language, hint, error, typed):
    with translation.override(language):
        form = PauseForm({"resume_on": typed})
        assert not form.is_valid()
        assert error in form.errors["resume_on"][0]
        assert date_input_hint() == hint
        html = str(form["resume_on"])
    assert 'type="text"' in html
    assert 'type="date"' not in html
    assert f'placeholder="{hint}"' in html
    assert 'aria-invalid="true"' in html


def test_a_chosen_date_is_shown_back_day_first(now):
    with translation.override("id"):
        form = PauseForm(initial={"resume_on": dt.date(2027, 1, 5)})
        assert 'value="05/01/2027"' in str(form["resume_on"])


def test_an_american_month_first_date_is_refused_not_misread(now):
    with translation.override("en"):
        form = PauseForm({"resume_on": "12/25/2026"})
        assert not form.is_valid()
        assert "Enter a valid date." in form.errors["resume_on"]


def test_pausing_in_indonesian_with_a_past_date_shows_the_error_in_the_dialog(
    indonesian, subscription
):
    url = reverse("portal:subscription_pause", args=[subscription.pk])
    response = indonesian.post(url, {"resume_on": "17/12/2026"}, headers=HTMX)

    body = text(response)
    assert response["HX-Retarget"] == "#dialog-content"
    assert "Pilih tanggal setelah hari ini." in body
    assert 'value="17/12/2026"' in body
    subscription.refresh_from_db()
    assert subscription.status == S.ACTIVE


# --- in a real browser ----------------------------------------------------------------------


def no_sideways_scroll(page) -> bool:
    return page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_switch_fits_a_phone_is_reachable_by_keyboard_and_switches(
    page_for, live_server, alice, pro
):
    SubscriptionFactory(user=alice, plan=pro)
    page = page_for(alice, width=390, height=844)
    page.goto(f"{live_server.url}/billing/?from=test")
    assert page.locator("html").get_attribute("lang") == "en"
    switch = page.get_by_role("group", name="Language")
    english = switch.get_by_role("button", name="English")
    indonesian = switch.get_by_role("button", name="Bahasa Indonesia")
    expect(english).to_have_attribute("aria-pressed", "true")
    expect(indonesian).to_be_visible()
    assert no_sideways_scroll(page)

    # Tab from the top of the page reaches the switch (after the skip link and the logo).
    for _ in range(6):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('lang')") == "en":
            break
    else:
        pytest.fail("the language switch is not reachable with Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")

    page.wait_for_function("document.documentElement.lang === 'id'")
    assert page.url == f"{live_server.url}/billing/?from=test"
    switch = page.get_by_role("group", name="Bahasa")
    expect(switch.get_by_role("button", name="Bahasa Indonesia")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(page.get_by_role("heading", name="Penagihan", level=1)).to_be_visible()
    assert no_sideways_scroll(page)
    screenshot(page, "i18n-dashboard-id-phone")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_switch_works_without_javascript(chromium, live_server, client, alice, pro):
    SubscriptionFactory(user=alice, plan=pro)
    client.force_login(alice)
    context = chromium.new_context(
        java_script_enabled=False, viewport={"width": 1200, "height": 900}
    )
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/billing/plans/")
        # On a wide screen the switch is in the account menu (a <details>: no script).
        menu = page.locator("details[data-menu]")
        menu.locator("summary").click()
        menu.get_by_role("group", name="Language").get_by_role(
            "button", name="Bahasa Indonesia"
        ).click()
        page.wait_for_url(f"{live_server.url}/billing/plans/")
        assert page.locator("html").get_attribute("lang") == "id"
        expect(page.get_by_role("heading", name="Paket", level=1)).to_be_visible()
        assert no_sideways_scroll(page)
        screenshot(page, "i18n-plans-id")
        menu.locator("summary").click()
        menu.get_by_role("button", name="English").click()
        assert page.locator("html").get_attribute("lang") == "en"
        expect(page.get_by_role("heading", name="Plans", level=1)).to_be_visible()
    finally:
        context.close()
