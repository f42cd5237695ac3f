"""Who may open what: every URL of the site, as anonymous, owner, another user and staff.

``ACCESS`` has a row per URL pattern and method with the exact answer each role gets.
The URL's objects (subscription, invoice, payment, top-up, notification...) belong to
the owner, alice; "other" is bob, signed in; "staff" is a superuser, who in the portal is
just another customer (someone else's invoice is a 404 for staff too: staff work in the
admin). Two more staff roles are the groups shipped for the billing admin: "support"
("Billing support": sees the billing records, acts on none) and "operator" ("Billing
operator": also runs the actions). Outside the admin's model pages and actions they
get what staff get, so their columns are written only where they differ.
The patterns are read from the resolver, so a URL added without a row here fails
``test_every_url_pattern_has_a_row_for_each_method``. Every admin action has a row too
(``ADMIN_ACTIONS``), and must declare the permission it needs: both are checked by
``test_every_admin_action_has_a_row_and_declares_its_permission``.

Reading a row: ``LOGIN`` is a redirect to the sign-in page that comes back (``next``),
``ADMIN_LOGIN`` the same for the admin, ``Redirect("/x")`` a redirect to a path starting
with ``/x``; a number is the exact status code; ``RAN`` and ``REFUSED`` say whether an
admin action's POST ran it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from operator import attrgetter
from typing import Any
from urllib.parse import unquote

import pytest
import time_machine
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

GET, POST = "GET", "POST"


# --- What a role may get -------------------------------------------------------------------


@dataclass(frozen=True)
class Redirect:
    """A redirect whose ``Location`` path starts with ``to`` (``{next}``: the request path)."""

    to: str

    def matches(self, response, path: str) -> bool:
        if response.status_code not in (301, 302, 303, 307, 308):
            return False
        # Django quotes ``next`` sparingly, allauth fully: compare them unquoted.
        location = unquote(response["Location"].removeprefix("http://testserver"))
        return location.startswith(self.to.format(next=path))

    def __str__(self) -> str:
        return f"redirect to {self.to}"


LOGIN = Redirect("/accounts/login/?next={next}")
# The PDF signs in back to the invoice's page, with the PDF offered (?download=pdf).
PDF_LOGIN = Redirect("/accounts/login/?next=/billing/invoices/")
ADMIN_LOGIN = Redirect("/admin/login/?next={next}")
DASHBOARD = Redirect("/billing/")
GATEWAY = Redirect("/sandbox/pay/")  # the sandbox's stand-in for Snap's payment page
NOTIFICATIONS = Redirect("/billing/notifications/")
REAUTH = Redirect("/accounts/reauthenticate/")  # allauth: "confirm your password first"

ACTION_FORM = "admin/subscriptions/action_reason.html"  # an action asking for its details


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@dataclass(frozen=True)
class Action:
    """The answer to an admin action's POST to a changelist: ``ran`` if the action ran (its
    form asking for details, or its result and messages), else refused. Django refuses an
    action the user may not run with "No action selected." (or, when the user may run no
    action on that list, shows the list again)."""

    ran: bool

    def matches(self, response, path: str) -> bool:
        if response.status_code == 200:
            ran = any(template.name == ACTION_FORM for template in response.templates)
        elif response.status_code == 302:
            ran = "No action selected." not in messages_of(response)
        else:
            return False
        return ran == self.ran

    def __str__(self) -> str:
        return "the action ran" if self.ran else "the action refused"


RAN, REFUSED = Action(ran=True), Action(ran=False)

Expected = int | Redirect | Action


def matches(expected: Expected, response, path: str) -> bool:
    if isinstance(expected, (Redirect, Action)):
        return expected.matches(response, path)
    return response.status_code == expected


def describe(response) -> str:
    if response.status_code in (301, 302, 303, 307, 308):
        said = "; ".join(messages_of(response))
        return f"{response.status_code} to {response['Location']}" + (f" ({said})" if said else "")
    return str(response.status_code)


# --- The owner's objects, made when a row first needs them ----------------------------------


class World:
    """alice's plan, subscription, invoice, payment... each created on first use."""

    def __init__(self, alice, bob, staff):
        self.alice, self.bob, self.staff = alice, bob, staff

    @cached_property
    def support(self):
        return billing_staff("support@example.com", "Billing support")

    @cached_property
    def operator(self):
        return billing_staff("operator@example.com", "Billing operator")

    @cached_property
    def plan(self):
        from subscriptions.tests.factories import PlanFactory

        return PlanFactory(name="Pro", slug="pro", price=Decimal("150000"))

    @cached_property
    def other_plan(self):
        from subscriptions.tests.factories import PlanFactory

        return PlanFactory(name="Max", slug="max", price=Decimal("300000"))

    @cached_property
    def subscription(self):
        from subscriptions.tests.factories import SubscriptionFactory

        return SubscriptionFactory(user=self.alice, plan=self.plan)

    @cached_property
    def invoice(self):
        """Open and past its due date (so it is in the admin's overdue queue too)."""
        from subscriptions.tests.factories import InvoiceFactory

        now = timezone.now()
        return InvoiceFactory(
            user=self.alice,
            subscription=self.subscription,
            plan=self.plan,
            issued_at=now - dt.timedelta(days=9),
            due_date=now - dt.timedelta(days=2),
        )

    @cached_property
    def payment(self):
        """A pending sandbox payment for the invoice, with its payment-page token."""
        from subscriptions.tests.factories import PaymentFactory

        return PaymentFactory(
            user=self.alice,
            invoice=self.invoice,
            subscription=self.subscription,
            gateway="sandbox",
            snap_token=f"snap-{uuid.uuid4().hex}",
        )

    @cached_property
    def overpaid_payment(self):
        """A settled payment that arrived for the invoice after it was paid, returned."""
        from subscriptions.tests.factories import PaymentFactory

        return PaymentFactory(
            user=self.alice,
            invoice=self.invoice,
            subscription=self.subscription,
            gateway="sandbox",
            status="refund",
            overpaid_amount=Decimal("150000"),
        )

    @cached_property
    def refund(self):
        from subscriptions.models import Refund

        return Refund.objects.create(
            payment=self.overpaid_payment,
            amount=Decimal("150000"),
            destination="wallet",
            kind="overpayment",
            status="succeeded",
            refund_key=f"k-{uuid.uuid4().hex}",
        )

    @cached_property
    def wallet(self):
        from wallets.tests.factories import funded_wallet

        return funded_wallet(self.alice, 10_000)

    @cached_property
    def wallet_transaction(self):
        return self.wallet.transactions.get()

    @cached_property
    def topup(self):
        from wallets.models import TopUp

        return TopUp.objects.create(
            wallet=self.wallet,
            user=self.alice,
            amount=Decimal("100000"),
            order_id=f"TOPUP-{uuid.uuid4().hex[:12]}",
        )

    @cached_property
    def notification(self):
        from portal.models import Notification

        return Notification.objects.create(
            user=self.alice, kind="payment_failed", title="Your payment failed", key="access"
        )

    @cached_property
    def sent_email(self):
        from portal.models import SentEmail

        return SentEmail.objects.create(
            user=self.alice, kind="invoice_issued", idempotency_key="access", to_email="a@x.io"
        )

    @cached_property
    def webhook_log(self):
        from subscriptions.tests.factories import WebhookLogFactory

        return WebhookLogFactory(payment=self.payment, order_id=self.payment.order_id)

    @cached_property
    def group(self):
        from django.contrib.auth.models import Group

        return Group.objects.create(name="Billing reviewers")

    @cached_property
    def email_address(self):
        from allauth.account.models import EmailAddress

        return EmailAddress.objects.create(
            user=self.alice, email=self.alice.email, verified=True, primary=True
        )

    @cached_property
    def authenticator(self):
        from allauth.mfa.models import Authenticator

        return Authenticator.objects.create(
            user=self.alice,
            type=Authenticator.Type.RECOVERY_CODES,
            data={"seed": "0" * 40, "used_mask": 0},
        )

    @cached_property
    def task_result(self):
        from django_tasks_db.models import DBTaskResult

        return DBTaskResult.objects.create(
            args_kwargs={"args": [1], "kwargs": {}},
            task_path="portal.tasks.send_email",
            backend_name="default",
            run_after=timezone.now(),
            exception_class_path="",
            traceback="",
        )

    @cached_property
    def user_content_type(self) -> int:
        from django.contrib.contenttypes.models import ContentType

        return ContentType.objects.get_for_model(self.alice).pk

    @cached_property
    def hosted_token(self) -> str:
        from portal import links

        return links.hosted_invoice_token(self.invoice.pk)

    @cached_property
    def expired_hosted_token(self) -> str:
        from portal import links

        with time_machine.travel(timezone.now() - dt.timedelta(days=400), tick=False):
            return links.hosted_invoice_token(self.invoice.pk)


