"""The billing admin's lists at laptop width (1280x800), in English and in Indonesian:
no invoice number, order id or amount wraps onto a second line, and no list is wider
than the screen (no sideways scroll, no column hidden in the list's scroller).

Realistic data: several customers with long email addresses, two years of renewals
with shop-style numbers ("MAJU-INV-2026-1048577"), gateway order ids made from them,
an upgrade refunded in part, an overpayment, wallets with top-ups and payments
(``portal.tests.test_phone_width_browser.account`` and ``history``).

Screenshots (``var/screenshots/``, the README's): admin-invoices, admin-payments,
admin-wallets, ... (English) and the same with ``-id``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from conftest import screenshot
from portal.languages import remember
from portal.tests.test_phone_width_browser import account, history, live  # noqa: F401
from portal.tests.test_subscription_browser import catalogue  # noqa: F401 (fixture)
from subscriptions.models import Payment
from subscriptions.services import subscription_create_renewal_invoice
from subscriptions.tests.factories import UserFactory, WebhookLogFactory
from wallets.services import topup_complete, topup_create
from wallets.tests.factories import funded_wallet

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAPTOP = {"width": 1280, "height": 800}
CUSTOMERS = (
    "purchasing.department@pt-sinar-mandiri-sejahtera.co.id",
    "finance-team+billing@koperasi-karya-nusantara.or.id",
    "yohanes.kristianto.wibisono@example.com",
)
LISTS = {
    "admin-invoices": "admin:subscriptions_invoice_changelist",
    "admin-overdue-invoices": "admin:subscriptions_overdueinvoice_changelist",
    "admin-payments": "admin:subscriptions_payment_changelist",
    "admin-refunds": "admin:subscriptions_refund_changelist",
    "admin-overpaid-payments": "admin:subscriptions_overpaidpayment_changelist",
    "admin-wallets": "admin:wallets_wallet_changelist",
    "admin-wallet-transactions": "admin:wallets_wallettransaction_changelist",
    "admin-topups": "admin:wallets_topup_changelist",
}
# The lists above show numbers and amounts on every row; these may show none.
MONEY_LISTS = set(LISTS)
LISTS |= {
    "admin-subscriptions": "admin:subscriptions_subscription_changelist",
    "admin-plans": "admin:subscriptions_plan_changelist",
    "admin-webhook-logs": "admin:subscriptions_webhooklog_changelist",
    "admin-notifications": "admin:portal_notification_changelist",
    "admin-sent-emails": "admin:portal_sentemail_changelist",
}

# Every invoice number, order id and amount in the list's cells, and how many lines each
# takes (the distinct tops of the line boxes of its text); the list's width.
MEASURE = r"""
() => {
  const wanted = /(?:[A-Z]+-)+\d{4}-\d{4,}(?:-[0-9a-f]+)?|TOPUP-[0-9A-Za-z-]+|-?Rp\s?-?[\d.,]+|IDR\s?-?[\d.,]+/g;
  const lines = (node, start, end) => {
    const range = document.createRange();
    range.setStart(node, start);
    range.setEnd(node, end);
    const tops = new Set([...range.getClientRects()].filter((r) => r.width > 0)
                                                     .map((r) => Math.round(r.top)));
    return tops.size;
  };
  const wrapped = [];
  let checked = 0;
  const table = document.querySelector("#result_list");
  if (table === null) return {missing: true};
  for (const cell of table.querySelectorAll("tbody td, tbody th")) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const match of node.data.matchAll(wanted)) {
        checked += 1;
        const count = lines(node, match.index, match.index + match[0].length);
        if (count > 1) wrapped.push(`${match[0]} (${count} lines, ${cell.className})`);
      }
    }
  }
  const results = table.closest(".results") || table.parentElement;
  return {
    checked,
    wrapped: [...new Set(wrapped)].slice(0, 8),
    table_right: Math.round(table.getBoundingClientRect().right),
    hidden_in_scroller: results.scrollWidth - results.clientWidth,
    page_width: document.documentElement.scrollWidth,
    rows: table.querySelectorAll("tbody tr").length,
  };
}
"""


@pytest.fixture
def customers(account, catalogue):  # noqa: F811 (fixtures)
    """Three more customers with long addresses: renewals, wallets and top-ups."""
    made = []
    for index, email in enumerate(CUSTOMERS):
        user = UserFactory(email=email)
        funded_wallet(user, 1_500_000 * (index + 1))
        topup_complete(topup=topup_create(user=user, amount=Decimal("2500000")))
        plan = catalogue[("business-monthly", "pro-monthly", "starter-yearly")[index]]
        subscription = history(user, plan, months=(6, 4, 0)[index])
        if index == 1:  # its renewal invoice, issued ten days ago, is past its due date
            subscription_create_renewal_invoice(
                subscription=subscription, now=timezone.now() - dt.timedelta(days=10)
            )
        for payment in Payment.objects.filter(user=user).exclude(invoice=None)[:3]:
            WebhookLogFactory(
                payment=payment,
                order_id=payment.order_id,
                remote_addr="103.208.23.102",
                body=f'{{"order_id": "{payment.order_id}", "transaction_status": "settlement"}}',
            )
        made.append(user)
    return made


@pytest.mark.parametrize("language", ["en", "id"])
def test_the_billing_lists_fit_a_laptop_and_numbers_never_wrap(
    live,  # noqa: F811 (the fixture imported above)
    page_for,
    staff,
    account,  # noqa: F811 (the fixture imported above)
    customers,
    language,
):
    remember(staff, language)
    page = page_for(staff, **LAPTOP)
    suffix = "" if language == "en" else f"-{language}"
    problems = {}
    for name, url_name in LISTS.items():
        response = page.goto(live.url + reverse(url_name))
        assert response.ok, (name, response.status)
        assert page.locator("html").get_attribute("lang") == language
        screenshot(page, name + suffix)
        found = page.evaluate(MEASURE)
        assert not found.get("missing"), f"{name}: no result list"
        assert found["rows"] > 0, (name, found)
        if name in MONEY_LISTS:
            assert found["checked"] > 0, (name, found)
        too_wide = (
            found["page_width"] > LAPTOP["width"]
            or found["table_right"] > LAPTOP["width"]
            or found["hidden_in_scroller"] > 1  # a sub-pixel rounding is not a column
        )
        if found["wrapped"] or too_wide:
            problems[name] = found
    assert not problems, "At 1280 px:\n" + "\n".join(
        f"{name}: page {found['page_width']} px, list ends at {found['table_right']} px, "
        f"{found['hidden_in_scroller']} px hidden in its scroller; wrapped: {found['wrapped']}"
        for name, found in problems.items()
    )
