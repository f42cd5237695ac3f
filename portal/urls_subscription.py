"""Portal URLs for the subscription pages (included by portal/urls_portal.py, namespace "portal").

Every action is a POST-only URL; its confirmation (a dialog over HTMX, a page without
JavaScript) is the GET URL next to it, ending in ``confirm/``.
"""

from django.urls import path

from . import views_subscription as views

urlpatterns = [
    path("plans/", views.plans, name="plans"),
    path("plans/<slug:slug>/change/", views.plan_change, name="plan_change"),
    path("plans/<slug:slug>/subscribe/", views.subscribe, name="subscribe"),
    path("subscription/pay/<int:pk>/", views.subscription_pay, name="subscription_pay"),
    path("subscription/<int:pk>/pause/", views.pause, name="subscription_pause"),
    path(
        "subscription/<int:pk>/pause/confirm/",
        views.pause_confirm,
        name="subscription_pause_confirm",
    ),
    path("subscription/<int:pk>/resume/", views.resume, name="subscription_resume"),
    path(
        "subscription/<int:pk>/resume/confirm/",
        views.resume_confirm,
        name="subscription_resume_confirm",
    ),
    path("subscription/<int:pk>/cancel/", views.cancel, name="subscription_cancel"),
    path(
        "subscription/<int:pk>/cancel/confirm/",
        views.cancel_confirm,
        name="subscription_cancel_confirm",
    ),
    path(
        "subscription/<int:pk>/cancel/undo/",
        views.undo_cancel,
        name="subscription_undo_cancel",
    ),
    path(
        "subscription/<int:pk>/plan-change/undo/",
        views.undo_plan_change,
        name="subscription_undo_plan_change",
    ),
]
