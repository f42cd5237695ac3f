"""Translated labels for models and their fields, kept out of migrations.

A label given to a field's constructor (``verbose_name=_("status")``) is part of the
field's deconstruction, so adding one to an existing field makes a migration that
changes nothing in the database; so would a new ``Meta.verbose_name``. Labels are not
schema: ``set_labels`` puts them on the built model instead. ``Field.deconstruct``
reads the value the constructor was given (``_verbose_name``) and the migration state
reads the ``Meta`` the class was written with (``Options.original_attrs``), so
``makemigrations`` sees no change while the admin's column headers, filters and form
labels follow the active language.
"""

from __future__ import annotations

from django.db import models
from django.utils.functional import Promise


def set_labels(
    model: type[models.Model],
    *,
    verbose_name: Promise | None = None,
    verbose_name_plural: Promise | None = None,
    fields: dict[str, Promise] | None = None,
) -> None:
    """Set translated (lazy) labels on ``model`` and its fields, by field name."""
    opts = model._meta
    if verbose_name is not None:
        opts.verbose_name = verbose_name
    if verbose_name_plural is not None:
        opts.verbose_name_plural = verbose_name_plural
    for name, label in (fields or {}).items():
        opts.get_field(name).verbose_name = label
