"""Billing emails: queue one per event inside the transaction, send it after the commit.

How an email travels:

1. A receiver calls ``queue_email`` inside the billing transaction. That writes a
   ``SentEmail`` row (an outbox row) whose ``idempotency_key`` is unique, and enqueues
   the ``send_email`` task: with django-tasks-db's queue its row is written in the same
   transaction; with any other backend ``transaction.on_commit`` enqueues it. A
   rolled-back change leaves neither the row nor the task; an event announced twice
   finds the row and queues nothing.
2. The task (``portal/tasks.py``, django-tasks) calls ``deliver``: it claims the row
   (queued -> sending, a conditional UPDATE, so two workers cannot both send it),
   checks that the email still says something true (an "invoice issued" for an
   invoice paid meanwhile is skipped: that is how one action that sends two signals
   gets one email), renders it from ``templates/emails/<kind>.html`` and sends it
   through whatever ``EMAIL_BACKEND`` is configured.
3. A transient failure (connection refused, timeout, a 4xx SMTP answer, an HTTP 5xx
   from an email API) puts the row back in the queue and enqueues the task again
   after ``PORTAL_EMAIL_RETRY_DELAYS``; anything else, or the last attempt, marks it
   failed with the error.

Every template holds three partials: ``subject``, ``text`` and ``html``; the text and
HTML bodies are wrapped in ``emails/layout.txt`` / ``emails/layout.html``.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import smtplib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import models, router, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone

from subscriptions.app_settings import app_settings as billing_settings
from subscriptions.models import (
    Invoice,
    InvoiceReason,
    Payment,
    Plan,
    Refund,
    Subscription,
    SubscriptionStatus,
)
from subscriptions.money import format_money
from wallets.app_settings import app_settings as wallet_settings
from wallets.models import TopUp, Wallet

from . import links
from .models import EmailStatus, SentEmail, insert_unless_exists
from .presenters import format_date
from .refunds import DESTINATIONS, describe_refund

logger = logging.getLogger(__name__)

DEFAULT_RETRY_DELAYS = (60, 300, 1800)  # seconds before the 2nd, 3rd and 4th attempt

PAYMENT_METHODS = {
    "credit_card": "card",
    "bank_transfer": "bank transfer",
    "echannel": "bank transfer",
    "qris": "QRIS",
    "gopay": "GoPay",
    "shopeepay": "ShopeePay",
    "wallet": "your wallet balance",
    "offline": "bank transfer",
}


@dataclass(frozen=True)
class EmailKind:
    name: str
    label: str  # for the preview page and the admin
    # Whether the email still says something true when it is about to be sent.
    still_relevant: Any = None


def _invoice_payable(objects: dict) -> bool:
    invoice = objects.get("invoice")
    return invoice is None or invoice.is_payable


def _still_trialing(objects: dict) -> bool:
    sub = objects.get("subscription")
    return (
        sub is not None
        and sub.status == SubscriptionStatus.TRIALING
        and not sub.cancel_at_period_end
    )


def _still_renewing(objects: dict) -> bool:
    sub = objects.get("subscription")
    return (
        sub is not None and sub.status == SubscriptionStatus.ACTIVE and not sub.cancel_at_period_end
    )


def _still_cancelling(objects: dict) -> bool:
    sub = objects.get("subscription")
    return sub is not None and sub.cancel_at_period_end and sub.is_live


KINDS: dict[str, EmailKind] = {
    kind.name: kind
    for kind in (
        EmailKind("subscription_started", "Subscription started (welcome)"),
        EmailKind("trial_ending", "Trial ending", _still_trialing),
        EmailKind("renewal_upcoming", "Renewal upcoming", _still_renewing),
        EmailKind("payment_receipt", "Payment receipt"),
        EmailKind("payment_failed", "Payment failed", _invoice_payable),
        EmailKind("invoice_issued", "Invoice issued", _invoice_payable),
        EmailKind("invoice_overdue", "Invoice overdue (and reminders)", _invoice_payable),
        EmailKind("subscription_paused", "Subscription paused"),
        EmailKind("subscription_resumed", "Subscription resumed"),
        EmailKind("subscription_cancel_scheduled", "Cancellation scheduled", _still_cancelling),
        EmailKind("subscription_ended", "Subscription ended"),
        EmailKind("subscription_expired", "Subscription expired"),
        EmailKind("plan_changed", "Plan changed"),
        EmailKind("topup_completed", "Top-up completed"),
        EmailKind("wallet_low", "Wallet balance low"),
        EmailKind("payment_refunded", "Refund completed"),
        EmailKind("payment_overpaid", "Overpayment being returned"),
        EmailKind("invoice_voided", "Invoice voided"),
    )
}


# --- 1. Queue (inside the transaction) ---------------------------------------------------


def queue_email(
    *,
    kind: str,
    user=None,
    user_id: int | None = None,
    key: str,
    invoice: Invoice | None = None,
    **params,
) -> SentEmail | None:
    """Record the email for this event and send it once the transaction commits.

    ``key`` names the event; the recipient (``user``, or ``user_id`` when the caller
    holds only the id) is added to it. Returns ``None`` when the event's email was
    queued before (by this or any other process).

    With the database task queue (production) the task row is written here, inside the
    transaction, next to the email's row: both commit or roll back with the change
    (no on-commit hook, no extra commit). Any other backend (the immediate one runs the
    task at once) is enqueued after the commit.
    """
    if kind not in KINDS:
        raise ValueError(f"Unknown email kind {kind!r}")
    if user_id is None:
        if user is None:
            raise ValueError("queue_email() needs user or user_id")
        user_id = user.pk
    sent = SentEmail(
        user_id=user_id,
        invoice=invoice,
        kind=kind,
        idempotency_key=f"{key}:user-{user_id}"[:200],
        params=_json_params(params),
    )
    if user is not None:
        sent.user = user
    if not insert_unless_exists(sent):
        return None
    if _enqueues_with_the_transaction(sent):
        # A failure here is raised: the caller's transaction (or the receiver's
        # savepoint) rolls back the email's row with it, no row is left without a task.
        enqueue(sent.pk)
    else:
        # robust: a failure to enqueue is logged, never raised into the committed request.
        transaction.on_commit(lambda: enqueue(sent.pk), robust=True)
    return sent


def _enqueues_with_the_transaction(sent: SentEmail) -> bool:
    """The task queue is django-tasks-db's, in the same database as the email's row, and
    a transaction is open: the task row can be written in it."""
    from .tasks import send_email

    try:
        from django_tasks_db.backend import DatabaseBackend
        from django_tasks_db.models import DBTaskResult
    except ImportError:  # pragma: no cover - not installed
        return False
    if not isinstance(send_email.get_backend(), DatabaseBackend):
        return False
    using = sent._state.db or router.db_for_write(SentEmail)
    if router.db_for_write(DBTaskResult) != using:
        return False
    return transaction.get_connection(using).in_atomic_block


def _json_params(params: dict) -> dict:
    out = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, models.Model):
            out[f"{name}_id"] = value.pk
        elif isinstance(value, dt.datetime):
            out[name] = value.isoformat()
        elif isinstance(value, Decimal):
            out[name] = str(value)
        else:
            out[name] = value
    return out


def enqueue(sent_email_id: int, *, delay: dt.timedelta | None = None) -> None:
    from .tasks import send_email

    task = send_email
    if delay and task.get_backend().supports_defer:
        task = task.using(run_after=timezone.now() + delay)
    task.enqueue(sent_email_id)


# --- 2. Deliver (in the task) -------------------------------------------------------------


def retry_delays() -> tuple[int, ...]:
    return tuple(getattr(settings, "PORTAL_EMAIL_RETRY_DELAYS", DEFAULT_RETRY_DELAYS))


def deliver(sent_email_id: int) -> str:
    """Send one queued email; returns its new status. Safe to call twice."""
    claimed = SentEmail.objects.filter(pk=sent_email_id, status=EmailStatus.QUEUED).update(
        status=EmailStatus.SENDING, attempts=F("attempts") + 1
    )
    if not claimed:
        return "not-queued"
    sent = SentEmail.objects.select_related("user", "invoice").get(pk=sent_email_id)
    try:
        message = build_message(sent)
    except Exception as error:
        _finish(sent, EmailStatus.FAILED, error=f"{type(error).__name__}: {error}")
        raise  # a bug in a template: the task result says FAILED too
    if message is None:
        return _finish(sent, EmailStatus.SKIPPED)
    try:
        message.send()
    except Exception as error:
        delays = retry_delays()
        reason = f"{type(error).__name__}: {error}"
        if is_transient(error) and sent.attempts <= len(delays):
            logger.warning(
                "Email %s attempt %s failed (%s); retrying", sent.pk, sent.attempts, reason
            )
            _finish(sent, EmailStatus.QUEUED, error=reason)
            enqueue(sent.pk, delay=dt.timedelta(seconds=delays[sent.attempts - 1]))
            return "retrying"
        logger.exception("Email %s could not be sent", sent.pk)
        return _finish(sent, EmailStatus.FAILED, error=reason)
    return _finish(sent, EmailStatus.SENT, sent_at=timezone.now(), error="")


def _finish(sent: SentEmail, status: str, **fields) -> str:
    sent.status = status
    for name, value in fields.items():
        setattr(sent, name, value)
    sent.save(update_fields=["status", "subject", "to_email", *fields])
    return status


def is_transient(error: BaseException) -> bool:
    """Worth another try later: the mail server or API could not take it *now*."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _msg in error.recipients.values()]
        return bool(codes) and all(400 <= code < 500 for code in codes)
    if isinstance(error, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError):
        return True
    if isinstance(error, smtplib.SMTPResponseException):
        return 400 <= error.smtp_code < 500
    if isinstance(error, smtplib.SMTPException):  # an OSError too, but not a network one
        return False
    if isinstance(error, OSError):  # refused, reset, timed out, name not resolved
        return True
    status = getattr(error, "status_code", None)  # email APIs (django-anymail, requests)
    return isinstance(status, int) and (status == 429 or status >= 500)


