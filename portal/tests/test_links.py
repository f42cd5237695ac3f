"""Every link of every billing email, followed with the test client as the people who
might click it: the recipient signed out (sign in, then land on the page), signed in,
someone else signed in, and, for the signed invoice link, after it expired or after
someone changed it.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.core import mail
from django.urls import resolve, reverse
from django.utils import timezone

from portal import emails, links
from subscriptions.models import Refund
from subscriptions.tests.factories import (
    InvoiceFactory,
    PaymentFactory,
    PlanFactory,
    SubscriptionFactory,
)
from wallets.models import TopUp
from wallets.tests.factories import funded_wallet

PASSWORD = "correct horse battery"  # the UserFactory's
DAY = dt.timedelta(days=1)
HOSTED_PREFIX = "/i/"


def send_email(kind: str, user) -> mail.EmailMessage:
    """One email of ``kind`` about rows of ``user``, queued and delivered for real."""
    now = timezone.now()
    status = "trialing" if kind == "trial_ending" else "active"
    sub = SubscriptionFactory(
        user=user,
        status=status,
        trial_end=now + 3 * DAY,
        cancel_at_period_end=kind == "subscription_cancel_scheduled",
    )
    objects: dict = {"subscription": sub}
    paid_kinds = ("payment_receipt", "payment_refunded", "payment_overpaid")
    if kind in (
        "payment_failed",
        "invoice_issued",
        "invoice_overdue",
        "invoice_voided",
        *paid_kinds,
    ):
        paid = kind in paid_kinds
        invoice = InvoiceFactory(
            user=user,
            subscription=sub,
            plan=sub.plan,
            reason="renewal",
            status="paid" if paid else "void" if kind == "invoice_voided" else "open",
            paid_at=now if paid else None,
            period_start=now,
            period_end=now + 30 * DAY,
            due_date=now + 7 * DAY,
        )
        objects.update(
            invoice=invoice,
            payment=PaymentFactory(
                user=user, invoice=invoice, status="settlement" if paid else "deny"
            ),
        )
    if kind == "payment_refunded":
        objects["refund"] = Refund.objects.create(
            payment=objects["payment"], amount=Decimal("50000"), refund_key="links-test"
        )
    if kind == "payment_overpaid":
        objects.update(amount=invoice.total, return_to="wallet")
    if kind in ("topup_completed", "wallet_low"):
        wallet = funded_wallet(user, 30000)
        objects["wallet"] = wallet
        if kind == "topup_completed":
            objects["topup"] = TopUp.objects.create(
                wallet=wallet, user=user, amount=Decimal("30000"), order_id=f"T-{user.pk}"
            )
    if kind == "plan_changed":
        objects.update(old_plan=PlanFactory(name="Starter"), new_plan=sub.plan)
    mail.outbox.clear()
    sent = emails.queue_email(kind=kind, user=user, key=f"links-test:{kind}", **objects)
    assert emails.deliver(sent.pk) == "sent"
    [message] = mail.outbox
    return message


def urls_in(message) -> list[str]:
    html = message.alternatives[0][0]
    found = re.findall(r'href="([^"]+)"', html) + re.findall(r"https?://\S+", message.body)
    return list(dict.fromkeys(found))


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def landing_after_sign_in(path: str) -> str:
    """Where a signed-out reader of ``path`` lands after signing in: the page itself,
    except a PDF link, which comes back to its invoice's page with the PDF offered."""
    match = resolve(urlsplit(path).path)
    if match.view_name == "portal:invoice_pdf":
        return reverse("portal:invoice_detail", kwargs=match.kwargs) + "?download=pdf"
    return path


def sign_in_through(client, response, user) -> str:
    """Follow a login redirect: sign in on the page it names, return where it sends us."""
    login_path = path_of(response["Location"])
    assert login_path.startswith(reverse("account_login"))
    answer = client.post(login_path, {"login": user.email, "password": PASSWORD})
    assert answer.status_code == 302, answer.content.decode()[:500]
    return answer["Location"]


@pytest.fixture(params=list(emails.KINDS))
def email(request, alice):
    return send_email(request.param, alice)


def test_every_link_in_every_email_is_absolute(email, settings):
    urls = urls_in(email)

    assert urls
    for url in urls:
        assert url.startswith(settings.SITE_URL + "/"), url


