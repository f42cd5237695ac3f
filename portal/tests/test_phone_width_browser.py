"""Every portal page a subscriber can reach fits a 390 px phone, in English and in
Indonesian (whose words are longer): the page never scrolls sideways
(``document.documentElement.scrollWidth <= 390``) and nothing is drawn past the
screen's edge, not even inside a box that scrolls or clips (a table's last column
hidden in a scroller, a card cut off), except the navigation strips that are meant to
scroll (the status filters, the phone's main menu).

The account is a real one, made through the billing services: two years of monthly
renewals (more invoices than a page holds) with long invoice numbers, an upgrade with
its proration lines paid by card, refunded in part to the wallet and in part to the
card, a settlement that arrived after the invoice was paid (returned), an open renewal,
a wallet with top-ups (settled, waiting, failed), payments and a refund, and the
banners all that left.

Screenshots (``var/screenshots/``): phone-<page>-<language>, e.g. phone-invoices-id.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from conftest import screenshot
from portal import links
from portal.languages import remember
from portal.models import Notification
from portal.tests.test_invoice_refunds import refund, settled
from portal.tests.test_subscription_browser import catalogue  # noqa: F401 (fixture)
from subscriptions.models import Invoice, InvoiceSequence, Subscription
from subscriptions.services import (
    payment_apply_status,
    payment_create,
    subscription_change_plan,
    subscription_create,
    subscription_create_renewal_invoice,
    subscription_pause,
)
from subscriptions.tests.factories import UserFactory
from wallets.services import topup_complete, topup_create, topup_fail, wallet_pay_invoice
from wallets.tests.factories import funded_wallet

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
LANGUAGES = ["en", "id"]
# A shop's own prefix and a counter well into its millions: "MAJU-INV-2026-1048577".
PREFIX = "MAJU-INV"
FIRST_NUMBER = 1_048_576
REFUND_REASON = (
    "Layanan tidak tersedia 3–17 Desember; dikembalikan secara prorata ke dompet sesuai "
    "kesepakatan dengan tim dukungan pelanggan (tiket 48213)"
)

# What is drawn past the right (or left) edge of the screen, and what a box hides by
# clipping or scrolling it sideways (a table's last column in a scroller, a card cut off):
# the outermost such elements, described. Left out: the navigation strips that scroll
# sideways on purpose, text cut with an ellipsis on purpose, text for screen readers only.
OFF_SCREEN = """
() => {
  const width = window.innerWidth;
  const found = [];
  const onPurpose = (element) => {
    const nav = element.closest("nav");
    return (nav !== null && ["auto", "scroll"].includes(getComputedStyle(nav).overflowX))
      || element.closest(".sr-only") !== null;
  };
  const describe = (element, box, why) => {
    const text = (element.innerText || "").trim().replace(/\\s+/g, " ").slice(0, 50);
    const name = element.tagName.toLowerCase() + (element.id ? "#" + element.id : "");
    return `${name} [${Math.round(box.left)}..${Math.round(box.right)}]${why} ${text}`;
  };
  const reported = new Set();
  for (const element of document.body.querySelectorAll("*")) {
    const box = element.getBoundingClientRect();
    if (box.width <= 1 || box.height <= 1 || onPurpose(element)) continue;
    if (element.parentElement && reported.has(element.parentElement)) {
      reported.add(element);
      continue;
    }
    const style = getComputedStyle(element);
    const clips = style.overflowX !== "visible" && style.textOverflow !== "ellipsis";
    if (box.right > width + 0.5 || box.left < -0.5) {
      reported.add(element);
      found.push(describe(element, box, ""));
    } else if (clips && element.scrollWidth > element.clientWidth + 1) {
      found.push(describe(element, box, ` hides ${element.scrollWidth - element.clientWidth} px`));
    }
  }
  return found.slice(0, 8);
}
"""


@dataclass
class Account:
    """What the pages are opened with: the subscriber and the rows worth a page each."""

    user: object
    subscription: Subscription
    upgrade: Invoice  # paid by card, then refunded in part; lines, payments, refunds
    open_invoice: Invoice  # the next renewal, waiting to be paid
    waiting_topup: str  # the order id of a top-up waiting for its payment
    paused: object  # a second subscriber, on a paused subscription


@pytest.fixture
def live(sandbox_gateway, monkeypatch):
    # The finish pages poll; each live-server thread closes its connection after a request.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    return sandbox_gateway


def pay(invoice: Invoice, *, when: dt.datetime, payment_type: str = "bank_transfer"):
    payment = payment_create(user=invoice.user, amount=invoice.total, invoice=invoice)
    payment_apply_status(
        payment=payment, transaction_status="settlement", payment_type=payment_type, now=when
    )
    return payment


def history(user, plan, *, months: int) -> Subscription:
    """A subscription started ``months`` (and ten days) ago, renewed and paid every month."""
    now = timezone.now()
    start = now - dt.timedelta(days=30 * months + 10)
    subscription = subscription_create(user=user, plan=plan, allow_trial=False, now=start)
    Subscription.objects.filter(pk=subscription.pk).update(created_at=start)
    pay(subscription.invoices.get(), when=start)
    subscription.refresh_from_db()
    while subscription.current_period_end <= now:
        renewal = subscription_create_renewal_invoice(
            subscription=subscription, now=subscription.current_period_end
        )
        if subscription.current_period_end > now - dt.timedelta(days=70):
            wallet_pay_invoice(invoice=renewal)  # the last renewals came out of the wallet
        else:
            pay(renewal, when=renewal.period_start)
        subscription.refresh_from_db()
    return subscription


@pytest.fixture
def account(settings, alice, catalogue) -> Account:  # noqa: F811 (the catalogue fixture)
    settings.SUBSCRIPTIONS_INVOICE_PREFIX = PREFIX
    year = timezone.localtime().year
    for offset in range(-3, 2):
        InvoiceSequence.objects.create(year=year + offset, last_value=FIRST_NUMBER + offset * 40)
    alice.first_name, alice.last_name = "Sekar Ayu", "Kusumawardhani"
    alice.save(update_fields=["first_name", "last_name"])

    # A wallet: an opening balance, top-ups settled, waiting and failed.
    wallet = funded_wallet(alice, 2_500_000)
    for amount in (1_000_000, 250_000):
        topup_complete(topup=topup_create(user=alice, amount=Decimal(amount)))
    topup_fail(topup=topup_create(user=alice, amount=Decimal("75000")))
    waiting = topup_create(user=alice, amount=Decimal("12500000"))

    subscription = history(alice, catalogue["pro-monthly"], months=26)

    # The upgrade to Business: proration lines, paid by card, then refunds and a late
    # settlement that was returned.
    change = subscription_change_plan(
        subscription=subscription, new_plan=catalogue["business-monthly"]
    )
    upgrade = change.invoice
    now = timezone.now()
    payment = pay(upgrade, when=now, payment_type="credit_card")
    half = (upgrade.total / 2).quantize(Decimal("1"))
    refund(payment, half, destination="wallet", reason=REFUND_REASON, at=now)
    refund(payment, half / 2, destination="gateway", status="pending", at=now)
    late = settled(upgrade, upgrade.total, payment_type="bank_transfer", at=now, overpaid=True)
    refund(late, upgrade.total, destination="gateway", kind="overpayment", at=now)
    upgrade.refresh_from_db()

    subscription.refresh_from_db()
    open_invoice = subscription_create_renewal_invoice(subscription=subscription)
    wallet.refresh_from_db()

    # Old banners read, the last few left unread (as a real account has them).
    unread = list(Notification.objects.unread().filter(user=alice).order_by("-pk"))
    Notification.objects.filter(pk__in=[n.pk for n in unread[3:]]).update(
        dismissed_at=timezone.now()
    )

    bob = UserFactory(email="bambang.wicaksono@example.co.id")
    paused = history(bob, catalogue["starter-yearly"], months=0)
    subscription_pause(subscription=paused)

    return Account(
        user=alice,
        subscription=subscription,
        upgrade=upgrade,
        open_invoice=open_invoice,
        waiting_topup=waiting.order_id,
        paused=bob,
    )


def measure(page, name: str, language: str) -> dict:
    """The page's width and what it draws off the screen, with a screenshot."""
    page.wait_for_load_state("load")
    assert page.locator("html").get_attribute("lang") == language, (name, page.url)
    screenshot(page, f"phone-{name}-{language}")
    return {
        "scroll_width": page.evaluate("document.documentElement.scrollWidth"),
        "off_screen": page.evaluate(OFF_SCREEN),
    }


