"""Portal URLs for the wallet pages (included by portal/urls_portal.py, namespace "portal")."""

from django.urls import path

from . import views_wallet

urlpatterns = [
    path("wallet/", views_wallet.wallet, name="wallet"),
    path("wallet/top-up/", views_wallet.wallet_topup, name="wallet_topup"),
    path("wallet/auto-pay/", views_wallet.wallet_autopay, name="wallet_autopay"),
    path("wallet/top-ups/<str:order_id>/", views_wallet.topup_finish, name="topup_finish"),
]
