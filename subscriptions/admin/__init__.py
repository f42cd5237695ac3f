"""Admin for the billing app, split by area. Status changes go through the services
(admin actions), never through editable status fields or ``queryset.update()``."""

import importlib.util

from . import billing  # noqa: F401

# Payments and webhook logs (gateway actions) live in their own module.
if importlib.util.find_spec(f"{__name__}.payments") is not None:
    importlib.import_module(f"{__name__}.payments")
