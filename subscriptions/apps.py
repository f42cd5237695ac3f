from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "subscriptions"
    verbose_name = "Subscriptions and billing"

    def ready(self) -> None:
        from . import checks  # noqa: F401 (registers the system checks)
        from .signals import connect_dispatchers

        connect_dispatchers()
