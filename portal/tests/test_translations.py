"""The Indonesian catalogues are complete and current.

Extraction is Django's ``makemessages`` run in a scratch copy of the sources
(``manage.py translations``), so a new English string in a template or in Python
without its Indonesian translation fails here, and so does a translation that is
fuzzy, one whose placeholders differ from its msgid, or a ``.mo`` that was not
compiled from the committed ``.po``.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.utils import translation

from portal.management.commands import translations


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> dict:
    assert shutil.which("xgettext"), "GNU gettext's xgettext is needed: `make gettext`"
    return translations.extract(tmp_path_factory.mktemp("scratch"))


def committed(catalogue: str) -> polib.POFile:
    return polib.pofile(str(translations.po_path(Path(settings.BASE_DIR), catalogue)))


def test_every_message_of_the_templates_and_code_has_an_indonesian_translation(extracted):
    assert set(extracted) == set(translations.CATALOGUES)
    gaps = {
        catalogue: [(e.msgid, e.occurrences[:1]) for e in translations.missing(po)]
        for catalogue, po in extracted.items()
    }
    assert gaps == {catalogue: [] for catalogue in extracted}


def test_the_committed_catalogues_hold_exactly_the_messages_in_use(extracted):
    for catalogue, po in extracted.items():
        fresh = {(e.msgctxt, e.msgid) for e in po}
        stored = {(e.msgctxt, e.msgid) for e in committed(catalogue) if not e.obsolete}
        assert fresh - stored == set(), f"{catalogue}: run `manage.py translations --write`"
        assert stored - fresh == set(), f"{catalogue}: messages no longer used"


def test_translations_keep_their_placeholders():
    for catalogue in translations.CATALOGUES:
        wrong = [(e.msgid, e.msgstr) for e in translations.mismatched(committed(catalogue))]
        assert wrong == [], catalogue


def test_the_compiled_catalogues_are_the_committed_ones():
    for catalogue in translations.CATALOGUES:
        po = translations.po_path(Path(settings.BASE_DIR), catalogue)
        mo = po.with_suffix(".mo")
        assert mo.read_bytes() == polib.pofile(str(po)).to_binary(), (
            f"{mo} is stale: run `manage.py translations --write`"
        )


def test_a_catalogue_missing_a_message_is_caught(extracted):
    """The check can fail: drop one translation and it is reported."""
    po = copy.deepcopy(extracted["locale"])
    entry = next(e for e in po if e.msgid == "Pay now")
    entry.msgstr = ""
    assert [e.msgid for e in translations.missing(po)] == ["Pay now"]
    entry.msgstr = "Bayar sekarang"
    assert [e.msgid for e in translations.mismatched(po)] == []
    entry.msgid, entry.msgstr = "Pay {amount}", "Bayar {jumlah}"
    assert [e.msgid for e in translations.mismatched(po)] == ["Pay {amount}"]


def test_indonesian_is_served_from_the_compiled_catalogue():
    with translation.override("id"):
        assert translation.gettext("Pay now") == "Bayar sekarang"
        assert translation.gettext("Invoice {number} is overdue") == (
            "Tagihan {number} telah lewat jatuh tempo"
        )
