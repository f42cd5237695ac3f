"""Texts stored untranslated and said in the reader's language when they are shown.

A banner is written once, when its event happens, but read later, by someone whose
language may have changed since: it is stored as a msgid ("Invoice {number} is
overdue", marked with ``gettext_noop`` where it is defined, so ``makemessages`` finds
it) and its parameters, and ``say`` translates and fills it at display time.

Parameters are JSON: strings and numbers as they are (a plan's name, "Rp 150.000"),
dates as ISO strings shown with ``{due!d}`` (in the reader's language and the site's
time zone), and phrases, themselves a msgid with parameters (``phrase(...)``), for a
part of a sentence that depends on the event ("Reason: {reason}.").
"""

from __future__ import annotations

import datetime as dt
import logging
import string
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext

from .presenters import format_date

logger = logging.getLogger(__name__)

PHRASE = "t"  # a phrase's msgid
PHRASE_PARAMS = "p"


def jsonable(value: Any) -> Any:
    """A parameter as a banner stores it."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if value is None:
        return ""
    if isinstance(value, str | int | float | bool | dict | list):
        return value
    return str(value)


def phrase(msgid: str, **params: Any) -> dict:
    """A part of a sentence that is translated on its own, with its parameters."""
    return {PHRASE: msgid, PHRASE_PARAMS: {name: jsonable(v) for name, v in params.items()}}


class _Sayer(string.Formatter):
    def convert_field(self, value, conversion):
        if conversion == "d":
            return format_date(value) if value else ""
        return super().convert_field(value, conversion)

    def format_field(self, value, format_spec):
        if isinstance(value, dict) and PHRASE in value:
            return say(value[PHRASE], value.get(PHRASE_PARAMS) or {})
        return super().format_field(value, format_spec)


_SAYER = _Sayer()


def say(msgid: str, params: dict) -> str:
    """``msgid`` in the active language, filled with ``params``. A translation that
    names a parameter the text does not have falls back to the English."""
    if not msgid:
        return ""
    try:
        return _SAYER.format(gettext(msgid), **params).strip()
    except (KeyError, IndexError, ValueError):
        logger.warning("Translation of %r does not fit its parameters", msgid)
    try:
        return _SAYER.format(msgid, **params).strip()
    except (KeyError, IndexError, ValueError):
        return msgid
