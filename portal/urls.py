from django.contrib import admin
from django.urls import include, path

from .health import healthz, readyz
from .languages import set_language

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("i18n/setlang/", set_language, name="set_language"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("", include("subscriptions.urls")),
    path("billing/", include("portal.urls_checkout")),
    path("i/", include("portal.urls_hosted")),
    path("", include("portal.urls_portal")),
]
