"""Checkout URLs, included under ``billing/``: pay an invoice, wait for the payment."""

from django.urls import path

from . import checkout

app_name = "checkout"

urlpatterns = [
    path("invoices/<int:pk>/pay/", checkout.invoice_pay, name="pay"),
    path("checkout/<str:order_id>/finish/", checkout.finish, name="finish"),
]
