from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SubscriptionsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "subscriptions"
    verbose_name = _("Subscriptions and billing")

    def ready(self) -> None:
        from . import checks  # noqa: F401 (registers the system checks)
        from .signals import connect_dispatchers

        connect_dispatchers()
