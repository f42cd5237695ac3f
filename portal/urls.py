from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path


def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("healthz", healthz, name="healthz"),
    path("", include("subscriptions.urls")),
    path("billing/", include("portal.urls_checkout")),
    path("i/", include("portal.urls_hosted")),
    path("", include("portal.urls_portal")),
]
