"""URLs of the billing app: the Midtrans webhook and the sandbox's payment page.

Include at the site root: ``path("", include("subscriptions.urls"))``.
"""

from django.urls import path

from . import views, webhooks

app_name = "subscriptions"

urlpatterns = [
    path("webhooks/midtrans/", webhooks.midtrans_webhook, name="midtrans_webhook"),
    path("sandbox/pay/<str:token>/", views.sandbox_pay, name="sandbox_pay"),
]
