"""Every form field and query parameter, fed hostile values.

Each target below is one input of the site (a form field, a query parameter, a part of
a path that is read as a value); each is sent a family of values: empty, oversized,
negative, non-numeric, other scripts' digits, NUL bytes, SQL, HTML/JS and path
traversal. For every one of them:

- the answer is never a 5xx;
- a GET writes nothing, and neither does a POST that is not accepted (its form shown
  again with the error, or a 4xx): not one INSERT, UPDATE or DELETE reaches the
  database (the session and the cache aside);
- what was typed is never echoed unescaped, on the answer or the page it leads to;
- a redirect never leaves the site.

Each value runs inside a savepoint that is rolled back, so every value meets the same
starting state, and the whole file takes seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from .test_access_table import World, client_for

# --- Values --------------------------------------------------------------------------------

COMMON = {
    "empty": "",
    "oversized": "x" * 20_000,
    "unicode": "Zürich ✓ 💸 \u202etxt.exe",
    "nul": "\x00",
    "nul inside": "150000\x00",
    "sql": "' OR '1'='1' --",
    "html": "<script>alert(1)</script>",
    "attribute": '"><img src=x onerror=alert(1)>',
    "path traversal": "../../../../etc/passwd",
}
NUMBERS = {
    "zero": "0",
    "negative": "-150000",
    "huge": "9" * 40,
    "14 digits": "99999999999999",
    "big exponent": "1e999999",
    "nan": "NaN",
    "fraction": "150000.5",
    "non-numeric": "abc",
    "arabic-indic digits": "١٥٠٠٠٠",
    "superscript": "²",
    "4301 digits": "1" * 4301,  # past Python's int() digit limit
}
DATES = {
    "far future": "9999-12-31",
    "year one": "0001-01-01",
    "impossible": "2026-02-30",
    "five-digit year": "10000-01-01",
    "negative": "-1",
}
URLS = {
    "javascript url": "javascript:alert(1)",
    "other site": "https://evil.example/",
    "protocol-relative": "//evil.example/",
    "backslashes": "/\\evil.example/",
}

NUMERIC = COMMON | NUMBERS
TEXT = COMMON | URLS
DATE = COMMON | DATES
EVERYTHING = COMMON | NUMBERS | DATES | URLS


# --- Targets -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    role: str
    method: str
    # (world, value) -> (path, data): the value placed in the form, query or path.
    build: Callable[[World, str], tuple[str, dict]]
    values: dict[str, str]

    def __str__(self) -> str:
        return self.name


def query(name: str, *params: str) -> Callable[[World, str], tuple[str, dict]]:
    return lambda world, value: (reverse(name), dict.fromkeys(params, value))


def form(name: str, field: str, fixed: dict | None = None, **args: Callable[[World], object]):
    def build(world: World, value: str) -> tuple[str, dict]:
        kwargs = {key: get(world) for key, get in args.items()}
        return reverse(name, kwargs=kwargs), {**(fixed or {}), field: value}

    return build


def in_path(template: str, fixed: Callable[[World], dict] = lambda w: {}):
    """The value as one path segment (percent-encoded, as a browser sends it)."""

    def build(world: World, value: str) -> tuple[str, dict]:
        return template.format(value=quote(value, safe=""), **fixed(world)), {}

    return build


def admin_action(changelist: str, action: str, selected: str, **fields: str):
    """An admin action's reason page, submitted with ``value`` in each of ``fields``
    (the other fields get their ``fields`` value, "{value}" marking the fuzzed one)."""

    def build(world: World, value: str) -> tuple[str, dict]:
        data = {
            "action": action,
            "_selected_action": [getattr(world, selected).pk],
            "apply": "1",
            **{
                key: value if template == "{value}" else template
                for key, template in fields.items()
            },
        }
        return reverse(changelist), data

    return build


def subscription(world: World) -> int:
    return world.subscription.pk


def other_plan(world: World) -> str:
    return world.other_plan.slug


def hosted(world: World) -> dict:
    return {"token": world.hosted_token}


OWNER, STAFF, ANONYMOUS = "owner", "staff", "anonymous"
GET, POST = "GET", "POST"

TARGETS = [
    # Wallet
    Target("top-up amount", OWNER, POST, form("portal:wallet_topup", "custom_amount"), NUMERIC),
    Target("top-up preset", OWNER, POST, form("portal:wallet_topup", "preset"), NUMERIC),
    Target("wallet ?amount= and ?page=", OWNER, GET, query("portal:wallet", "amount", "page"), NUMERIC),
    Target("auto-pay switch", OWNER, POST, form("portal:wallet_autopay", "enabled"), COMMON),
    Target("top-up page ?t=", OWNER, GET, lambda w, v: (reverse("portal:topup_finish", args=[w.topup.order_id]), {"t": v}), NUMERIC),
    Target("top-up order id in the path", OWNER, GET, in_path("/billing/wallet/top-ups/{value}/"), EVERYTHING),
    # Subscription
    Target("pause: resume date", OWNER, POST, form("portal:subscription_pause", "resume_on", pk=subscription), DATE),
    Target("cancel: when", OWNER, POST, form("portal:subscription_cancel", "when", pk=subscription), TEXT),
    Target("cancel: reason", OWNER, POST, form("portal:subscription_cancel", "reason", {"when": "period_end"}, pk=subscription), TEXT),
    Target("cancel: details", OWNER, POST, form("portal:subscription_cancel", "details", {"when": "period_end"}, pk=subscription), TEXT),
    Target("plan change: quote token", OWNER, POST, form("portal:plan_change", "quote_token", slug=other_plan), TEXT),
    Target("plans ?interval=", OWNER, GET, query("portal:plans", "interval"), TEXT),
    Target("plan slug in the path", OWNER, GET, in_path("/billing/plans/{value}/change/"), TEXT),
    # Invoices, checkout, notifications
    Target("invoices ?status= and ?page=", OWNER, GET, query("portal:invoices", "status", "page"), EVERYTHING),
    Target("invoice id in the path", OWNER, GET, in_path("/billing/invoices/{value}/"), NUMERIC),
    Target("checkout page ?t=", OWNER, GET, lambda w, v: (reverse("checkout:finish", args=[w.payment.order_id]), {"t": v}), NUMERIC),
    Target("checkout order id in the path", OWNER, GET, in_path("/billing/checkout/{value}/finish/"), EVERYTHING),
    Target("notifications ?page=", OWNER, GET, query("portal:notifications", "page"), NUMERIC),
    Target("dismiss: where to go back", OWNER, POST, lambda w, v: (reverse("portal:notification_dismiss", args=[w.notification.pk]), {"next": v}), TEXT),
    Target("dismiss all: where to go back", OWNER, POST, form("portal:notifications_dismiss_all", "next"), TEXT),
    Target("email preview kind", STAFF, GET, in_path("/billing/emails/{value}/"), TEXT),
    # The hosted invoice page (no session needed) and the sandbox's payment page (its owner's)
    Target("hosted link token", ANONYMOUS, GET, in_path("/i/{value}/"), TEXT),
    Target("hosted link token, paying", ANONYMOUS, POST, in_path("/i/{value}/pay/"), TEXT),
    Target("hosted page ?order= and ?t=", ANONYMOUS, GET, lambda w, v: (reverse("hosted:invoice", args=[w.hosted_token]), {"order": v, "t": v}), EVERYTHING),
    Target("sandbox page token", OWNER, GET, in_path("/sandbox/pay/{value}/"), TEXT),
    Target("sandbox page ?finish=", OWNER, GET, lambda w, v: (reverse("subscriptions:sandbox_pay", args=[w.payment.snap_token]), {"finish": v}), TEXT),
    Target("sandbox outcome", OWNER, POST, lambda w, v: (reverse("subscriptions:sandbox_pay", args=[w.payment.snap_token]), {"outcome": v, "payment_type": v}), TEXT),
    # Accounts
    Target("sign-in ?next=", ANONYMOUS, GET, query("account_login", "next"), TEXT),
    Target("sign-in email", ANONYMOUS, POST, form("account_login", "login", {"password": "x"}), TEXT),
    Target("sign-up email", ANONYMOUS, POST, form("account_signup", "email", {"password1": "correct horse battery", "password2": "correct horse battery"}), TEXT),
    # Admin: action reasons and amounts, search and filters
    Target("admin: cancel reason", STAFF, POST, admin_action("admin:subscriptions_subscription_changelist", "cancel_now", "subscription", reason="{value}"), TEXT),
    Target("admin: void reason", STAFF, POST, admin_action("admin:subscriptions_invoice_changelist", "void_invoices", "invoice", reason="{value}"), TEXT),
    Target("admin: paid offline reference", STAFF, POST, admin_action("admin:subscriptions_invoice_changelist", "mark_paid_offline", "invoice", reference="{value}", reason="bank transfer"), TEXT),
    Target("admin: invoice refund amount", STAFF, POST, admin_action("admin:subscriptions_invoice_changelist", "refund_through_gateway", "invoice", amount="{value}", reason="duplicate"), NUMERIC),
    Target("admin: refund to wallet amount", STAFF, POST, admin_action("admin:subscriptions_invoice_changelist", "refund_to_wallet", "invoice", amount="{value}", reason="duplicate"), NUMERIC),
    Target("admin: payment refund amount", STAFF, POST, admin_action("admin:subscriptions_payment_changelist", "refund", "payment", amount="{value}", reason="duplicate"), NUMERIC),
    Target("admin: wallet adjustment amount", STAFF, POST, admin_action("admin:wallets_wallet_changelist", "adjust_balance", "wallet", amount="{value}", reason="goodwill"), NUMERIC),
    Target("admin: wallet adjustment reason", STAFF, POST, admin_action("admin:wallets_wallet_changelist", "adjust_balance", "wallet", amount="5000", reason="{value}"), TEXT),
    Target("admin: invoice search and filters", STAFF, GET, query("admin:subscriptions_invoice_changelist", "q", "status", "overdue"), TEXT),
    Target("admin: payment search and filters", STAFF, GET, query("admin:subscriptions_payment_changelist", "q", "status", "gateway"), TEXT),
    Target("admin: webhook log filters", STAFF, GET, query("admin:subscriptions_webhooklog_changelist", "q", "order_id", "status"), TEXT),
    Target("admin: object id in the path", STAFF, GET, in_path("/admin/subscriptions/invoice/{value}/change/"), NUMERIC),
]  # fmt: skip

# Writes that are not billing state: the session (messages) and the database cache.
HOUSEKEEPING = ("django_session", "django_cache")


def writes(queries: CaptureQueriesContext) -> list[str]:
    found = []
    for query in queries.captured_queries:
        sql = query["sql"].lstrip().upper()
        if sql.startswith(("INSERT", "UPDATE", "DELETE")) and not any(
            table.upper() in sql for table in HOUSEKEEPING
        ):
            found.append(query["sql"][:120])
    return found


# Values that must never come back unescaped.
MARKUP = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>")


def follow(client: Client, response) -> str:
    """The page a redirect leads to, when it stays on the site (messages show there)."""
    location = response["Location"]
    parts = urlsplit(location)
    if parts.netloc not in ("", "testserver"):
        return ""
    return client.get(location).content.decode(errors="replace")


def send(client: Client, target: Target, path: str, data: dict):
    if target.method == GET:
        return client.get(path, data)
    return client.post(path, data)


@pytest.mark.django_db
@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_hostile_values_get_a_field_error_or_a_clean_4xx_and_change_nothing(target, world):
    client = client_for(target.role, world)
    client.raise_request_exception = False
    for obj in ("invoice", "payment", "topup", "notification", "wallet", "hosted_token"):
        getattr(world, obj)  # every object a target names exists before the first snapshot

    problems = []
    for label, value in target.values.items():
        path, data = target.build(world, value)
        with transaction.atomic(), CaptureQueriesContext(connection) as queries:
            response = send(client, target, path, data)
            status = response.status_code
            accepted = target.method == POST and status in (301, 302, 303)
            if status >= 500:
                problems.append(f"{label!r}: {status}")
            elif not accepted and (written := writes(queries)):
                problems.append(f"{label!r}: answered {status} but wrote {written}")
            page = response.content.decode(errors="replace")
            if status in (301, 302, 303):
                location = response["Location"]
                host = urlsplit(location).netloc
                if host not in ("", "testserver") and not location.startswith("http://testserver/"):
                    problems.append(f"{label!r}: redirects off the site to {location}")
                if "<" in value:
                    page += follow(client, response)
            if any(markup in page for markup in MARKUP if markup in value):
                problems.append(f"{label!r}: echoed unescaped")
            transaction.set_rollback(True)

    assert not problems, f"{target.method} {target.name}:\n  " + "\n  ".join(problems)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/billing/checkout/%00/finish/",
        "/billing/wallet/top-ups/%00/",
        "/sandbox/pay/%00/",
        "/billing/invoices/?status=%00",
        "/admin/subscriptions/payment/?status=%00",
        "/admin/subscriptions/webhooklog/?order_id=x%00y",
    ],
)
def test_a_nul_byte_in_the_address_is_a_400_before_any_database_lookup(path, world):
    """On PostgreSQL these were 500s: psycopg refuses a text parameter holding NUL."""
    client = client_for("staff", world)
    client.raise_request_exception = False
    assert client.get(path).status_code == 400


@pytest.mark.django_db
def test_the_hosted_page_with_a_nul_in_its_query_is_a_400(world):
    client = Client(raise_request_exception=False)
    url = reverse("hosted:invoice", args=[world.hosted_token])
    query = urlencode({"order": "x\x00", "t": "1"})
    assert client.get(f"{url}?{query}").status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("back", ["' OR '1'='1' --", "150000\x00", "dashboard", "portal:wallet"])
def test_dismissing_with_a_next_that_is_no_url_goes_to_the_notifications(world, back):
    """``redirect(next)`` took a word without a slash for a URL name and tried to reverse
    it: a NoReverseMatch, so a 500. A ``next`` is a URL or nothing."""
    client = client_for("owner", world)
    url = reverse("portal:notification_dismiss", args=[world.notification.pk])

    response = client.post(url, {"next": back})

    assert response.status_code == 302
    world.notification.refresh_from_db()
    assert world.notification.dismissed_at is not None


def adjust(client: Client, world: World, amount: str):
    return client.post(
        reverse("admin:wallets_wallet_changelist"),
        {
            "action": "adjust_balance",
            "_selected_action": [world.wallet.pk],
            "apply": "1",
            "amount": amount,
            "reason": "goodwill",
        },
    )


@pytest.mark.django_db
def test_a_wallet_adjustment_longer_than_the_ledger_holds_is_a_field_error(world):
    """14 digits passed the form and overflowed the 12-digit column: a 500 on PostgreSQL."""
    client = client_for("staff", world)
    balance = world.wallet.balance

    response = adjust(client, world, "99999999999999")

    assert response.status_code == 200
    assert "Ensure that there are no more than 12 digits" in response.content.decode()
    world.wallet.refresh_from_db()
    assert world.wallet.balance == balance
    assert world.wallet.transactions.count() == 1


@pytest.mark.django_db
def test_a_credit_past_the_largest_balance_is_refused_with_a_message(world):
    client = client_for("staff", world)
    client.raise_request_exception = False

    response = adjust(client, world, "999999999999")  # fits the form; the balance does not

    assert response.status_code == 302
    world.wallet.refresh_from_db()
    assert world.wallet.balance == 10_000