def build_message(sent: SentEmail) -> EmailMultiAlternatives | None:
    """The message to send, or ``None`` when there is no one to send it to or it no
    longer holds (``sent.subject`` and ``sent.to_email`` are filled in)."""
    user = sent.user
    if not user.email or not user.is_active:
        return None
    objects = load_objects(sent)
    kind = KINDS[sent.kind]
    if kind.still_relevant is not None and not kind.still_relevant(objects):
        return None
    rendered = render_email(
        sent.kind, build_context(kind=sent.kind, user=user, params=sent.params, **objects)
    )
    sent.subject = rendered.subject[:255]
    sent.to_email = user.email
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
        headers={"X-Billing-Email": sent.kind},
    )
    message.attach_alternative(rendered.html, "text/html")
    return message


OBJECT_PARAMS: dict[str, type] = {
    "subscription": Subscription,
    "payment": Payment,
    "topup": TopUp,
    "wallet": Wallet,
    "plan": Plan,
    "old_plan": Plan,
    "new_plan": Plan,
    "refund": Refund,
}


def load_objects(sent: SentEmail) -> dict[str, Any]:
    objects: dict[str, Any] = {"invoice": sent.invoice}
    for name, model in OBJECT_PARAMS.items():
        pk = sent.params.get(f"{name}_id")
        if pk is not None:
            objects[name] = model._default_manager.filter(pk=pk).first()
    if objects.get("subscription") is None and sent.invoice is not None:
        objects["subscription"] = sent.invoice.subscription
    return objects


