"""Remember the values a row had when it was loaded, so post_save can tell real changes.

The signal contract (``spec/signals-spec.md``) dispatches from ``post_save``. A
``post_save`` handler alone cannot tell "the status became paid" from "a paid
invoice was saved again", so every tracked model keeps a snapshot of its tracked
fields as they were loaded from (or last written to) the database. The
dispatchers in ``signals.py`` compare against that snapshot and then refresh it.

When a tracked field was not loaded (``.only()``/``.defer()``, or an instance
built by hand with a primary key), the old value is fetched once in ``pre_save``;
that costs a query only in those rare cases.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models

MISSING: Any = object()


class TrackedModel(models.Model):
    """Abstract base: subclasses list the fields whose transitions send signals."""

    tracked_fields: ClassVar[tuple[str, ...]] = ()

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._snapshot = {
            name: instance.__dict__[attname]
            for name, attname in cls._tracked_attnames()
            if attname in instance.__dict__
        }
        return instance

    @classmethod
    def _tracked_attnames(cls) -> list[tuple[str, str]]:
        return [(name, cls._meta.get_field(name).attname) for name in cls.tracked_fields]

    def _current(self, name: str) -> Any:
        return getattr(self, self._meta.get_field(name).attname)

    def previous_value(self, name: str) -> Any:
        """The value ``name`` had in the database before the current save (or MISSING)."""
        return getattr(self, "_snapshot", {}).get(name, MISSING)

    def fill_snapshot_before_save(self, *, adding: bool) -> None:
        """Called from pre_save: load old values the instance never had."""
        snapshot = self.__dict__.setdefault("_snapshot", {})
        # ``adding`` is also true for an instance built by hand with the pk of an
        # existing row, which Django saves as an UPDATE: only a missing pk proves
        # there is no old row to compare with.
        if self.pk is None:
            return
        missing = [name for name in self.tracked_fields if name not in snapshot]
        if not missing:
            return
        attnames = [self._meta.get_field(name).attname for name in missing]
        row = type(self)._base_manager.filter(pk=self.pk).values(*attnames).first()
        if row is not None:
            for name, attname in zip(missing, attnames, strict=True):
                snapshot[name] = row[attname]

    def changes(
        self, *, created: bool, update_fields: frozenset[str] | None
    ) -> dict[str, tuple[Any, Any]]:
        """Tracked fields that this save really changed, as ``{name: (old, new)}``.

        A field left out of ``update_fields`` did not change, whatever its value in
        memory. On create every tracked field "changes" from MISSING.
        """
        result: dict[str, tuple[Any, Any]] = {}
        snapshot = getattr(self, "_snapshot", {})
        for name in self.tracked_fields:
            if update_fields is not None and name not in update_fields:
                attname = self._meta.get_field(name).attname
                if attname not in update_fields:
                    continue
            new = self._current(name)
            old = MISSING if created else snapshot.get(name, MISSING)
            if old is MISSING and not created:
                continue
            if created or old != new:
                result[name] = (old, new)
        return result

    def refresh_snapshot(self, update_fields: frozenset[str] | None) -> None:
        snapshot = self.__dict__.setdefault("_snapshot", {})
        for name, attname in self._tracked_attnames():
            if update_fields is None or name in update_fields or attname in update_fields:
                snapshot[name] = self.__dict__.get(attname)

    def refresh_from_db(self, using=None, fields=None, from_queryset=None):
        super().refresh_from_db(using=using, fields=fields, from_queryset=from_queryset)
        snapshot = self.__dict__.setdefault("_snapshot", {})
        for name, attname in self._tracked_attnames():
            reloaded = fields is None or name in fields or attname in fields
            if reloaded and attname in self.__dict__:
                snapshot[name] = self.__dict__[attname]
