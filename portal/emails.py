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

An email is written in its recipient's language (``languages.language_of``: the
account's choice, else the site's), whichever process renders it: ``build_message``
activates that language around the rendering, so a request in another language, the
billing run and the task worker all send the same words, dates included.
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
from django.utils import timezone, translation
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop, ngettext, pgettext_lazy

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
from .languages import language_of
from .models import EmailStatus, SentEmail, insert_unless_exists
from .presenters import format_date
from .refunds import DESTINATIONS, describe_refund

logger = logging.getLogger(__name__)

DEFAULT_RETRY_DELAYS = (60, 300, 1800)  # seconds before the 2nd, 3rd and 4th attempt

# How a payment was made, as the receipt says it ("... for invoice INV-1 by card.").
PAYMENT_METHODS = {
    "credit_card": pgettext_lazy("paid by", "card"),
    "bank_transfer": pgettext_lazy("paid by", "bank transfer"),
    "echannel": pgettext_lazy("paid by", "bank transfer"),
    "qris": "QRIS",
    "gopay": "GoPay",
    "shopeepay": "ShopeePay",
    "wallet": pgettext_lazy("paid by", "your wallet balance"),
    "offline": pgettext_lazy("paid by", "bank transfer"),
}

# What became of a failed payment ("... the payment was denied."); any other status
# reads as its label.
PAYMENT_OUTCOMES = {
    "deny": pgettext_lazy("the payment was ...", "denied"),
    "cancel": pgettext_lazy("the payment was ...", "cancelled"),
    "expire": pgettext_lazy("the payment was ...", "expired"),
    "failure": pgettext_lazy("the payment was ...", "failed"),
}

# The admin's invoice timeline: an email's status, alone and with its recipient.
EMAIL_STATUSES = {
    EmailStatus.QUEUED: (gettext_lazy("Queued"), gettext_lazy("Queued for %(email)s")),
    EmailStatus.SENDING: (gettext_lazy("Sending"), gettext_lazy("Sending to %(email)s")),
    EmailStatus.SENT: (gettext_lazy("Sent"), gettext_lazy("Sent to %(email)s")),
    EmailStatus.SKIPPED: (gettext_lazy("Skipped"), gettext_lazy("Skipped for %(email)s")),
    EmailStatus.FAILED: (gettext_lazy("Failed"), gettext_lazy("Failed to %(email)s")),
}


