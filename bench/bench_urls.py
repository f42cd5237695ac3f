"""The production URLs plus one bench-only baseline view (never in portal/urls.py).

``/bench/insert/`` stores the request body as one ``WebhookLog`` row and answers 200:
the least a webhook endpoint can do behind the same middleware, and the first thing
the real webhook does too.
"""

from django.http import HttpRequest, JsonResponse
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


urlpatterns = [path("bench/insert/", bare_insert), *portal_urlpatterns]
