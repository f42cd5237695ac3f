"""Every write that matters in the billing app, one function per operation.

Import from here: ``from subscriptions.services import subscription_pause``.
"""

from .invoices import (
    LineSpec,
    invoice_create,
    invoice_issue,
    invoice_mark_overdue,
    invoice_mark_uncollectible,
    invoice_pay,
    invoice_void,
    next_invoice_number,
)
from .payments import (
    StatusUpdate,
    invoice_mark_paid_offline,
    new_order_id,
    payment_apply_status,
    payment_create,
    payment_record_refund,
)
from .proration import ProrationQuote, subscription_change_plan_quote
from .subscriptions import (
    PlanChangeResult,
    subscription_activate,
    subscription_cancel,
    subscription_cancel_scheduled_change,
    subscription_change_plan,
    subscription_create,
    subscription_create_renewal_invoice,
    subscription_expire,
    subscription_mark_past_due,
    subscription_pause,
    subscription_reactivate,
    subscription_renew,
    subscription_resume,
    subscription_undo_cancel,
)

__all__ = [
    "LineSpec",
    "PlanChangeResult",
    "ProrationQuote",
    "StatusUpdate",
    "invoice_create",
    "invoice_issue",
    "invoice_mark_overdue",
    "invoice_mark_paid_offline",
    "invoice_mark_uncollectible",
    "invoice_pay",
    "invoice_void",
    "new_order_id",
    "next_invoice_number",
    "payment_apply_status",
    "payment_create",
    "payment_record_refund",
    "subscription_activate",
    "subscription_cancel",
    "subscription_cancel_scheduled_change",
    "subscription_change_plan",
    "subscription_change_plan_quote",
    "subscription_create",
    "subscription_create_renewal_invoice",
    "subscription_expire",
    "subscription_mark_past_due",
    "subscription_pause",
    "subscription_reactivate",
    "subscription_renew",
    "subscription_resume",
    "subscription_undo_cancel",
]

# Gateway-backed payments: checkout, and the gateway actions on a payment.
from .checkout import checkout_expire_earlier_attempts, checkout_start
from .gateway_ops import (
    payment_apply_gateway_transaction,
    payment_approve_challenge,
    payment_cancel,
    payment_check_status,
    payment_deny_challenge,
    payment_expire,
    payment_refund,
)

__all__ += [
    "checkout_expire_earlier_attempts",
    "checkout_start",
    "payment_apply_gateway_transaction",
    "payment_approve_challenge",
    "payment_cancel",
    "payment_check_status",
    "payment_deny_challenge",
    "payment_expire",
    "payment_refund",
]
