"""Admin for the billing app, split by area. Status changes go through the services
(admin actions), never through editable status fields or ``queryset.update()``."""

from . import billing, payments, refunds  # noqa: F401
