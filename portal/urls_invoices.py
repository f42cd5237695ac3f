"""Portal URLs for the invoices pages (included by portal/urls_portal.py, namespace "portal")."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