# --- 3. Render ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def render_email(kind: str, context: dict) -> RenderedEmail:
    template = f"emails/{kind}.html"
    subject = " ".join(render_to_string(f"{template}#subject", context).split())
    text_body = render_to_string(f"{template}#text", context)
    html_body = render_to_string(f"{template}#html", context)
    layout = {**context, "subject": subject}
    text = render_to_string("emails/layout.txt", {**layout, "body": _tidy_text(text_body)})
    html = render_to_string("emails/layout.html", {**layout, "body": html_body})
    return RenderedEmail(subject=subject, text=_tidy_text(text), html=html)


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


DATE_PARAMS = ("trial_end", "renews_at", "cancel_at")


def build_context(
    *,
    kind: str,
    user,
    params: dict | None = None,
    invoice: Invoice | None = None,
    subscription: Subscription | None = None,
    payment: Payment | None = None,
    topup: TopUp | None = None,
    wallet: Wallet | None = None,
    plan: Plan | None = None,
    old_plan: Plan | None = None,
    new_plan: Plan | None = None,
    refund: Refund | None = None,
) -> dict[str, Any]:
    """Everything the templates use, from the objects of the event (saved rows when
    sending, unsaved samples in the preview: no queries beyond what they hold)."""
    from .templatetags.portal_tags import brand_name

    params = params or {}
    plan = plan or (subscription.plan if subscription is not None else None)
    context: dict[str, Any] = {
        "kind": kind,
        "user": user,
        "name": user.get_full_name() or user.first_name or "",
        "brand": brand_name(),
        "site_url": settings.SITE_URL,
        "dashboard_url": links.absolute(links.dashboard_path()),
        "subscription_url": links.absolute(links.subscription_path()),
        "plans_url": links.absolute(links.plans_path()),
        "wallet_url": links.absolute(links.wallet_path()),
        "notifications_url": links.absolute(links.notifications_path()),
        "subscription": subscription,
        "plan": plan,
        "payment": payment,
        "payment_method": PAYMENT_METHODS.get(
            getattr(payment, "payment_type", ""), getattr(payment, "payment_type", "")
        ),
        "topup": topup,
        "old_plan": old_plan,
        "new_plan": new_plan,
        "reason": params.get("reason", ""),
        "reminder_number": params.get("reminder_number"),
        "days_overdue": params.get("days_overdue"),
        "previous_status": params.get("previous_status", ""),
        "return_to": DESTINATIONS.get(params.get("return_to", ""), ""),
    }
    for name in DATE_PARAMS:
        value = params.get(name)
        context[name] = format_date(dt.datetime.fromisoformat(value)) if value else ""
    if "amount" in params:
        currency = plan.currency if plan is not None else "IDR"
        context["amount"] = format_money(Decimal(params["amount"]), currency)
    if subscription is not None:
        context["period_end"] = format_date(subscription.current_period_end)
        context["resume_at"] = format_date(subscription.resume_at)
        context["ended_at"] = format_date(subscription.ended_at or subscription.cancelled_at)
        context["trial_end"] = context["trial_end"] or format_date(subscription.trial_end)
    if payment is not None and (refund is not None or "refund_amount" in params):
        amount = params.get("refund_amount")
        context["refunded"] = describe_refund(
            payment, refund, Decimal(amount) if amount is not None else None
        )
    if invoice is not None:
        context.update(invoice_context(invoice))
        context["consequence"] = consequence(invoice, subscription)
    if wallet is None and topup is not None:
        wallet = topup.wallet
    if wallet is not None:
        context["wallet"] = wallet
        context["balance"] = format_money(wallet.balance, wallet.currency)
        context["threshold"] = format_money(wallet_settings.LOW_BALANCE_THRESHOLD, wallet.currency)
    return context