def too_wide(results: dict) -> str:
    """One line per page that is too wide: its width and what sticks out."""
    return "\n".join(
        f"{name}: {found['scroll_width']} px; " + " | ".join(found["off_screen"])
        for name, found in results.items()
        if found["scroll_width"] > PHONE["width"] or found["off_screen"]
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_subscriber_page_fits_a_phone(live, page_for, account, language):
    remember(account.user, language)
    remember(account.paused, language)
    user, sub = account.user, account.subscription
    page = page_for(user, **PHONE)
    results = {}

    def visit(name: str, path: str) -> None:
        response = page.goto(live.url + path)
        assert response.ok, (name, path, response.status)
        results[name] = measure(page, name, language)

    visit("dashboard", reverse("portal:dashboard"))
    visit("plans-monthly", reverse("portal:plans") + "?interval=month")
    visit("plans-yearly", reverse("portal:plans") + "?interval=year")
    for slug in ("starter-monthly", "pro-yearly", "business-yearly"):
        visit(f"plan-change-{slug}", reverse("portal:plan_change", args=[slug]))
    visit("pause", reverse("portal:subscription_pause_confirm", args=[sub.pk]))
    visit("cancel", reverse("portal:subscription_cancel_confirm", args=[sub.pk]))
    visit("wallet", reverse("portal:wallet"))
    visit("topup-finish", reverse("portal:topup_finish", args=[account.waiting_topup]))
    visit("invoices", reverse("portal:invoices"))
    visit("invoices-page-2", reverse("portal:invoices") + "?page=2")
    visit("invoice-refunded", reverse("portal:invoice_detail", args=[account.upgrade.pk]))
    visit("invoice-open", reverse("portal:invoice_detail", args=[account.open_invoice.pk]))
    visit("notifications", reverse("portal:notifications"))
    visit("pay", reverse("portal:subscription_pay", args=[account.open_invoice.pk]))

    # Pay: the sandbox's payment page, then ours waiting for the payment.
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/sandbox/pay/"))
    results["sandbox-pay"] = measure(page, "sandbox-pay", language)
    order_id = account.open_invoice.payments.latest("pk").order_id
    visit("checkout-finish", reverse("checkout:finish", args=[order_id]))

    # The hosted invoice page, opened from an email by someone signed out.
    signed_out = page_for(None, **PHONE)
    signed_out.context.add_cookies(
        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live.url}]
    )
    for name, path in (
        ("hosted-invoice", links.hosted_invoice_path(account.open_invoice.pk)),
        ("hosted-invoice-refunded", links.hosted_invoice_path(account.upgrade.pk)),
        ("sign-in", reverse("account_login")),
        ("sign-up", reverse("account_signup")),
        ("password-reset", reverse("account_reset_password")),
    ):
        response = signed_out.goto(live.url + path)
        assert response.ok, (name, path, response.status)
        results[name] = measure(signed_out, name, language)

    # Paused: the dashboard and the resume page (another subscriber).
    paused = page_for(account.paused, **PHONE)
    for name, path in (
        ("dashboard-paused", reverse("portal:dashboard")),
        (
            "resume",
            reverse(
                "portal:subscription_resume_confirm",
                args=[account.paused.subscriptions.get().pk],
            ),
        ),
    ):
        response = paused.goto(live.url + path)
        assert response.ok, (name, path, response.status)
        results[name] = measure(paused, name, language)

    assert len(results) == 25
    assert Invoice.objects.filter(user=user).count() > 25  # a second page of invoices
    assert account.upgrade.number.startswith(f"{PREFIX}-")
    assert not too_wide(results), "Too wide for a 390 px phone:\n" + too_wide(results)


