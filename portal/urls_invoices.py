"""Portal URLs for the invoices pages (included by portal/urls_portal.py, namespace "portal")."""

from django.urls import path

from . import views_invoices

urlpatterns = [
    path("invoices/", views_invoices.invoice_list, name="invoices"),
    path("invoices/<int:pk>/", views_invoices.invoice_detail, name="invoice_detail"),
    path("invoices/<int:pk>/pdf/", views_invoices.invoice_pdf, name="invoice_pdf"),
    path(
        "invoices/<int:pk>/pay/wallet/",
        views_invoices.invoice_pay_wallet,
        name="invoice_pay_wallet",
    ),
]
