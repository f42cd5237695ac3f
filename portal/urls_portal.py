"""Customer portal URLs (namespace ``portal``), one module per area of the portal."""

from django.urls import include, path

from . import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("billing/", views.dashboard, name="dashboard"),
    path("billing/", include("portal.urls_subscription")),
    path("billing/", include("portal.urls_wallet")),
    path("billing/", include("portal.urls_invoices")),
    path("billing/", include("portal.urls_notifications")),
]
