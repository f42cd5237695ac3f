"""Portal URLs for the notifications pages (included by portal/urls_portal.py, namespace "portal")."""

from django.urls import path

from . import views_notifications as views

urlpatterns = [
    path("notifications/", views.notification_list, name="notifications"),
    path(
        "notifications/<int:pk>/dismiss/",
        views.notification_dismiss,
        name="notification_dismiss",
    ),
    path(
        "notifications/dismiss-all/",
        views.notification_dismiss_all,
        name="notifications_dismiss_all",
    ),
    path("emails/", views.email_previews, name="email_previews"),
    path("emails/<slug:kind>/", views.email_preview, name="email_preview"),
]