@dataclass(frozen=True)
class EmailKind:
    name: str
    title: str  # the English label (a msgid), for the preview page and the admin
    # Whether the email still says something true when it is about to be sent.
    still_relevant: Any = None

    @property
    def label(self) -> str:
        """The label in the active language."""
        return _(self.title)


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
        EmailKind("subscription_started", gettext_noop("Subscription started (welcome)")),
        EmailKind("trial_ending", gettext_noop("Trial ending"), _still_trialing),
        EmailKind("renewal_upcoming", gettext_noop("Renewal upcoming"), _still_renewing),
        EmailKind("payment_receipt", gettext_noop("Payment receipt")),
        EmailKind("payment_failed", gettext_noop("Payment failed"), _invoice_payable),
        EmailKind("invoice_issued", gettext_noop("Invoice issued"), _invoice_payable),
        EmailKind(
            "invoice_overdue", gettext_noop("Invoice overdue (and reminders)"), _invoice_payable
        ),
        EmailKind("subscription_paused", gettext_noop("Subscription paused")),
        EmailKind("subscription_resumed", gettext_noop("Subscription resumed")),
        EmailKind(
            "subscription_cancel_scheduled",
            gettext_noop("Cancellation scheduled"),
            _still_cancelling,
        ),
        EmailKind("subscription_ended", gettext_noop("Subscription ended")),
        EmailKind("subscription_expired", gettext_noop("Subscription expired")),
        EmailKind("plan_changed", gettext_noop("Plan changed")),
        EmailKind("topup_completed", gettext_noop("Top-up completed")),
        EmailKind("wallet_low", gettext_noop("Wallet balance low")),
        EmailKind("payment_refunded", gettext_noop("Refund completed")),
        EmailKind("payment_overpaid", gettext_noop("Overpayment being returned")),
        EmailKind("invoice_voided", gettext_noop("Invoice voided")),
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
    longer holds (``sent.subject`` and ``sent.to_email`` are filled in).

    Written in the recipient's language, whatever language the sending process
    (a request, the billing run, the task worker) is in."""
    user = sent.user
    if not user.email or not user.is_active:
        return None
    objects = load_objects(sent)
    kind = KINDS[sent.kind]
    if kind.still_relevant is not None and not kind.still_relevant(objects):
        return None
    with translation.override(language_of(user)):
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


class Emphasis:
    """``{{ strong.balance }}`` in a sentence: the context's ``balance`` in ``<strong>``
    in the HTML body and as it is in the text body, so that both bodies say the same
    sentence (one msgid, no markup in it)."""

    def __init__(self, context: dict, *, html: bool) -> None:
        self.context = context
        self.html = html

    def __getitem__(self, name: str) -> Any:
        value = self.context[name]
        if not self.html or value in ("", None):
            return value
        return format_html("<strong>{}</strong>", value)


def render_email(kind: str, context: dict) -> RenderedEmail:
    """The email in the active language (``build_message`` activates the recipient's)."""
    template = f"emails/{kind}.html"
    text_context = {**context, "strong": Emphasis(context, html=False)}
    html_context = {**context, "strong": Emphasis(context, html=True)}
    subject = " ".join(render_to_string(f"{template}#subject", text_context).split())
    text_body = render_to_string(f"{template}#text", text_context)
    html_body = render_to_string(f"{template}#html", html_context)
    layout = {**context, "subject": subject}
    text = render_to_string("emails/layout.txt", {**layout, "body": _tidy_text(text_body)})
    footer_link = '<a href="{}" style="color:#64748b;">{}</a>'
    html = render_to_string(
        "emails/layout.html",
        {
            **layout,
            "body": html_body,
            "brand_link": format_html(footer_link, context["dashboard_url"], context["brand"]),
            "notifications_link": format_html(
                footer_link, context["notifications_url"], _("your notifications")
            ),
        },
    )
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
    sending, unsaved samples in the preview: no queries beyond what they hold), with
    its words and dates in the active language."""
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
        "payment_method": str(
            PAYMENT_METHODS.get(
                getattr(payment, "payment_type", ""), getattr(payment, "payment_type", "")
            )
        ),
        "payment_outcome": _payment_outcome(payment),
        "topup": topup,
        "old_plan": old_plan,
        "new_plan": new_plan,
        "reason": params.get("reason", ""),
        "reminder_number": params.get("reminder_number"),
        "days_overdue": params.get("days_overdue"),
        "previous_status": params.get("previous_status", ""),
        "return_to": str(DESTINATIONS.get(params.get("return_to", ""), "")),
        "plan_name": plan.name if plan is not None else "",
        "new_plan_name": new_plan.name if new_plan is not None else "",
        "topup_amount": topup.amount_display if topup is not None else "",
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
    # The end of a subscription that will not renew; the price of the coming renewal.
    context["ends_on"] = context["cancel_at"] or context.get("period_end", "")
    context["renewal_amount"] = context.get("amount") or (
        plan.price_display if plan is not None else ""
    )
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


# The labels of the invoice's rows in a plain-text email (``emails/_invoice.txt``), whose
# values line up after the longest ("Voided on:" excepted: a rare row, written as is).
TEXT_LABELS = ("Invoice:", "Amount:", "Period:", "Paid on:", "Due on:")


def invoice_context(invoice: Invoice) -> dict[str, Any]:
    start, end = invoice.period_start, invoice.period_end
    return {
        "label_width": max(len(_(label)) for label in TEXT_LABELS),
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


def _payment_outcome(payment: Payment | None) -> str:
    """``denied`` in "the payment was denied", in the active language."""
    if payment is None:
        return ""
    outcome = PAYMENT_OUTCOMES.get(payment.status)
    return str(outcome) if outcome is not None else payment.get_status_display().lower()


def _absolute_or_blank(path: str) -> str:
    return links.absolute(path) if path else ""


def consequence(invoice: Invoice, subscription: Subscription | None) -> str:
    """What happens if the invoice stays unpaid, in the active language."""
    reason = invoice.reason
    if subscription is not None and reason in (InvoiceReason.RENEWAL, InvoiceReason.TRIAL_END):
        grace = dt.timedelta(days=billing_settings.GRACE_PERIOD_DAYS)
        start = subscription.past_due_at or invoice.due_date
        if start is not None:
            return _(
                "You keep access to %(plan)s until %(date)s. "
                "If the invoice is still unpaid then, your subscription expires."
            ) % {"plan": subscription.plan.name, "date": format_date(start + grace)}
        return _("If the invoice stays unpaid, your subscription expires after a grace period.")
    if subscription is not None and reason in (
        InvoiceReason.SUBSCRIPTION_CREATE,
        InvoiceReason.REACTIVATION,
    ):
        days = billing_settings.PENDING_SUBSCRIPTION_DAYS
        start = subscription.current_period_start
        plan = subscription.plan.name
        if start:
            return _(
                "Your %(plan)s subscription starts as soon as this invoice is paid. "
                "If it is still unpaid, the sign-up is cancelled on %(date)s."
            ) % {"plan": plan, "date": format_date(start + dt.timedelta(days=days))}
        return ngettext(
            "Your %(plan)s subscription starts as soon as this invoice is paid. "
            "If it is still unpaid, the sign-up is cancelled after %(days)s day.",
            "Your %(plan)s subscription starts as soon as this invoice is paid. "
            "If it is still unpaid, the sign-up is cancelled after %(days)s days.",
            days,
        ) % {"plan": plan, "days": days}
    if reason == InvoiceReason.PLAN_CHANGE and invoice.plan is not None:
        return _(
            "You stay on your current plan until this invoice is paid; then you move to %(plan)s."
        ) % {"plan": invoice.plan.name}
    if invoice.due_date and invoice.due_date > timezone.now():
        return _("Please pay it by %(date)s.") % {"date": format_date(invoice.due_date)}
    if invoice.due_date:
        return _("It was due on %(date)s; it stays open until it is paid.") % {
            "date": format_date(invoice.due_date)
        }
    return _("The invoice stays open until it is paid.")


# --- The admin's invoice timeline ---------------------------------------------------------


def invoice_timeline_entries(invoice: Invoice) -> list:
    """The emails sent (or tried) about an invoice, for ``subscriptions.selectors``'
    invoice timeline (registered in ``PortalConfig.ready``), in the staff member's
    language; a subject is shown as it was sent (in the recipient's)."""
    from subscriptions.selectors import TimelineEntry

    entries = []
    for sent in invoice.sent_emails.order_by("created_at", "pk"):
        label = sent.subject or (KINDS[sent.kind].label if sent.kind in KINDS else sent.kind)
        alone, to = EMAIL_STATUSES.get(sent.status, (sent.get_status_display(), None))
        detail = str(to) % {"email": sent.to_email} if sent.to_email and to else str(alone)
        if sent.error and sent.status != EmailStatus.SENT:
            # Translators: an email's status in the admin, then the mail server's error.
            detail = _("%(status)s: %(error)s") % {
                "status": detail,
                "error": sent.error.splitlines()[0],
            }
        # Translators: an entry of an invoice's timeline in the admin; subject is the email's.
        title = _("Email: %(subject)s") % {"subject": label}
        entries.append(TimelineEntry(sent.sent_at or sent.created_at, "email", title, detail))
    return entries
