"""Invoice services: create, issue, pay, mark overdue or uncollectible, void.

Paying an invoice applies what it was for (``invoice.reason``): the first period
activates the subscription, a renewal renews it, a plan change switches the plan.
Every write runs in ``transaction.atomic`` with the invoice row locked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ..app_settings import app_settings
from ..exceptions import BillingError
from ..models import (
    PAYABLE_INVOICE_STATUSES,
    Invoice,
    InvoiceLine,
    InvoiceReason,
    InvoiceSequence,
    InvoiceStatus,
    Plan,
    Subscription,
)
from ..money import round_money
from ..transitions import check_invoice


@dataclass(frozen=True)
class LineSpec:
    description: str
    unit_amount: Decimal
    quantity: int = 1
    period_start: dt.datetime | None = None
    period_end: dt.datetime | None = None
    is_proration: bool = False
    plan: Plan | None = None
    amount: Decimal | None = field(default=None)

    def total(self) -> Decimal:
        return self.amount if self.amount is not None else self.unit_amount * self.quantity


def next_invoice_number(*, now: dt.datetime | None = None) -> str:
    """The next number of the year, taken from the locked counter row.

    Must run inside the caller's transaction: the counter row stays locked until it
    commits, so concurrent invoices queue here instead of sharing a number.
    """
    year = timezone.localtime(now or timezone.now()).year
    value = _increment_sequence(year)
    if value is None:  # the first invoice of the year: create the row, then take it
        try:
            with transaction.atomic():
                InvoiceSequence.objects.get_or_create(year=year)
        except IntegrityError:
            pass  # another transaction created the row first; it exists now
        value = _increment_sequence(year)
    return f"{app_settings.INVOICE_PREFIX}-{year}-{value:06d}"


def _increment_sequence(year: int) -> int | None:
    """``last_value + 1`` of the year's counter row, or None when there is no row.

    One ``UPDATE ... RETURNING`` (one round trip instead of a savepoint, a lookup and a
    ``SELECT ... FOR UPDATE``): the UPDATE takes the same row lock, held to the commit.
    """
    table = connection.ops.quote_name(InvoiceSequence._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_value = last_value + 1 WHERE year = %s "  # noqa: S608
            "RETURNING last_value",
            [year],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _lock(invoice: Invoice) -> Invoice:
    return Invoice.objects.select_for_update().get(pk=invoice.pk)


def _assign_issue_fields(invoice: Invoice, now: dt.datetime) -> None:
    invoice.status = InvoiceStatus.OPEN
    invoice.number = next_invoice_number(now=now)
    invoice.issued_at = now
    invoice.due_date = now + dt.timedelta(days=app_settings.INVOICE_DUE_DAYS)


@transaction.atomic(savepoint=False)
def invoice_create(
    *,
    user,
    lines: list[LineSpec],
    reason: str = InvoiceReason.MANUAL,
    subscription: Subscription | None = None,
    plan: Plan | None = None,
    currency: str | None = None,
    period_start: dt.datetime | None = None,
    period_end: dt.datetime | None = None,
    discount: Decimal = Decimal("0"),
    tax: Decimal = Decimal("0"),
    metadata: dict | None = None,
    issue: bool = True,
    now: dt.datetime | None = None,
) -> Invoice:
    """Create an invoice with its lines; issued (numbered, open) unless ``issue=False``.

    No savepoint of its own: inside a caller's transaction, an error rolls the whole
    of it back (the number taken from the counter included)."""
    now = now or timezone.now()
    currency = currency or (plan.currency if plan else app_settings.CURRENCY)
    if not lines:
        raise BillingError(_("An invoice needs at least one line."))
    amounts = [round_money(spec.total(), currency) for spec in lines]
    subtotal = sum(amounts, Decimal("0"))
    total = round_money(subtotal - discount + tax, currency)
    if total < 0:
        raise BillingError(_("An invoice total cannot be negative."))
    invoice = Invoice(
        user=user,
        subscription=subscription,
        reason=reason,
        plan=plan,
        currency=currency,
        subtotal=subtotal,
        discount=discount,
        tax=tax,
        total=total,
        period_start=period_start,
        period_end=period_end,
        metadata=metadata or {},
    )
    if issue:
        _assign_issue_fields(invoice, now)
    try:
        with transaction.atomic():
            invoice.save()
    except IntegrityError as exc:
        raise BillingError(_("An invoice for this period already exists.")) from exc
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            invoice=invoice,
            description=spec.description[:255],
            quantity=spec.quantity,
            unit_amount=round_money(spec.unit_amount, currency),
            amount=amount,
            period_start=spec.period_start,
            period_end=spec.period_end,
            is_proration=spec.is_proration,
            plan=spec.plan,
        )
        for spec, amount in zip(lines, amounts, strict=True)
    )
    return invoice


@transaction.atomic
def invoice_issue(*, invoice: Invoice, now: dt.datetime | None = None) -> Invoice:
    invoice = _lock(invoice)
    check_invoice(invoice.status, InvoiceStatus.OPEN)
    _assign_issue_fields(invoice, now or timezone.now())
    invoice.save(update_fields=["status", "number", "issued_at", "due_date", "updated_at"])
    return invoice


@transaction.atomic
def invoice_mark_overdue(*, invoice: Invoice) -> Invoice:
    invoice = _lock(invoice)
    check_invoice(invoice.status, InvoiceStatus.OVERDUE)
    invoice.status = InvoiceStatus.OVERDUE
    invoice.save(update_fields=["status", "updated_at"])
    return invoice


@transaction.atomic
def invoice_mark_uncollectible(*, invoice: Invoice) -> Invoice:
    invoice = _lock(invoice)
    check_invoice(invoice.status, InvoiceStatus.UNCOLLECTIBLE)
    invoice.status = InvoiceStatus.UNCOLLECTIBLE
    invoice.save(update_fields=["status", "updated_at"])
    return invoice


@transaction.atomic
def invoice_void(*, invoice: Invoice, reason: str, now: dt.datetime | None = None) -> Invoice:
    reason = (reason or "").strip()
    if not reason:
        raise BillingError(_("A reason is required to void an invoice."))
    invoice = _lock(invoice)
    check_invoice(invoice.status, InvoiceStatus.VOID)
    invoice.status = InvoiceStatus.VOID
    invoice.voided_at = now or timezone.now()
    invoice.void_reason = reason
    invoice.save(update_fields=["status", "voided_at", "void_reason", "updated_at"])
    return invoice


def void_payable_invoices(*, subscription: Subscription, reason: str, now: dt.datetime) -> int:
    """Void what a subscription still asks to be paid (it ended; nothing is owed)."""
    count = 0
    for invoice in subscription.invoices.filter(
        status__in=[InvoiceStatus.DRAFT, *PAYABLE_INVOICE_STATUSES]
    ).order_by("pk"):
        invoice_void(invoice=invoice, reason=reason, now=now)
        count += 1
    return count
