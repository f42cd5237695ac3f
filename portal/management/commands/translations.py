"""Check, fill and compile the Indonesian catalogues.

    python manage.py translations             # list every msgid without a translation
    python manage.py translations --write     # update the .po files and compile the .mo
    python manage.py translations --untranslated-po out.po [--paths templates/portal]
                                              # the missing entries as a PO file to fill
    python manage.py translations --compendium filled.po --write
                                              # take translations from a filled PO file

``makemessages`` runs in a scratch copy of the source tree, so checking changes nothing
in the repository: the project's strings (``portal`` and ``templates``) go to
``locale/``, each reusable app's to its own ``<app>/locale/``. Every msgid the
templates and the Python code use must have a translation that is neither empty nor
fuzzy; the test suite runs the check (``portal/tests/test_translations.py``), so a new
English string without its Indonesian fails CI.

The ``.mo`` files are compiled with polib and committed, so running the portal needs no
GNU gettext; extracting (``makemessages``) needs ``xgettext`` (Debian's ``gettext``).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.test.utils import override_settings

LANGUAGE = "id"
# Where the strings live, relative to the project root, and the catalogues they feed.
SOURCES = ("portal", "subscriptions", "wallets", "templates", "locale")
CATALOGUES = ("locale", "subscriptions/locale", "wallets/locale")
IGNORE = ["*/tests/*", "*/migrations/*", "*/management/commands/translations.py"]
HEADER = {
    "Project-Id-Version": "billing-portal",
    "Language-Team": "Indonesian",
    "Language": LANGUAGE,
    "MIME-Version": "1.0",
    "Content-Type": "text/plain; charset=UTF-8",
    "Content-Transfer-Encoding": "8bit",
    "Plural-Forms": "nplurals=1; plural=0;",
}


def root() -> Path:
    return Path(settings.BASE_DIR)


def po_path(base: Path, catalogue: str) -> Path:
    return base / catalogue / LANGUAGE / "LC_MESSAGES" / "django.po"


def extract(scratch: Path) -> dict[str, object]:
    """Run makemessages over a copy of the sources; the fresh catalogues, by name."""
    import polib

    for name in SOURCES:
        source = root() / name
        if source.exists():
            shutil.copytree(
                source, scratch / name, ignore=shutil.ignore_patterns("__pycache__", "*.mo")
            )
    for catalogue in CATALOGUES:
        po_path(scratch, catalogue).parent.mkdir(parents=True, exist_ok=True)
    here = os.getcwd()
    try:
        os.chdir(scratch)
        with override_settings(LOCALE_PATHS=[scratch / "locale"]):
            call_command(
                "makemessages",
                locale=[LANGUAGE],
                domain="django",
                ignore_patterns=IGNORE,
                no_obsolete=True,
                add_location="file",
                verbosity=0,
            )
    finally:
        os.chdir(here)
    catalogues = {}
    for catalogue in CATALOGUES:
        path = po_path(scratch, catalogue)
        if path.exists():
            po = polib.pofile(str(path), wrapwidth=100)
            po.header = "Indonesian translations of the billing portal (manage.py translations)."
            po.metadata_is_fuzzy = False
            po.metadata.update(HEADER)
            po.metadata.pop("POT-Creation-Date", None)
            po.metadata.pop("PO-Revision-Date", None)
            catalogues[catalogue] = po
    return catalogues


def key(entry) -> tuple[str | None, str]:
    return (entry.msgctxt, entry.msgid)


def translated(entry) -> bool:
    if entry.obsolete or "fuzzy" in entry.flags:
        return False
    if entry.msgid_plural:
        return bool(entry.msgstr_plural) and all(entry.msgstr_plural.values())
    return bool(entry.msgstr)


def fill(po, compendium: dict) -> int:
    """Translations for untranslated or fuzzy entries from the compendium."""
    filled = 0
    for entry in po:
        if translated(entry):
            continue
        source = compendium.get(key(entry))
        if source is None:
            continue
        if entry.msgid_plural:
            text = source.msgstr_plural.get(0) or source.msgstr
            entry.msgstr_plural = {0: text}
        else:
            entry.msgstr = source.msgstr or source.msgstr_plural.get(0, "")
        if "fuzzy" in entry.flags:
            entry.flags.remove("fuzzy")
        entry.previous_msgid = entry.previous_msgid_plural = entry.previous_msgctxt = None
        filled += 1
    return filled


PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{(\w+)(?:![a-z])?\}")


def placeholders(text: str) -> set[str]:
    return {a or b for a, b in PLACEHOLDER.findall(text)}


def mismatched(po) -> list:
    """Translated entries whose placeholders are not the msgid's: they would fail (or
    lose a value) when filled."""
    wrong = []
    for entry in po.translated_entries():
        wanted = placeholders(entry.msgid) | placeholders(entry.msgid_plural or "")
        if entry.msgid_plural:
            # Indonesian's one form may leave out the count ("%(n)s" is optional).
            texts, fits = entry.msgstr_plural.values(), wanted.issuperset
        else:
            texts, fits = [entry.msgstr], wanted.__eq__
        if not all(fits(placeholders(text)) for text in texts):
            wrong.append(entry)
    return wrong


def missing(po, paths: tuple[str, ...] = ()) -> list:
    found = []
    for entry in po:
        if translated(entry):
            continue
        if paths and not any(
            occurrence.startswith(prefix) for occurrence, _ in entry.occurrences for prefix in paths
        ):
            continue
        found.append(entry)
    return found


class Command(BaseCommand):
    help = "Check, fill and compile the Indonesian translation catalogues."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--write", action="store_true", help="Update the .po and .mo files.")
        parser.add_argument(
            "--compendium", action="append", default=[], help="A PO file to take translations from."
        )
        parser.add_argument(
            "--untranslated-po", help="Write the entries still missing to this PO file."
        )
        parser.add_argument(
            "--paths", nargs="*", default=[], help="Only entries used under these paths."
        )

    def handle(self, *args, **options) -> None:
        import polib

        compendium: dict = {}
        for path in options["compendium"]:
            for entry in polib.pofile(path):
                if translated(entry):
                    compendium[key(entry)] = entry
        paths = tuple(options["paths"])
        with tempfile.TemporaryDirectory(prefix="translations-") as scratch:
            catalogues = extract(Path(scratch))
        if not catalogues:
            raise CommandError("makemessages produced no catalogue")
        left = []
        for catalogue, po in catalogues.items():
            filled = fill(po, compendium) if compendium else 0
            gaps = missing(po, paths)
            left.extend(gaps)
            for entry in mismatched(po):
                self.stderr.write(
                    f"  placeholders differ: {entry.msgid[:80]!r} -> {entry.msgstr!r}"
                )
            self.stdout.write(
                f"{catalogue}: {len(po)} messages, {len(gaps)} untranslated"
                + (f", {filled} filled from the compendium" if compendium else "")
            )
            if options["write"]:
                target = po_path(root(), catalogue)
                target.parent.mkdir(parents=True, exist_ok=True)
                po.save(str(target))
                po.save_as_mofile(str(target.with_suffix(".mo")))
        if options["untranslated_po"]:
            out = polib.POFile(wrapwidth=100)
            out.metadata = dict(HEADER)
            for entry in left:
                out.append(entry)
            out.save(options["untranslated_po"])
            self.stdout.write(f"{len(left)} entries written to {options['untranslated_po']}")
        elif left:
            for entry in left[:200]:
                where = ", ".join(path for path, _ in entry.occurrences[:3])
                self.stdout.write(f"  {entry.msgid[:90]!r}  ({where})")
        if left and not options["write"] and not options["untranslated_po"]:
            raise CommandError(f"{len(left)} messages have no Indonesian translation")
