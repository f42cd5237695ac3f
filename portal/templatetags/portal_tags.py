"""Template helpers for the portal's chrome: the main navigation, money and billing periods.

Presentation only: no queries, no billing decisions (those live in services and
``portal/presenters.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django import template
from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from portal import presenters
from subscriptions.money import format_money

register = template.Library()

# The main navigation, in order. Each entry lists the URL names it may have; an entry
# whose page does not exist yet is left out, so the nav grows as pages land.
NAV_ITEMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (_("Billing"), ("portal:dashboard",)),
    (_("Plans"), ("portal:plans", "portal:plan_list")),
    (_("Wallet"), ("portal:wallet",)),
    (_("Invoices"), ("portal:invoices", "portal:invoice_list")),
)


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    active: bool = False


def _first_url(names: tuple[str, ...]) -> str | None:
    for name in names:
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return None


@register.simple_tag(takes_context=True)
def portal_nav(context) -> list[NavItem]:
    """The nav entries whose pages exist; the one whose URL is the longest prefix of
    the current path is active (so an invoice's page highlights "Invoices")."""
    request = context.get("request")
    path = request.path if request is not None else ""
    found = [(label, url) for label, names in NAV_ITEMS if (url := _first_url(names))]
    matches = [url for _label, url in found if path.startswith(url)]
    active = max(matches, key=len) if matches else None
    return [NavItem(str(label), url, url == active) for label, url in found]


@register.filter
def money(amount: Decimal | int | str | None, currency: str = "IDR") -> str:
    """``{{ invoice.total|money:invoice.currency }}`` -> ``Rp 150.000``."""
    if amount in (None, ""):
        return ""
    return format_money(Decimal(amount), currency or "IDR")


@register.filter
def interval_words(plan) -> str:
    """``{{ plan.price_display }} / {{ plan|interval_words }}`` -> ``Rp 149.000 / month``
    (``/ bulan``, ``/ 3 bulan`` in Indonesian)."""
    return presenters.interval_words(plan) if plan else ""


@register.filter
def initial(value: str | None) -> str:
    """First letter of a name or email, upper-cased, for the avatar circle."""
    value = (value or "").strip()
    return value[:1].upper() or "?"


@register.filter
def invoice_tone(status: str) -> str:
    """Badge tone for an invoice status (see ``badge``)."""
    return presenters.invoice_tone(status)


BADGE_CLASSES = {
    presenters.SUCCESS: "badge badge-success",
    presenters.INFO: "badge badge-info",
    presenters.WARNING: "badge badge-warning",
    presenters.DANGER: "badge badge-danger",
}
BADGE_HTML = '<span class="{}">{}</span>'
BADGE_WITH_DOT_HTML = (
    '<span class="{}"><svg class="h-1.5 w-1.5 fill-current" viewBox="0 0 6 6" '
    'aria-hidden="true"><circle cx="3" cy="3" r="3"/></svg>{}</span>'
)


@register.simple_tag
def badge(tone: str, label: str, dot: bool = False) -> SafeString:
    """A status pill: ``{% badge "success" label dot=True %}``. Tones: success, info,
    warning, danger, anything else is neutral. A tag rather than an include: a page
    of invoice rows renders one per row."""
    return format_html(
        BADGE_WITH_DOT_HTML if dot else BADGE_HTML,
        BADGE_CLASSES.get(tone, "badge badge-neutral"),
        label,
    )


@register.simple_tag
def brand_name() -> str:
    """The name in the header and the page titles (``PORTAL_BRAND_NAME``)."""
    return getattr(settings, "PORTAL_BRAND_NAME", "") or _("Billing portal")