def billing_staff(email: str, group: str):
    """A staff user (not a superuser) in one of the groups the portal's migration ships."""
    from django.contrib.auth.models import Group

    from subscriptions.tests.factories import UserFactory

    user = UserFactory(email=email, is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


# URL arguments, read from the owner's objects.
SUBSCRIPTION = attrgetter("subscription.pk")
INVOICE = attrgetter("invoice.pk")
PAYMENT_ORDER = attrgetter("payment.order_id")
SNAP_TOKEN = attrgetter("payment.snap_token")
TOPUP_ORDER = attrgetter("topup.order_id")
NOTIFICATION = attrgetter("notification.pk")
OTHER_PLAN = attrgetter("other_plan.slug")
PLAN = attrgetter("plan.slug")
HOSTED = attrgetter("hosted_token")
EXPIRED_HOSTED = attrgetter("expired_hosted_token")


def constant(value: Any) -> Callable[[World], Any]:
    return lambda world: value


# --- The table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    url: str  # the URL name, or the route of a pattern that has none
    method: str
    anonymous: Expected
    owner: Expected
    other: Expected
    staff: Expected
    args: dict[str, Callable[[World], Any]] = field(default_factory=dict)
    variant: str = ""
    data: Any = None  # a dict, a JSON string, or a function of the World giving a dict
    content_type: str | None = None
    path: str = ""  # for patterns without a name: the path to request
    support: Expected | None = None  # None: what staff get
    operator: Expected | None = None

    def __str__(self) -> str:
        return " ".join(part for part in (self.method, self.url, self.variant) if part)

    def build_path(self, world: World) -> str:
        if self.path:
            return self.path.format(**{key: get(world) for key, get in self.args.items()})
        return reverse(self.url, kwargs={key: get(world) for key, get in self.args.items()})

    def build_data(self, world: World) -> Any:
        return self.data(world) if callable(self.data) else self.data

    def expected(self, role: str) -> Expected:
        expected = getattr(self, role)
        return self.staff if expected is None else expected


def R(url, method, anonymous, owner, other, staff, *, variant="", data=None, **args) -> Row:
    content_type = None
    if isinstance(data, str):
        content_type = "application/json"
    return Row(url, method, anonymous, owner, other, staff, args, variant, data, content_type)


# fmt: off
ACCESS: list[Row] = [
    # Site
    #  url                                   method anonymous  owner  other  staff
    R("healthz",                             GET,   200,       200,   200,   200),
    R("healthz",                             POST,  200,       200,   200,   200),
    R("readyz",                              GET,   200,       200,   200,   200),
    R("readyz",                              POST,  200,       200,   200,   200),
    R("favicon",                             GET,   200,       200,   200,   200),
    R("favicon",                             POST,  405,       405,   405,   405),
    # The language switch: anyone, POST only (with CSRF), back to the page it was on.
    R("set_language",                        GET,   405,       405,   405,   405),
    R("set_language",                        POST,  DASHBOARD, DASHBOARD, DASHBOARD, DASHBOARD, data={"language": "id", "next": "/billing/"}),
    # Customer portal: sign in first (and come back); one's own pages; a GET page refuses
    # POST; an action refuses GET; another customer's object does not exist (404).
    R("portal:home",                         GET,   DASHBOARD, DASHBOARD, DASHBOARD, DASHBOARD),
    R("portal:home",                         POST,  DASHBOARD, DASHBOARD, DASHBOARD, DASHBOARD),
    R("portal:dashboard",                    GET,   LOGIN,     200,   200,   200),
    R("portal:dashboard",                    POST,  LOGIN,     405,   405,   405),
    R("portal:plans",                        GET,   LOGIN,     200,   200,   200),
    R("portal:plans",                        POST,  LOGIN,     405,   405,   405),
    # Changing plan needs a live subscription: the others have none and are sent to plans.
    R("portal:plan_change",                  GET,   LOGIN,     200,   Redirect("/billing/plans/"), Redirect("/billing/plans/"), slug=OTHER_PLAN),
    R("portal:plan_change",                  POST,  LOGIN,     200,   Redirect("/billing/plans/"), Redirect("/billing/plans/"), slug=OTHER_PLAN),
    R("portal:plan_change",                  GET,   LOGIN,     404,   404,   404, slug=constant("no-such-plan"), variant="unknown plan"),
    R("portal:subscribe",                    GET,   LOGIN,     405,   405,   405, slug=PLAN),
    # The owner is already subscribed (refused, back to the plans); the others start one.
    R("portal:subscribe",                    POST,  LOGIN,     Redirect("/billing/plans/"), Redirect("/billing/subscription/pay/"), Redirect("/billing/subscription/pay/"), slug=PLAN),
    R("portal:subscription_pay",             GET,   LOGIN,     200,   404,   404, pk=INVOICE),
    R("portal:subscription_pay",             POST,  LOGIN,     405,   405,   405, pk=INVOICE),
    R("portal:subscription_pause",           GET,   LOGIN,     405,   405,   405, pk=SUBSCRIPTION),
    R("portal:subscription_pause",           POST,  LOGIN,     DASHBOARD, 404, 404, pk=SUBSCRIPTION),
    R("portal:subscription_pause_confirm",   GET,   LOGIN,     200,   404,   404, pk=SUBSCRIPTION),
    R("portal:subscription_pause_confirm",   POST,  LOGIN,     405,   405,   405, pk=SUBSCRIPTION),
    R("portal:subscription_resume",          GET,   LOGIN,     405,   405,   405, pk=SUBSCRIPTION),
    R("portal:subscription_resume",          POST,  LOGIN,     DASHBOARD, 404, 404, pk=SUBSCRIPTION),
    R("portal:subscription_resume_confirm",  GET,   LOGIN,     200,   404,   404, pk=SUBSCRIPTION),
    R("portal:subscription_resume_confirm",  POST,  LOGIN,     405,   405,   405, pk=SUBSCRIPTION),
    R("portal:subscription_cancel",          GET,   LOGIN,     405,   405,   405, pk=SUBSCRIPTION),
    # An empty form ("when" is required) is shown again with its error.
    R("portal:subscription_cancel",          POST,  LOGIN,     200,   404,   404, pk=SUBSCRIPTION),
    R("portal:subscription_cancel",          POST,  LOGIN,     DASHBOARD, 404, 404, pk=SUBSCRIPTION, data={"when": "period_end"}, variant="filled in"),
    R("portal:subscription_cancel_confirm",  GET,   LOGIN,     200,   404,   404, pk=SUBSCRIPTION),
    R("portal:subscription_cancel_confirm",  POST,  LOGIN,     405,   405,   405, pk=SUBSCRIPTION),
    R("portal:subscription_undo_cancel",     GET,   LOGIN,     405,   405,   405, pk=SUBSCRIPTION),
    R("portal:subscription_undo_cancel",     POST,  LOGIN,     DASHBOARD, 404, 404, pk=SUBSCRIPTION),
    R("portal:subscription_undo_plan_change", GET,  LOGIN,     405,   405,   405, pk=SUBSCRIPTION),
    R("portal:subscription_undo_plan_change", POST, LOGIN,     DASHBOARD, 404, 404, pk=SUBSCRIPTION),
    R("portal:wallet",                       GET,   LOGIN,     200,   200,   200),
    R("portal:wallet",                       POST,  LOGIN,     405,   405,   405),
    R("portal:wallet_topup",                 GET,   LOGIN,     405,   405,   405),
    # An empty form: the page again, with "choose an amount".
    R("portal:wallet_topup",                 POST,  LOGIN,     200,   200,   200),
    R("portal:wallet_topup",                 POST,  LOGIN,     GATEWAY, GATEWAY, GATEWAY, data={"preset": "100000"}, variant="filled in"),
    R("portal:wallet_autopay",               GET,   LOGIN,     405,   405,   405),
    R("portal:wallet_autopay",               POST,  LOGIN,     Redirect("/billing/wallet/"), Redirect("/billing/wallet/"), Redirect("/billing/wallet/")),
    R("portal:topup_finish",                 GET,   LOGIN,     200,   404,   404, order_id=TOPUP_ORDER),
    R("portal:topup_finish",                 POST,  LOGIN,     405,   405,   405, order_id=TOPUP_ORDER),
    R("portal:invoices",                     GET,   LOGIN,     200,   200,   200),
    R("portal:invoices",                     POST,  LOGIN,     405,   405,   405),
    R("portal:invoice_detail",               GET,   LOGIN,     200,   404,   404, pk=INVOICE),
    R("portal:invoice_detail",               POST,  LOGIN,     405,   405,   405, pk=INVOICE),
    R("portal:invoice_pdf",                  GET,   PDF_LOGIN, 200,   404,   404, pk=INVOICE),
    R("portal:invoice_pdf",                  POST,  PDF_LOGIN, 405,   405,   405, pk=INVOICE),
    R("portal:invoice_pay_wallet",           GET,   LOGIN,     405,   405,   405, pk=INVOICE),
    # The owner's wallet cannot cover it: the invoice again with the reason (409).
    R("portal:invoice_pay_wallet",           POST,  LOGIN,     409,   404,   404, pk=INVOICE),
    R("portal:notifications",                GET,   LOGIN,     200,   200,   200),
    R("portal:notifications",                POST,  LOGIN,     405,   405,   405),
    R("portal:notification_dismiss",         GET,   LOGIN,     405,   405,   405, pk=NOTIFICATION),
    R("portal:notification_dismiss",         POST,  LOGIN,     NOTIFICATIONS, 404, 404, pk=NOTIFICATION),
    R("portal:notifications_dismiss_all",    GET,   LOGIN,     405,   405,   405),
    R("portal:notifications_dismiss_all",    POST,  LOGIN,     NOTIFICATIONS, NOTIFICATIONS, NOTIFICATIONS),
    # Email previews: staff only (and anyone while DEBUG is on; these tests run without).
    R("portal:email_previews",               GET,   LOGIN,     404,   404,   200),
    R("portal:email_previews",               POST,  405,       405,   405,   405),
    R("portal:email_preview",                GET,   LOGIN,     404,   404,   200, kind=constant("payment_receipt")),
    R("portal:email_preview",                POST,  405,       405,   405,   405, kind=constant("payment_receipt")),
    # Checkout: pay one's own invoice through the gateway, then wait for the webhook.
    R("checkout:pay",                        GET,   LOGIN,     405,   405,   405, pk=INVOICE),
    R("checkout:pay",                        POST,  LOGIN,     GATEWAY, 404, 404, pk=INVOICE),
    R("checkout:finish",                     GET,   LOGIN,     200,   404,   404, order_id=PAYMENT_ORDER),
    R("checkout:finish",                     POST,  LOGIN,     405,   405,   405, order_id=PAYMENT_ORDER),
    # The hosted invoice page: the signed link is the permission, signed in or not.
    R("hosted:invoice",                      GET,   200,       200,   200,   200, token=HOSTED),
    R("hosted:invoice",                      GET,   410,       410,   410,   410, token=EXPIRED_HOSTED, variant="expired link"),
    R("hosted:invoice",                      GET,   404,       404,   404,   404, token=constant("1:forged:signature"), variant="altered link"),
    R("hosted:invoice",                      POST,  405,       405,   405,   405, token=HOSTED),
    R("hosted:pay",                          GET,   405,       405,   405,   405, token=HOSTED),
    R("hosted:pay",                          POST,  GATEWAY,   GATEWAY, GATEWAY, GATEWAY, token=HOSTED),
    R("hosted:pay",                          POST,  410,       410,   410,   410, token=EXPIRED_HOSTED, variant="expired link"),
    R("hosted:pay",                          POST,  404,       404,   404,   404, token=constant("1:forged:signature"), variant="altered link"),
    # The sandbox's payment page: its owner's (or the browser's that started the payment
    # from the hosted link, test_sandbox_access.py); the token alone opens nothing.
    R("subscriptions:sandbox_pay",           GET,   404,       200,   404,   404, token=SNAP_TOKEN),
    R("subscriptions:sandbox_pay",           GET,   404,       404,   404,   404, token=constant("guessed"), variant="unknown token"),
    # Without an outcome chosen: refused, nothing delivered.
    R("subscriptions:sandbox_pay",           POST,  404,       400,   404,   404, token=SNAP_TOKEN),
    # The webhook: POST only, no session needed; unsigned is refused.
    R("subscriptions:midtrans_webhook",      GET,   405,       405,   405,   405),
    R("subscriptions:midtrans_webhook",      POST,  400,       400,   400,   400, data="not json", variant="not JSON"),
    R("subscriptions:midtrans_webhook",      POST,  401,       401,   401,   401, data='{"order_id": "X", "status_code": "200", "gross_amount": "1.00", "signature_key": "forged", "transaction_status": "settlement"}', variant="unsigned"),
    # Accounts (allauth): signed-in people are sent on from sign-in and sign-up; account
    # pages need a session.
    R("account_login",                       GET,   200,       DASHBOARD, DASHBOARD, DASHBOARD),
    R("account_login",                       POST,  200,       DASHBOARD, DASHBOARD, DASHBOARD),
    R("account_logout",                      GET,   Redirect("/"), 200, 200, 200),
    R("account_logout",                      POST,  Redirect("/"), Redirect("/"), Redirect("/"), Redirect("/")),
    R("account_inactive",                    GET,   200,       200,   200,   200),
    R("account_inactive",                    POST,  405,       405,   405,   405),
    R("account_signup",                      GET,   200,       DASHBOARD, DASHBOARD, DASHBOARD),
    R("account_signup",                      POST,  200,       DASHBOARD, DASHBOARD, DASHBOARD),
    R("account_reauthenticate",              GET,   LOGIN,     200,   200,   200),
    R("account_reauthenticate",              POST,  LOGIN,     200,   200,   200),
    # Codes by email are not enabled: those steps send back to the password ones.
    R("account_request_reauthentication_code", GET, LOGIN,     REAUTH, REAUTH, REAUTH),
    R("account_request_reauthentication_code", POST, LOGIN,    REAUTH, REAUTH, REAUTH),
    R("account_confirm_reauthentication_code", GET, LOGIN,     REAUTH, REAUTH, REAUTH),
    R("account_confirm_reauthentication_code", POST, LOGIN,    REAUTH, REAUTH, REAUTH),
    R("account_email",                       GET,   LOGIN,     200,   200,   200),
    R("account_email",                       POST,  LOGIN,     Redirect("/accounts/email/"), Redirect("/accounts/email/"), Redirect("/accounts/email/")),
    R("account_email_verification_sent",     GET,   200,       200,   200,   200),
    R("account_email_verification_sent",     POST,  405,       405,   405,   405),
    R("account_change_password",             GET,   LOGIN,     200,   200,   200),
    R("account_change_password",             POST,  LOGIN,     200,   200,   200),
    R("account_set_password",                GET,   LOGIN,     Redirect("/accounts/password/change/"), Redirect("/accounts/password/change/"), Redirect("/accounts/password/change/")),
    R("account_set_password",                POST,  LOGIN,     Redirect("/accounts/password/change/"), Redirect("/accounts/password/change/"), Redirect("/accounts/password/change/")),
    R("account_reset_password",              GET,   200,       200,   200,   200),
    R("account_reset_password",              POST,  200,       200,   200,   200),
    R("account_confirm_login_code",          GET,   Redirect("/accounts/login/"), DASHBOARD, DASHBOARD, DASHBOARD),
    R("account_confirm_login_code",          POST,  Redirect("/accounts/login/"), DASHBOARD, DASHBOARD, DASHBOARD),
    R("account_confirm_email",               GET,   200,       200,   200,   200, key=constant("bogus-key")),
    R("account_confirm_email",               POST,  404,       404,   404,   404, key=constant("bogus-key")),
    R("account_reset_password_from_key_done", GET,  200,       200,   200,   200),
    R("account_reset_password_from_key_done", POST, 405,       405,   405,   405),
    R("account_reset_password_from_key",     GET,   200,       200,   200,   200, uidb36=constant("1"), key=constant("bogus-key")),
    R("account_reset_password_from_key",     POST,  200,       200,   200,   200, uidb36=constant("1"), key=constant("bogus-key")),
    R("account_reset_password_done",         GET,   200,       200,   200,   200),
    R("account_reset_password_done",         POST,  405,       405,   405,   405),
    R("mfa_index",                           GET,   LOGIN,     200,   200,   200),
    R("mfa_index",                           POST,  LOGIN,     405,   405,   405),
    R("mfa_authenticate",                    GET,   Redirect("/accounts/login/"), DASHBOARD, DASHBOARD, DASHBOARD),
    R("mfa_authenticate",                    POST,  Redirect("/accounts/login/"), DASHBOARD, DASHBOARD, DASHBOARD),
    # Nobody here has a second factor yet: there is nothing to deactivate or view, and
    # sensitive steps first ask for the password again.
    R("mfa_reauthenticate",                  GET,   LOGIN,     REAUTH, REAUTH, REAUTH),
    R("mfa_reauthenticate",                  POST,  LOGIN,     REAUTH, REAUTH, REAUTH),
    R("mfa_activate_totp",                   GET,   LOGIN,     REAUTH, REAUTH, REAUTH),
    R("mfa_activate_totp",                   POST,  LOGIN,     REAUTH, REAUTH, REAUTH),
    R("mfa_deactivate_totp",                 GET,   LOGIN,     404,   404,   404),
    R("mfa_deactivate_totp",                 POST,  LOGIN,     404,   404,   404),
    R("mfa_view_recovery_codes",             GET,   LOGIN,     404,   404,   404),
    R("mfa_view_recovery_codes",             POST,  LOGIN,     405,   405,   405),
    R("mfa_generate_recovery_codes",         GET,   LOGIN,     REAUTH, REAUTH, REAUTH),
    R("mfa_generate_recovery_codes",         POST,  LOGIN,     REAUTH, REAUTH, REAUTH),
    R("mfa_download_recovery_codes",         GET,   LOGIN,     404,   404,   404),
    R("mfa_download_recovery_codes",         POST,  LOGIN,     404,   404,   404),
    # The admin's own pages: staff only; everyone else is sent to the admin's sign-in.
    R("admin:index",                         GET,   ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200),
    R("admin:login",                         GET,   200,       200,   200,   Redirect("/admin/")),
    R("admin:logout",                        GET,   Redirect("/admin/"), Redirect("/admin/"), Redirect("/admin/"), 405),
    R("admin:password_change",               GET,   ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200),
    R("admin:password_change_done",          GET,   ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200),
    # Without its query parameters the autocomplete endpoint refuses even staff.
    R("admin:autocomplete",                  GET,   ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403),
    R("admin:jsi18n",                        GET,   ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200),
    # A user has no public page of its own.
    R("admin:view_on_site",                  GET,   ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 404, content_type_id=attrgetter("user_content_type"), object_id=attrgetter("alice.pk")),
    R("admin:app_list",                      GET,   ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200, app_label=constant("subscriptions")),
]
# fmt: on

ACCESS.append(
    Row(
        "admin/(?P<url>.*)$",
        GET,
        ADMIN_LOGIN,
        ADMIN_LOGIN,
        ADMIN_LOGIN,
        404,
        path="/admin/no-such-page/",
        variant="unknown admin page",
    )
)


# Every model in the admin: the object its URLs open, whether staff may add and delete
# (viewing and the change page are always open to staff; lifecycle fields are read-only
# there, and money moves only through the actions, which call the services), and whether
# the billing groups may see it (they may view, never add, change or delete).
@dataclass(frozen=True)
class AdminModel:
    obj: str  # the World attribute
    add: bool
    delete: bool
    billing: bool = False  # the billing groups' "view" permission covers it


ADMIN_MODELS = {
    "auth/group": AdminModel("group", add=True, delete=True),
    "auth/user": AdminModel("alice", add=True, delete=True),
    "account/emailaddress": AdminModel("email_address", add=True, delete=True),
    "mfa/authenticator": AdminModel("authenticator", add=True, delete=True),
    "django_tasks_database/dbtaskresult": AdminModel("task_result", add=False, delete=False),
    "subscriptions/plan": AdminModel("plan", add=True, delete=True, billing=True),
    "subscriptions/subscription": AdminModel("subscription", add=False, delete=False, billing=True),
    "subscriptions/invoice": AdminModel("invoice", add=False, delete=False, billing=True),
    "subscriptions/overdueinvoice": AdminModel("invoice", add=False, delete=False, billing=True),
    "subscriptions/payment": AdminModel("payment", add=False, delete=False, billing=True),
    "subscriptions/webhooklog": AdminModel("webhook_log", add=False, delete=False, billing=True),
    "subscriptions/refund": AdminModel("refund", add=False, delete=False, billing=True),
    "subscriptions/overpaidpayment": AdminModel(
        "overpaid_payment", add=False, delete=False, billing=True
    ),
    "wallets/wallet": AdminModel("wallet", add=False, delete=False, billing=True),
    "wallets/wallettransaction": AdminModel(
        "wallet_transaction", add=False, delete=False, billing=True
    ),
    "wallets/topup": AdminModel("topup", add=False, delete=False, billing=True),
    "portal/notification": AdminModel("notification", add=False, delete=True, billing=True),
    "portal/sentemail": AdminModel("sent_email", add=False, delete=False, billing=True),
}


def admin_rows(model: str, spec: AdminModel) -> list[Row]:
    name = f"admin:{model.replace('/', '_')}"
    obj = {"object_id": attrgetter(f"{spec.obj}.pk")}
    denied = (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN)
    seen = 200 if spec.billing else 403  # what the billing groups get on a viewing page
    groups = {"support": seen, "operator": seen}
    no_change = {"support": 403, "operator": 403}
    rows = [
        Row(f"{name}_changelist", GET, *denied, 200, **groups),
        Row(f"{name}_add", GET, *denied, 200 if spec.add else 403, **no_change),
        Row(f"{name}_change", GET, *denied, 200, obj, **groups),
        Row(f"{name}_history", GET, *denied, 200, obj, **groups),
        Row(f"{name}_delete", GET, *denied, 200 if spec.delete else 403, obj, **no_change),
        # The bare object URL is an old form of the change page's.
        Row(
            f"admin/{model}/<path:object_id>/",
            GET,
            *denied,
            Redirect(f"/admin/{model}/"),
            obj,
            path=f"/admin/{model}/{{object_id}}/",
        ),
    ]
    if model == "auth/user":
        rows.append(
            Row(
                "admin:auth_user_password_change",
                GET,
                *denied,
                200,
                {"id": attrgetter("alice.pk")},
                **no_change,
            )
        )
    return rows


for _model, _spec in ADMIN_MODELS.items():
    ACCESS.extend(admin_rows(_model, _spec))


# Every admin action of our apps and the permission it needs (README, "Security", lists
# the same). Posted as a crafted request (the action and a selected row; an action that
# asks for details answers with its form first): staff and operators run it, support is
# refused. Django's own delete_selected is the delete permission's (the delete rows).
@dataclass(frozen=True)
class AdminAction:
    model: str
    name: str
    permission: str
    obj: str  # the World attribute selected


MANAGE = "subscriptions.manage_subscription"
VOID = "subscriptions.void_invoice"
PAID_OFFLINE = "subscriptions.mark_invoice_paid_offline"
COLLECT = "subscriptions.collect_invoice"
REFUND = "subscriptions.refund_payment"
CHECK = "subscriptions.check_payment"
REPROCESS = "subscriptions.reprocess_webhooklog"
ADJUST = "wallets.adjust_wallet"

INVOICE_ACTIONS = {
    "void_invoices": VOID,
    "mark_paid_offline": PAID_OFFLINE,
    "retry_collection": COLLECT,
    "mark_overdue": COLLECT,
    "mark_uncollectible": COLLECT,
    "resend_invoice_email": COLLECT,
    "refund_through_gateway": REFUND,
    "refund_to_wallet": REFUND,
}

ADMIN_ACTIONS: list[AdminAction] = [
    *(
        AdminAction("subscriptions/subscription", name, MANAGE, "subscription")
        for name in (
            "pause_now",
            "resume_now",
            "cancel_at_period_end_action",
            "cancel_now",
            "undo_cancel",
            "expire_now",
        )
    ),
    # The overdue queue is the invoice admin on a proxy: the same actions, the same rules.
    *(
        AdminAction(model, name, permission, "invoice")
        for model in ("subscriptions/invoice", "subscriptions/overdueinvoice")
        for name, permission in INVOICE_ACTIONS.items()
    ),
    AdminAction("subscriptions/payment", "check_status", CHECK, "payment"),
    AdminAction("subscriptions/payment", "approve_challenge", CHECK, "payment"),
    AdminAction("subscriptions/payment", "deny_challenge", CHECK, "payment"),
    AdminAction("subscriptions/payment", "refund", REFUND, "payment"),
    AdminAction("subscriptions/webhooklog", "reprocess", REPROCESS, "webhook_log"),
    AdminAction("wallets/wallet", "adjust_balance", ADJUST, "wallet"),
    # allauth's, re-registered by the portal so that it needs the change permission.
    AdminAction(
        "account/emailaddress", "make_verified", "account.change_emailaddress", "email_address"
    ),
]


def action_row(action: AdminAction) -> Row:
    def data(world: World) -> dict:
        selected = getattr(world, action.obj).pk
        return {"action": action.name, ACTION_CHECKBOX_NAME: [selected]}

    # The groups do not even see a list outside billing (403): allauth's email addresses.
    billing = ADMIN_MODELS[action.model].billing
    return Row(
        f"admin:{action.model.replace('/', '_')}_changelist",
        POST,
        ADMIN_LOGIN,
        ADMIN_LOGIN,
        ADMIN_LOGIN,
        RAN,
        data=data,
        variant=f"action {action.name}",
        support=REFUSED if billing else 403,
        operator=RAN if billing else 403,
    )


ACCESS.extend(action_row(action) for action in ADMIN_ACTIONS)


# --- The resolver ------------------------------------------------------------------------


@dataclass(frozen=True)
class Pattern:
    key: str  # the namespaced URL name, or the full route when the pattern has no name
    route: str
    view: Callable


def url_patterns(patterns=None, prefix: str = "", namespace: str = "") -> list[Pattern]:
    """Every URL pattern of the site, walked recursively through its includes."""
    found: list[Pattern] = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            found += url_patterns(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            route = prefix + str(pattern.pattern)
            name = pattern.name and (f"{namespace}:{pattern.name}" if namespace else pattern.name)
            found.append(Pattern(name or route, route, pattern.callback))
    return found


# The owner acts last: its actions change state. Support is refused before the
# operator acts, so what support sees is the state staff left.
ROLES = ("anonymous", "other", "staff", "support", "operator", "owner")


def client_for(role: str, world: World, **kwargs) -> Client:
    client = Client(**kwargs)
    if role != "anonymous":
        client.force_login(getattr(world, {"owner": "alice", "other": "bob"}.get(role, role)))
    return client


def request(client: Client, row: Row, path: str, world: World):
    data = row.build_data(world)
    if row.method == GET:
        return client.get(path)
    if row.content_type:
        return client.post(path, data=data, content_type=row.content_type)
    return client.post(path, data=data or {})


# --- Tests ---------------------------------------------------------------------------------


def test_every_url_pattern_has_a_row_for_each_method():
    patterns = {pattern.key for pattern in url_patterns()}
    rows: dict[str, set[str]] = {}
    for row in ACCESS:
        rows.setdefault(row.url, set()).add(row.method)

    missing = sorted(patterns - rows.keys())
    assert not missing, f"URL patterns without a row in ACCESS: {missing}"
    stale = sorted(rows.keys() - patterns)
    assert not stale, f"Rows in ACCESS for URLs that no longer exist: {stale}"
    # Outside the admin (whose POSTs are covered by the CSRF tests) each URL says what
    # both GET and POST get, so an action that answers GET cannot slip in.
    one_method = sorted(
        key for key, methods in rows.items() if not key.startswith("admin") and len(methods) < 2
    )
    assert not one_method, f"URLs with a row for only one of GET and POST: {one_method}"


@pytest.mark.django_db
@pytest.mark.parametrize("row", ACCESS, ids=str)
def test_each_role_gets_exactly_what_the_table_says(row: Row, world: World):
    path = row.build_path(world)
    wrong = []
    for role in ROLES:
        client = client_for(role, world)
        response = request(client, row, path, world)
        expected = row.expected(role)
        if not matches(expected, response, path):
            wrong.append(f"{role}: expected {expected}, got {describe(response)}")
    assert not wrong, f"{row.method} {path}\n  " + "\n  ".join(wrong)


def registered_actions() -> dict[tuple[str, str], Callable]:
    """Every action the admin offers a superuser, by (``app/model``, name)."""
    from django.contrib.auth.models import User

    request = RequestFactory().get("/admin/")
    request.user = User(is_active=True, is_staff=True, is_superuser=True)
    return {
        (f"{model._meta.app_label}/{model._meta.model_name}", name): func
        for model, model_admin in admin.site._registry.items()
        for name, (func, _, _) in model_admin.get_actions(request).items()
        if name != "delete_selected"  # Django's, needs the delete permission (the delete rows)
    }


def test_every_admin_action_has_a_row_and_declares_its_permission():
    actions = registered_actions()
    rows = {(action.model, action.name) for action in ADMIN_ACTIONS}
    assert sorted(actions.keys() - rows) == [], "admin actions without a row in ADMIN_ACTIONS"
    assert sorted(rows - actions.keys()) == [], "rows in ADMIN_ACTIONS for no admin action"
    # Without allowed_permissions Django lets anyone who may view the list run the action.
    undeclared = sorted(
        key for key, func in actions.items() if not getattr(func, "allowed_permissions", ())
    )
    assert undeclared == [], "admin actions that any viewer may run"
