"""Links that work for the person who follows them, wherever they read them.

- ``absolute(path)``: every link in an email starts with ``SITE_URL``.
- ``portal_path(*names)``: the first of several URL names that exists, else the
  dashboard (or nothing), so a link never breaks on a page the portal does not have.
  Portal pages are ``login_required``: a signed-out reader signs in and lands on the
  page (``next``).
- Hosted invoice links: ``/i/<token>/`` shows one invoice and lets anyone holding the
  link pay it without signing in. The token is the invoice id signed with a
  ``TimestampSigner`` under a salt of its own (so no other signed value of the site
  can stand in for it), and it expires after ``PORTAL_INVOICE_LINK_MAX_AGE_DAYS``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import NoReverseMatch, reverse

HOSTED_INVOICE_SALT = "portal.links.hosted-invoice"
DEFAULT_INVOICE_LINK_MAX_AGE_DAYS = 30


def absolute(path: str) -> str:
    if path.startswith(("http://", "https://")):
        return path
    return settings.SITE_URL.rstrip("/") + path


def portal_path(*names: str, args: tuple = (), default: str | None = "portal:dashboard") -> str:
    """The path of the first URL name that exists (``default`` when none does; "" if None)."""
    for name in names:
        try:
            return reverse(name, args=args)
        except NoReverseMatch:
            continue
    return reverse(default) if default else ""


class PkPath:
    """``reverse(name, args=[pk])`` for many pks with one ``reverse()``: a page of rows
    builds each row's link by putting its pk into the reversed pattern (reversing
    50 links per page was a measurable part of the invoice list's time)."""

    _SENTINEL = "9876543210123"

    def __init__(self, name: str) -> None:
        self.prefix, self.suffix = reverse(name, args=[int(self._SENTINEL)]).split(
            self._SENTINEL, 1
        )

    def __call__(self, pk: int) -> str:
        return f"{self.prefix}{int(pk)}{self.suffix}"


# --- Named portal pages (the first name that exists wins) --------------------------------


def dashboard_path() -> str:
    return portal_path("portal:dashboard")


def subscription_path() -> str:
    return dashboard_path()  # the subscription is managed on the dashboard


def plans_path() -> str:
    return portal_path("portal:plans")


def wallet_path() -> str:
    return portal_path("portal:wallet")


def notifications_path() -> str:
    return portal_path("portal:notifications")


def invoice_detail_path(invoice_id: int) -> str:
    """The invoice's page in the portal, or "" while the portal has none."""
    return portal_path("portal:invoice_detail", args=(invoice_id,), default=None)


def invoice_pdf_path(invoice_id: int) -> str:
    return portal_path("portal:invoice_pdf", args=(invoice_id,), default=None)


def invoice_page_path(invoice_id: int) -> str:
    """Where a banner about an invoice leads: its portal page, else its hosted page."""
    return invoice_detail_path(invoice_id) or hosted_invoice_path(invoice_id)


# --- Hosted invoice links ------------------------------------------------------------------


def invoice_link_max_age() -> dt.timedelta:
    days = getattr(settings, "PORTAL_INVOICE_LINK_MAX_AGE_DAYS", DEFAULT_INVOICE_LINK_MAX_AGE_DAYS)
    return dt.timedelta(days=days)


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=HOSTED_INVOICE_SALT)


def hosted_invoice_token(invoice_id: int) -> str:
    return _signer().sign(str(invoice_id))


def hosted_invoice_path(invoice_id: int) -> str:
    return reverse("hosted:invoice", args=[hosted_invoice_token(invoice_id)])


def hosted_invoice_url(invoice_id: int) -> str:
    return absolute(hosted_invoice_path(invoice_id))


@dataclass(frozen=True)
class HostedLink:
    """What a hosted-invoice token says: the invoice, or why it cannot be used."""

    invoice_id: int | None
    expired: bool = False

    @property
    def valid(self) -> bool:
        return self.invoice_id is not None and not self.expired


def read_hosted_invoice_token(token: str) -> HostedLink:
    """Never raises: an altered token names no invoice; an expired one names the invoice
    it was made for (its signature is genuine) so the page can offer that invoice after
    sign-in."""
    signer = _signer()
    try:
        value = signer.unsign(token, max_age=invoice_link_max_age())
    except signing.SignatureExpired:
        value = signer.unsign(token)  # genuine, only too old
        return HostedLink(_invoice_id(value), expired=True)
    except signing.BadSignature:
        return HostedLink(None)
    return HostedLink(_invoice_id(value))


def _invoice_id(value: str) -> int | None:
    return int(value) if value.isdigit() else None
