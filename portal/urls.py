"""The site's URLs. The error pages are Django's defaults (``handler404``/``handler500``
unset) over the project's templates: ``templates/404.html`` and ``403.html`` (the
portal's layout), ``500.html`` (self-contained: no request, database or static files);
a GET on a POST-only address gets ``405.html`` (``MethodNotAllowedPageMiddleware``).
"""

from django.contrib import admin
from django.urls import include, path

from .health import healthz, readyz
from .languages import set_language
from .views import favicon

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("i18n/setlang/", set_language, name="set_language"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("favicon.ico", favicon, name="favicon"),
    path("", include("subscriptions.urls")),
    path("billing/", include("portal.urls_checkout")),
    path("i/", include("portal.urls_hosted")),
    path("", include("portal.urls_portal")),
]
