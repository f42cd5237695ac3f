"""Portal URLs for the subscription pages (included by portal/urls_portal.py, namespace "portal")."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
