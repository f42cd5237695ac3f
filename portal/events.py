"""Names of the HTMX events the portal sends with ``HX-Trigger`` (one place, so the
templates that listen with ``hx-trigger="<name> from:body"`` and the views that send
them cannot drift apart)."""

SUBSCRIPTION_CHANGED = "subscription-changed"
WALLET_CHANGED = "wallet-changed"
INVOICES_CHANGED = "invoices-changed"
NOTIFICATIONS_CHANGED = "notifications-changed"
