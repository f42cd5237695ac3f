"""Cells of the billing admin's lists, readable at laptop width (1280 px).

Invoice numbers, order ids, amounts and dates stay on one line (``nowrap``); a date
shows without its time where the time says little; an email may break after its @;
a second fact goes in small grey text under the first instead of a column of its own.
The styles are in ``static/css/admin.css``, loaded by every billing list through
``ListStyles`` (a ModelAdmin's ``Media``).
"""

from __future__ import annotations

import datetime as dt
import re

from django.urls import NoReverseMatch, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

EMPTY = "—"
# A word holding a digit and a hyphen (an invoice number, an order id, a reference), or
# an amount with its currency ("Rp 150.000", "USD 12.50").
NUMBER = re.compile(r"\S*(?:\d\S*-|-\S*\d)\S*|(?:Rp|[A-Z]{3}) ?-?[\d.,]*\d")


class ListStyles:
    """A ModelAdmin mixin: the billing admin's stylesheet on its pages."""

    class Media:
        css = {"all": ("css/admin.css",)}


def label(model, field: str):
    """A field's label ("user", "Pengguna"), for a column that shows it another way."""
    return model._meta.get_field(field).verbose_name


def one_line(value) -> SafeString:
    return format_html('<span class="nowrap">{}</span>', value)


def with_note(main, note) -> SafeString:
    """``main``, with ``note`` under it in small grey text (when there is one)."""
    if not note:
        return format_html("{}", main)
    return format_html('{}<span class="note">{}</span>', main, note)


def day(value: dt.datetime | dt.date | None) -> SafeString | str:
    """The date alone, in the staff member's language ("8 Dec 2026", "8 Desember 2026")."""
    if value is None:
        return EMPTY
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value)
    return one_line(formats.date_format(value, "DATE_FORMAT"))


def moment(value: dt.datetime | None) -> SafeString | str:
    """The date, then the time in grey; each on one line, the time under the date if the
    column is narrow."""
    if value is None:
        return EMPTY
    value = timezone.localtime(value)
    return format_html(
        '<span class="nowrap">{}</span> <span class="nowrap quiet">{}</span>',
        formats.date_format(value, "DATE_FORMAT"),
        formats.time_format(value, "TIME_FORMAT"),
    )


def email(user) -> SafeString | str:
    """The account's email (else its username), or an address given as text: where the
    column is narrow it breaks after the @, then after a dot of the name (and, where a
    part is still too long, at its hyphens)."""
    if not user:
        return EMPTY
    address = user if isinstance(user, str) else (getattr(user, "email", "") or str(user))
    local, at, domain = address.rpartition("@")
    if not at:
        return one_line(address)
    # Where a narrow column needs it, the name breaks after a dot too ("yohanes.<wbr>...").
    first, *rest = local.split(".")
    name = format_html("{}", first)
    for part in rest:
        name = format_html("{}.<wbr>{}", name, part)
    return format_html('<span class="email">{}@<wbr>{}</span>', name, domain)


def numbers_whole(text: str) -> SafeString | str:
    """Free text (a ledger row's description) that may wrap, but never inside an invoice
    number or an order id."""
    if not text:
        return EMPTY
    parts = []
    last = 0
    for match in NUMBER.finditer(text):
        parts.append(format_html("{}", text[last : match.start()]))
        parts.append(one_line(match.group()))
        last = match.end()
    parts.append(format_html("{}", text[last:]))
    return format_html_join("", "{}", ((part,) for part in parts))


def admin_link(obj, label=None) -> SafeString | str:
    """A link to ``obj``'s admin page, its label on one line."""
    if obj is None:
        return EMPTY
    meta = obj._meta
    try:
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return one_line(label or obj)
    return format_html('<a class="nowrap" href="{}">{}</a>', url, label or obj)
