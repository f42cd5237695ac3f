"""The production URLs plus bench-only baseline views (never in portal/urls.py).

``/bench/insert/`` stores the request body as one ``WebhookLog`` row and answers 200:
the least a webhook endpoint can do behind the same middleware, and the first thing
the real webhook does too. ``/bench/signed-in/`` answers a signed-in request with a
word: the session and user look-ups every portal request pays. ``/bench/layout/``
renders the portal's page layout (``base.html``: navigation, banners region) with no
content, signed in: the floor under every portal page.
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from portal.urls import urlpatterns as portal_urlpatterns
from subscriptions.models import WebhookLog


@csrf_exempt
@require_POST
def bare_insert(request: HttpRequest) -> JsonResponse:
    WebhookLog.objects.create(provider="bench", body=request.body.decode("utf-8", "replace"))
    return JsonResponse({"status": "ok"})


@login_required
def signed_in(request: HttpRequest) -> HttpResponse:
    return HttpResponse("signed in", content_type="text/plain")


@login_required
def layout_only(request: HttpRequest) -> HttpResponse:
    return render(request, "bench/layout.html")


urlpatterns = [
    path("bench/insert/", bare_insert),
    path("bench/signed-in/", signed_in),
    path("bench/layout/", layout_only),
    *portal_urlpatterns,
]
