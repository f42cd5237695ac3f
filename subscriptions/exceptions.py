"""Domain errors of the billing app.

Services raise these; views, admin actions and webhooks turn them into a clear
message (or a 4xx), never a 500. Each carries a sentence fit to show a customer.

    BillingError
    ├── InvalidTransition      a status change the state machine forbids
    ├── SubscriptionExists     the user already has a live subscription
    ├── PlanUnavailable        the plan is inactive or not a change at all
    ├── QuoteExpired           a proration quote is stale or was tampered with
    ├── InvoiceNotPayable      the invoice is paid, void or has nothing to pay
    │   └── PaymentInProgress  another payment of the invoice is being started
    ├── AmountMismatch         money that does not add up (webhook, refund)
    ├── InsufficientFunds      a wallet debit larger than the balance
    └── GatewayError           the payment gateway refused or could not be reached
        └── GatewayUnavailable a transient gateway failure worth retrying
"""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class BillingError(Exception):
    """Base class: ``str(error)`` is a message fit for the customer, in the language
    active where it was raised (services raise translated messages; a class's
    ``default_message`` is translated when it is raised)."""

    default_message = _("The billing operation could not be completed.")

    def __init__(self, message: str | None = None) -> None:
        super().__init__(str(message or self.default_message))

    @property
    def message(self) -> str:
        return str(self)


class InvalidTransition(BillingError):
    """The requested status change is not allowed from the current status."""

    def __init__(self, message: str | None = None, *, current: str = "", target: str = "") -> None:
        self.current = current
        self.target = target
        super().__init__(
            message
            or gettext("Cannot change status from %(current)s to %(target)s.")
            % {"current": current, "target": target}
        )


class SubscriptionExists(BillingError):
    default_message = _("You already have a subscription. Change its plan instead.")


class PlanUnavailable(BillingError):
    default_message = _("That plan is not available.")


class QuoteExpired(BillingError):
    default_message = _("The price quote has expired or no longer applies. Please review it again.")


class InvoiceNotPayable(BillingError):
    default_message = _("This invoice cannot be paid.")


class PaymentInProgress(InvoiceNotPayable):
    default_message = _(
        "A payment for this invoice is being started right now. Please wait a moment and try again."
    )


class AmountMismatch(BillingError):
    default_message = _("The amount does not match our records.")


class InsufficientFunds(BillingError):
    default_message = _("The wallet balance is too low for this payment.")


class GatewayError(BillingError):
    default_message = _("The payment provider could not process the request.")

    def __init__(
        self, message: str | None = None, *, status_code: int | None = None, body=None
    ) -> None:
        self.status_code = status_code
        self.body = body
        super().__init__(message)


class GatewayUnavailable(GatewayError):
    default_message = _("The payment provider is not reachable right now. Please try again.")