def test_a_signed_out_reader_signs_in_and_lands_on_each_linked_page(email, client, alice):
    for url in urls_in(email):
        path = path_of(url)
        if path.startswith(HOSTED_PREFIX):
            continue  # opens without signing in (below)
        response = client.get(path)
        assert response.status_code == 302, path
        path = landing_after_sign_in(path)
        assert parse_qs(urlsplit(response["Location"]).query)["next"] == [path]

        landed = sign_in_through(client, response, alice)

        assert landed == path
        assert client.get(landed).status_code == 200, path
        client.logout()


def test_the_recipient_signed_in_opens_every_link(email, client, alice):
    client.force_login(alice)

    for url in urls_in(email):
        assert client.get(path_of(url)).status_code == 200, url


def test_someone_else_signed_in_cannot_open_the_recipients_pages(email, client, alice, bob):
    client.force_login(bob)

    for url in urls_in(email):
        path = path_of(url)
        if path.startswith(HOSTED_PREFIX):
            continue
        response = client.get(path)
        if resolve(urlsplit(path).path).kwargs:  # a page of one of alice's rows
            assert response.status_code == 404, path
        else:  # a page of one's own (the dashboard, the wallet): bob's, not alice's
            assert response.status_code == 200, path
            assert alice.email not in response.content.decode()


# --- the signed invoice link -----------------------------------------------------------


@pytest.fixture
def invoice_email(alice):
    return send_email("payment_failed", alice)


def hosted_path(message) -> str:
    [url] = [u for u in urls_in(message) if path_of(u).startswith(HOSTED_PREFIX)]
    return path_of(url)


def test_an_invoice_email_links_to_its_hosted_page_which_opens_without_signing_in(
    invoice_email, client, alice, bob
):
    path = hosted_path(invoice_email)
    invoice = alice.invoices.get()

    for who in (None, alice, bob):  # the link itself is the permission
        client.logout()
        if who is not None:
            client.force_login(who)
        response = client.get(path)
        assert response.status_code == 200
        body = response.content.decode()
        assert invoice.number in body
        assert invoice.total_display in body
        assert reverse("hosted:pay", args=[path.split("/")[2]]) in body


def test_an_expired_invoice_link_says_so_and_offers_sign_in_to_that_invoice(
    invoice_email, client, alice, settings
):
    path = hosted_path(invoice_email)
    invoice = alice.invoices.get()
    later = timezone.now() + dt.timedelta(days=settings.PORTAL_INVOICE_LINK_MAX_AGE_DAYS, hours=1)

    with time_machine.travel(later):
        response = client.get(path)
        paying = client.post(path + "pay/")

    assert response.status_code == 410
    assert paying.status_code == 410
    body = response.content.decode()
    assert "This link has expired" in body
    assert invoice.number not in body  # an old link shows nothing of the invoice
    sign_in = re.search(r'href="([^"]*/accounts/login/[^"]*)"', body).group(1)
    target = links.invoice_detail_path(invoice.pk) or links.dashboard_path()
    assert parse_qs(urlsplit(sign_in.replace("&amp;", "&")).query)["next"] == [target]
    answer = client.post(
        sign_in.replace("&amp;", "&"), {"login": alice.email, "password": PASSWORD}
    )
    assert answer["Location"] == target
    assert client.get(target).status_code == 200


def test_a_link_still_opens_just_before_it_expires(invoice_email, client, settings):
    path = hosted_path(invoice_email)
    almost = timezone.now() + dt.timedelta(days=settings.PORTAL_INVOICE_LINK_MAX_AGE_DAYS, hours=-1)

    with time_machine.travel(almost):
        assert client.get(path).status_code == 200


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # the signature
        lambda token: str(int(token.split(":")[0]) + 1) + token[token.index(":") :],  # the id
        lambda token: token.split(":")[0],  # no signature at all
        lambda token: "nonsense",
    ],
    ids=["signature", "invoice-id", "unsigned", "garbage"],
)
def test_an_altered_invoice_link_says_it_does_not_work_and_offers_sign_in(
    tamper, invoice_email, client, alice
):
    token = hosted_path(invoice_email).split("/")[2]
    InvoiceFactory(user=alice)  # another invoice the altered id could name

    response = client.get(reverse("hosted:invoice", args=[tamper(token)]))

    assert response.status_code == 404
    body = response.content.decode()
    assert "This link does not work" in body
    assert "/accounts/login/" in body
    assert alice.invoices.first().number not in body


def test_a_token_for_one_purpose_is_refused_as_an_invoice_link(client, alice):
    from django.core import signing

    invoice = InvoiceFactory(user=alice)
    other_purpose = signing.TimestampSigner(salt="some.other.purpose").sign(str(invoice.pk))

    response = client.get(reverse("hosted:invoice", args=[other_purpose]))

    assert response.status_code == 404
