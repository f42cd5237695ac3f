from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WalletsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "wallets"
    verbose_name = _("Wallets")

    def ready(self) -> None:
        from subscriptions import signals
        from subscriptions.balances import register_customer_balance
        from subscriptions.collectors import register_collector
        from subscriptions.services import billing_run

        from . import receivers
        from .services import ABANDONED_TOPUPS_STEP, WalletBalance, wallet_autopay_invoice

        register_collector("wallet", wallet_autopay_invoice)
        register_customer_balance(WalletBalance())
        if all(step.name != ABANDONED_TOPUPS_STEP.name for step in billing_run.STEPS):
            billing_run.register_step(ABANDONED_TOPUPS_STEP)

        signals.payment_success.connect(
            receivers.on_payment_success, dispatch_uid="wallets.on_payment_success"
        )
        signals.payment_failed.connect(
            receivers.on_payment_failed, dispatch_uid="wallets.on_payment_failed"
        )
