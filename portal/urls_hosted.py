"""The hosted invoice page: one invoice, viewable and payable by whoever holds its signed
link (included at ``i/``, namespace "hosted")."""

from django.urls import path

from . import views_hosted as views

app_name = "hosted"

urlpatterns = [
    path("<str:token>/", views.hosted_invoice, name="invoice"),
    path("<str:token>/pay/", views.hosted_invoice_pay, name="pay"),
]
