"""Every write that matters in the billing app, one function per operation.

Import from here: ``from subscriptions.services import subscription_pause``. Money on
an invoice (settling, paying, refunding, returning an overpayment) moves only in
``settlement.py``; its docstring gives the lock order.
"""

from .gateway_ops import (
    payment_approve_challenge,
    payment_cancel,
    payment_check_status,
    payment_deny_challenge,
)
from .invoices import (
    LineSpec,
    invoice_create,
    invoice_issue,
    invoice_mark_overdue,
    invoice_mark_uncollectible,
    invoice_void,
    next_invoice_number,
)
from .payments import new_order_id, payment_create
from .proration import ProrationQuote, subscription_change_plan_quote
from .settlement import (
    StatusUpdate,
    checkout_start,
    invoice_mark_paid_offline,
    invoice_pay,
    invoice_pay_locally,
    payment_apply_gateway_transaction,
    payment_apply_status,
    payment_expire,
    payment_refund,
    payment_refundable_amount,
    refund_send,
)
from .subscriptions import (
    PlanChangeResult,
    subscription_activate,
    subscription_apply_paid_plan_change,
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
    user_trial_available,
)

__all__ = [
    "LineSpec",
    "PlanChangeResult",
    "ProrationQuote",
    "StatusUpdate",
    "checkout_start",
    "invoice_create",
    "invoice_issue",
    "invoice_mark_overdue",
    "invoice_mark_paid_offline",
    "invoice_mark_uncollectible",
    "invoice_pay",
    "invoice_pay_locally",
    "invoice_void",
    "new_order_id",
    "next_invoice_number",
    "payment_apply_gateway_transaction",
    "payment_apply_status",
    "payment_approve_challenge",
    "payment_cancel",
    "payment_check_status",
    "payment_create",
    "payment_deny_challenge",
    "payment_expire",
    "payment_refund",
    "payment_refundable_amount",
    "refund_send",
    "subscription_activate",
    "subscription_apply_paid_plan_change",
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
    "user_trial_available",
]