@pytest.mark.parametrize("language", ["id"])
def test_the_billing_pages_fit_tablets_and_laptops(live, page_for, account, language):
    """From a small tablet to a laptop, in the longer language: no table runs out of its
    card (its PDF column in a scroller out of view), no page scrolls sideways."""
    remember(account.user, language)
    page = page_for(account.user)
    paths = {
        "dashboard": reverse("portal:dashboard"),
        "invoices": reverse("portal:invoices"),
        "invoice-refunded": reverse("portal:invoice_detail", args=[account.upgrade.pk]),
        "invoice-open": reverse("portal:invoice_detail", args=[account.open_invoice.pk]),
        "pay": reverse("portal:subscription_pay", args=[account.open_invoice.pk]),
        "wallet": reverse("portal:wallet"),
        "notifications": reverse("portal:notifications"),
        "hosted-invoice": links.hosted_invoice_path(account.upgrade.pk),
    }
    results = {}
    for width in (640, 768, 1024, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        for name, path in paths.items():
            response = page.goto(live.url + path)
            assert response.ok, (name, path, response.status)
            assert page.locator("html").get_attribute("lang") == language
            if name == "invoices":
                screenshot(page, f"invoices-{width}-{language}")
            found = {
                "scroll_width": page.evaluate("document.documentElement.scrollWidth"),
                "off_screen": page.evaluate(OFF_SCREEN),
            }
            if found["scroll_width"] > width or found["off_screen"]:
                results[f"{name} at {width} px"] = found
    assert not results, "Too wide:\n" + "\n".join(
        f"{name}: {found['scroll_width']} px; " + " | ".join(found["off_screen"])
        for name, found in results.items()
    )