def invoice_context(invoice: Invoice) -> dict[str, Any]:
    start, end = invoice.period_start, invoice.period_end
    return {
        "invoice": invoice,
        "invoice_number": invoice.number or f"#{invoice.pk}",
        "invoice_amount": invoice.total_display,
        "invoice_period": f"{format_date(start)} – {format_date(end)}" if start and end else "",
        "invoice_due": format_date(invoice.due_date),
        "invoice_paid": format_date(invoice.paid_at),
        "invoice_voided": format_date(invoice.voided_at),
        "void_reason": invoice.void_reason.strip().rstrip("."),
        "pay_url": links.hosted_invoice_url(invoice.pk) if invoice.is_payable else "",
        "hosted_url": links.hosted_invoice_url(invoice.pk),
        "invoice_url": _absolute_or_blank(links.invoice_detail_path(invoice.pk)),
        "pdf_url": _absolute_or_blank(links.invoice_pdf_path(invoice.pk)),
    }


def _absolute_or_blank(path: str) -> str:
    return links.absolute(path) if path else ""


def consequence(invoice: Invoice, subscription: Subscription | None) -> str:
    """What happens if the invoice stays unpaid, in one sentence."""
    reason = invoice.reason
    if subscription is not None and reason in (InvoiceReason.RENEWAL, InvoiceReason.TRIAL_END):
        grace = dt.timedelta(days=billing_settings.GRACE_PERIOD_DAYS)
        start = subscription.past_due_at or invoice.due_date
        if start is not None:
            return (
                f"You keep access to {subscription.plan.name} until {format_date(start + grace)}. "
                "If the invoice is still unpaid then, your subscription expires."
            )
        return "If the invoice stays unpaid, your subscription expires after a grace period."
    if subscription is not None and reason in (
        InvoiceReason.SUBSCRIPTION_CREATE,
        InvoiceReason.REACTIVATION,
    ):
        days = billing_settings.PENDING_SUBSCRIPTION_DAYS
        start = subscription.current_period_start
        when = (
            f"on {format_date(start + dt.timedelta(days=days))}" if start else f"after {days} days"
        )
        return (
            f"Your {subscription.plan.name} subscription starts as soon as this invoice is paid. "
            f"If it is still unpaid, the sign-up is cancelled {when}."
        )
    if reason == InvoiceReason.PLAN_CHANGE and invoice.plan is not None:
        return f"You stay on your current plan until this invoice is paid; then you move to {invoice.plan.name}."
    if invoice.due_date and invoice.due_date > timezone.now():
        return f"Please pay it by {format_date(invoice.due_date)}."
    if invoice.due_date:
        return f"It was due on {format_date(invoice.due_date)}; it stays open until it is paid."
    return "The invoice stays open until it is paid."


# --- The admin's invoice timeline ---------------------------------------------------------


def invoice_timeline_entries(invoice: Invoice) -> list:
    """The emails sent (or tried) about an invoice, for ``subscriptions.selectors``'
    invoice timeline (registered in ``PortalConfig.ready``)."""
    from subscriptions.selectors import TimelineEntry

    entries = []
    for sent in invoice.sent_emails.order_by("created_at", "pk"):
        label = sent.subject or (KINDS[sent.kind].label if sent.kind in KINDS else sent.kind)
        detail = f"{sent.get_status_display()}" + (f" to {sent.to_email}" if sent.to_email else "")
        if sent.error and sent.status != EmailStatus.SENT:
            detail += f": {sent.error.splitlines()[0]}"
        entries.append(
            TimelineEntry(sent.sent_at or sent.created_at, "email", f"Email: {label}", detail)
        )
    return entries
