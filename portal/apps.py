from django.apps import AppConfig


class PortalConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "portal"
    verbose_name = "Customer portal"

    def ready(self) -> None:
        from subscriptions import selectors, signals

        from . import languages, receivers  # noqa: F401 (languages: the sign-in receiver)
        from .emails import invoice_timeline_entries

        for signal_name, func in receivers.RECEIVERS.items():
            getattr(signals, signal_name).connect(
                func, dispatch_uid=f"portal.receivers.{func.__name__}"
            )
        # The admin's invoice timeline lists the emails sent about the invoice.
        sources = getattr(selectors, "INVOICE_TIMELINE_SOURCES", None)
        if sources is not None and invoice_timeline_entries not in sources:
            sources.append(invoice_timeline_entries)
