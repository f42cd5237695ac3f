"""What staff need to act, not just to look.

Django lets anyone who may view a changelist run its actions unless the action names
its permissions. Every action here does: ``@admin.action(permissions=["void_invoice"])``
makes Django call the admin's ``has_void_invoice_permission(request)`` before it offers
the action and again before it runs a posted one (a refused POST runs nothing: Django
answers "No action selected.").
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin
from django.http import HttpRequest


def permission_check(permission: str) -> Callable[[admin.ModelAdmin, HttpRequest], bool]:
    """A ``has_<name>_permission`` method: does the user hold ``permission``
    (``"app_label.codename"``)? Superusers hold every permission."""

    def has_permission(modeladmin: admin.ModelAdmin, request: HttpRequest) -> bool:
        return request.user.has_perm(permission)

    has_permission.__doc__ = f"Does the user hold {permission}?"
    return has_permission
