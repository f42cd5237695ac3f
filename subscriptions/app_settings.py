"""Every ``SUBSCRIPTIONS_*`` setting with its default, in one place (allauth's pattern).

Read them as ``app_settings.INVOICE_DUE_DAYS`` (and Midtrans' keys as
``midtrans_settings.SERVER_KEY``); each is looked up in Django's settings on access,
so ``override_settings`` in tests works.
"""

from __future__ import annotations

from django.conf import settings

DEFAULTS = {
    # Currency of new plans and invoices.
    "CURRENCY": "IDR",
    # Prefix of invoice numbers: INV-2026-000042.
    "INVOICE_PREFIX": "INV",
    # Days between an invoice being issued and its due date.
    "INVOICE_DUE_DAYS": 7,
    # Minutes a proration quote stays valid for confirmation.
    "QUOTE_VALID_MINUTES": 30,
    # Days a past_due subscription keeps access before it expires.
    "GRACE_PERIOD_DAYS": 14,
    # Prefix of gateway order ids (letters, digits, - _ ~ . only).
    "ORDER_ID_PREFIX": "SUB",
    # The billing run (manage.py run_billing): reminders this many days before a renewal
    # and before a trial ends; dunning reminders this many days after an invoice's due
    # date; a pending subscription whose first invoice is unpaid expires after
    # PENDING_SUBSCRIPTION_DAYS; a pending gateway payment after PENDING_PAYMENT_HOURS.
    "RENEWAL_REMINDER_DAYS": 3,
    "TRIAL_REMINDER_DAYS": 3,
    "DUNNING_DAYS": (1, 3, 7),
    "PENDING_SUBSCRIPTION_DAYS": 7,
    "PENDING_PAYMENT_HOURS": 24,
    # Rows the billing run reads per query while it walks what is due.
    "BILLING_BATCH_SIZE": 500,
    # Payment gateway: "midtrans", "sandbox", or "" to choose by configuration (Midtrans
    # when MIDTRANS_SERVER_KEY is set, else the offline sandbox).
    "GATEWAY": "",
    # The sandbox marks payments paid at a click: with DEBUG off it refuses to run
    # unless this is True (a staging server, never production).
    "SANDBOX_ALLOWED": False,
    # Minutes a checkout (Snap token / sandbox payment page) stays payable.
    "CHECKOUT_EXPIRY_MINUTES": 24 * 60,
    # The finish page polls for the webhook every POLL seconds, for at most TIMEOUT.
    "CHECKOUT_POLL_SECONDS": 2,
    "CHECKOUT_POLL_TIMEOUT_SECONDS": 90,
    # HTTP to the gateway: (connect, read) timeouts in seconds, retries on network
    # errors only (never on an answer), and the first back-off in seconds (doubling).
    "GATEWAY_TIMEOUT": (5, 30),
    "GATEWAY_RETRIES": 2,
    "GATEWAY_RETRY_BACKOFF": 0.5,
    # Money that arrives for an invoice already paid or void is returned: "gateway" refunds
    # it through the gateway (falling back to the customer's wallet where the gateway
    # cannot refund that payment type), "wallet" credits the wallet at once.
    "OVERPAYMENT_RETURN": "gateway",
    # Seconds an invoice stays claimed by one payment attempt while its gateway calls run
    # (a second attempt started meanwhile is refused).
    "CHECKOUT_CLAIM_SECONDS": 60,
    # Timeouts of the sandbox's notification POST to our own webhook.
    "SANDBOX_NOTIFY_TIMEOUT": (3, 20),
    # The Midtrans webhook reads at most this many bytes of a request body and answers a
    # larger one 413 (Midtrans' notifications are a few KB).
    "WEBHOOK_MAX_BODY_BYTES": 64 * 1024,
    # manage.py prune_webhook_logs (also run at the end of run_billing) deletes webhook
    # logs older than this many days, never a processed one (the record of a change to a
    # payment); a request that was never validly signed (malformed, unsigned, too large)
    # goes sooner, after WEBHOOK_UNVERIFIED_LOG_RETENTION_DAYS.
    "WEBHOOK_LOG_RETENTION_DAYS": 90,
    "WEBHOOK_UNVERIFIED_LOG_RETENTION_DAYS": 7,
}

# Midtrans' own settings keep Midtrans' names (MIDTRANS_SERVER_KEY, ...).
MIDTRANS_DEFAULTS = {
    "SERVER_KEY": "",
    "CLIENT_KEY": "",
    "MERCHANT_ID": "",
    # Production hosts (app.midtrans.com / api.midtrans.com) instead of the sandbox ones.
    "IS_PRODUCTION": False,
    # Sent as X-Override-Notification (up to 3 URLs, comma-separated) when set.
    "NOTIFICATION_URL": "",
    # Re-fetch a notification's status from the Core API before applying it.
    "VERIFY_STATUS": False,
    # Overrides of the API hosts (tests point these at a local HTTP server).
    "API_BASE_URL": "",
    "SNAP_BASE_URL": "",
}


class _AppSettings:
    def __init__(self, prefix: str, defaults: dict) -> None:
        self._prefix = prefix
        self._defaults = defaults

    def __getattr__(self, name: str):
        defaults = self.__dict__.get("_defaults", {})
        if name not in defaults:
            raise AttributeError(name)
        return getattr(settings, self._prefix + name, defaults[name])


app_settings = _AppSettings("SUBSCRIPTIONS_", DEFAULTS)
midtrans_settings = _AppSettings("MIDTRANS_", MIDTRANS_DEFAULTS)
