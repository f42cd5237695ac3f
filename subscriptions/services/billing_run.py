"""The billing run: find everything that is due and handle it, one row at a time.

Each step walks the ids of due rows in batches (keyset pagination, so memory stays
flat at any size), then handles each row in its own transaction: the row is locked
with ``SELECT ... FOR UPDATE SKIP LOCKED`` *and the due condition is checked again
under the lock*. So:

- two runs at once (two machines, a cron overlap) never handle one row twice: the
  second skips rows the first holds and re-checks the rest after the first commits;
- a run killed halfway leaves every row either done or untouched, and the next run
  finishes the job;
- a failure on one row is recorded in the report and the run goes on.

A renewal takes two short transactions. The first locks the subscription and issues
its renewal invoice (numbered, open), recording that the run will collect it; the
second locks that invoice and collects it (wallet auto-pay: payment, debit,
settlement, renewal). The year's invoice counter row, locked from the number's
UPDATE to the commit, is thus held for a few statements instead of the whole
renewal, so two workers no longer queue on it. An invoice that a crash left between
the two (issued, never attempted) is collected by the "renewal collection" step of
the next run, once: the second transaction records a refusal, and a paid invoice is
no longer open.

Reminders are sent once: each is recorded as a ``BillingEvent`` with a unique key in
the same transaction as the signal that announces it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from django.db import IntegrityError, models, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from .. import signals
from ..app_settings import app_settings
from ..collectors import collect_invoice
from ..exceptions import BillingError, GatewayError, InvoiceNotPayable
from ..models import (
    BillingEvent,
    Invoice,
    InvoiceReason,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    Subscription,
    SubscriptionStatus,
)
from .invoices import invoice_mark_overdue, invoice_void
from .settlement import LOCAL_GATEWAYS, invoice_pay, payment_expire, refund_send
from .subscriptions import (
    renewal_period,
    subscription_cancel,
    subscription_create_renewal_invoice,
    subscription_expire,
    subscription_mark_past_due,
    subscription_resume,
)

logger = logging.getLogger(__name__)
S = SubscriptionStatus


@dataclass
class BillingReport:
    counts: Counter = field(default_factory=Counter)
    failures: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        lines = [f"{kind}: {count}" for kind, count in sorted(self.counts.items()) if count]
        lines.append(f"failures: {len(self.failures)}")
        lines.extend(f"  {kind} {item}: {reason}" for kind, item, reason in self.failures)
        return "\n".join(lines)


@dataclass(frozen=True)
class Step:
    name: str
    model: type[models.Model]
    due: Callable[[dt.datetime], Q]  # the condition, checked again under the lock
    # Returns a count key or None, or a callable that ``run_billing`` calls once the
    # row's transaction has committed (the renewals' second transaction), which
    # returns the count key.
    handle: Callable[[models.Model, dt.datetime], str | Callable[[], str | None] | None]
    prepare: Callable[[models.QuerySet, dt.datetime], models.QuerySet] = lambda qs, now: qs
    # False for steps that call the gateway: no row lock may be held over an HTTP call
    # (the sandbox answers by posting a notification that locks the same row). Their
    # handler re-reads the row and relies on the service's own lock and idempotency.
    locked: bool = True
    # Related rows read in the same query as the locked row (not locked themselves).
    related: tuple[str, ...] = ()


def _once(key: str, kind: str, **links) -> bool:
    """Record a once-only fact; False when it was recorded before (by any run)."""
    try:
        with transaction.atomic():
            BillingEvent.objects.create(key=key, kind=kind, **links)
    except IntegrityError:
        return False
    return True


def _collect_or_leave_open(invoice: Invoice, now: dt.datetime) -> bool:
    if invoice.total <= 0:
        invoice_pay(invoice=invoice, now=now)
        return True
    return collect_invoice(invoice) is not None


# A renewal's second transaction: its invoice was issued by the first one, which also
# recorded ``_SCHEDULED``; a refusal is recorded as ``_DECLINED`` in the second. An open
# invoice with the first and without the second was never attempted.
_SCHEDULED = "renewal_collection"
_DECLINED = "renewal_collection_declined"


def _schedule_collection(invoice: Invoice) -> None:
    # A fresh invoice's key cannot exist yet: no savepoint, no IntegrityError to catch.
    BillingEvent.objects.create(
        key=f"collect:{invoice.pk}",
        kind=_SCHEDULED,
        invoice=invoice,
        subscription_id=invoice.subscription_id,
    )


def _marked(kind: str) -> Exists:
    return Exists(BillingEvent.objects.filter(invoice=OuterRef("pk"), kind=kind))


def _with_collection_marks(qs: models.QuerySet) -> models.QuerySet:
    return qs.annotate(
        collection_scheduled=_marked(_SCHEDULED), collection_declined=_marked(_DECLINED)
    )


def _never_attempted() -> Q:
    """Open, issued by a renewal's first transaction, and not attempted by a second."""
    return Q(
        status=InvoiceStatus.OPEN,
        reason__in=[InvoiceReason.RENEWAL, InvoiceReason.TRIAL_END],
        collection_scheduled=True,
    ) & ~Q(collection_declined=True)


def _collect_renewal(invoice: Invoice, now: dt.datetime) -> str:
    """Collect a renewal or trial-end invoice issued by the run, inside the caller's
    transaction; a refusal is recorded, so that it is never attempted again."""
    try:
        paid = _collect_or_leave_open(invoice, now)
    except InvoiceNotPayable:  # a free renewal paid meanwhile by another run
        paid = False
    if paid:
        return (
            "trials_converted" if invoice.reason == InvoiceReason.TRIAL_END else "renewed_auto_paid"
        )
    # Refused, or paid meanwhile by another run (a collector that finds the invoice paid
    # refuses it). Decide under the invoice's lock, and record the refusal once.
    still_open = (
        _with_collection_marks(Invoice.objects.all())
        .select_for_update(of=("self",))
        .filter(_never_attempted(), pk=invoice.pk)
        .values_list("pk", flat=True)
        .first()
        is not None
    )
    if not still_open or not _once(
        f"collect-declined:{invoice.pk}",
        _DECLINED,
        invoice=invoice,
        subscription_id=invoice.subscription_id,
    ):
        return "skipped"
    if invoice.reason == InvoiceReason.TRIAL_END:
        subscription_mark_past_due(subscription=Subscription(pk=invoice.subscription_id), now=now)
        return "trials_unpaid"
    return "renewal_invoiced"


def _then_collect(invoice: Invoice, now: dt.datetime) -> Callable[[], str | None]:
    """The second transaction of a renewal, run by ``run_billing`` once the first one
    (which issued ``invoice``) has committed.

    No lock is taken first: paying locks the invoice and refuses one that is no longer
    payable, so a concurrent "renewal collection" step of another run cannot make it
    pay twice, and a refusal is recorded under the lock (``_collect_renewal``).
    """

    def collect() -> str | None:
        with transaction.atomic():
            return _collect_renewal(invoice, now)

    return collect


# --- Steps -------------------------------------------------------------------------------


def _resume(sub: Subscription, now: dt.datetime) -> str:
    subscription_resume(subscription=sub, now=now)
    return "resumed"


def _scheduled_cancel(sub: Subscription, now: dt.datetime) -> str:
    subscription_cancel(subscription=sub, at_period_end=False, now=now)
    return "cancelled_at_period_end"


def _renewal_invoice_exists() -> Exists:
    return Exists(
        Invoice.objects.filter(
            subscription=OuterRef("pk"),
            period_start=OuterRef("current_period_end"),
            reason__in=[InvoiceReason.RENEWAL, InvoiceReason.TRIAL_END],
        ).exclude(status=InvoiceStatus.VOID)
    )


class _IssuedMeanwhile(Exception):  # not an error: the row is skipped
    """Another run issued this renewal after this run's due check read the database."""


def _issue_renewal(sub: Subscription, now: dt.datetime) -> Callable[[], str | None]:
    # The invoice is collected in a transaction of its own (see the module's docstring).
    try:
        invoice = subscription_create_renewal_invoice(subscription=sub, now=now)
    except BillingError as error:
        # The lock query's "no renewal invoice yet" was read before another run's first
        # transaction committed one: that commit does not change the subscription row,
        # so the lock does not re-check it, and the one-invoice-per-period constraint
        # refuses the second invoice. Not a failure: the row is skipped, and the whole
        # transaction (the number taken from the counter) rolls back.
        if isinstance(error.__cause__, IntegrityError):
            raise _IssuedMeanwhile from error
        raise
    _schedule_collection(invoice)
    return _then_collect(invoice, now)


def _collect_left_open(invoice: Invoice, now: dt.datetime) -> str:
    outcome = _collect_renewal(invoice, now)
    return outcome if outcome == "skipped" else f"recovered_{outcome}"


def _overdue(invoice: Invoice, now: dt.datetime) -> str:
    invoice_mark_overdue(invoice=invoice)
    sub = invoice.subscription
    if sub is not None and invoice.reason in (InvoiceReason.RENEWAL, InvoiceReason.TRIAL_END):
        sub = Subscription.objects.select_for_update().get(pk=sub.pk)
        if sub.status == S.ACTIVE:
            subscription_mark_past_due(subscription=sub, now=now)
    return "invoices_overdue"


def _dunning(invoice: Invoice, now: dt.datetime) -> str | None:
    days_overdue = (now - invoice.due_date).days
    reached = [day for day in app_settings.DUNNING_DAYS if days_overdue >= day]
    if not reached:
        return None
    step = len(reached)
    if not _once(f"dunning:{invoice.pk}:{step}", "dunning", invoice=invoice):
        return None
    if collect_invoice(invoice) is not None:
        return "overdue_auto_paid"
    signals.invoice_payment_reminder.send(
        sender=Invoice, instance=invoice, reminder_number=step, days_overdue=days_overdue
    )
    return "dunning_reminders"


def _expire_past_due(sub: Subscription, now: dt.datetime) -> str:
    subscription_expire(subscription=sub, now=now)
    return "expired_after_grace"


def _expire_pending(sub: Subscription, now: dt.datetime) -> str:
    subscription_expire(subscription=sub, now=now)
    return "expired_unpaid_signups"


def _renewal_reminder(sub: Subscription, now: dt.datetime) -> str | None:
    key = f"renewal-reminder:{sub.pk}:{sub.current_period_end.isoformat()}"
    if not _once(key, "renewal_reminder", subscription=sub):
        return None
    _, _, plan = renewal_period(sub)
    signals.subscription_renewal_upcoming.send(
        sender=Subscription,
        instance=sub,
        renews_at=sub.current_period_end,
        plan=plan,
        amount=plan.price,
    )
    return "renewal_reminders"


def _trial_reminder(sub: Subscription, now: dt.datetime) -> str | None:
    if not _once(
        f"trial-reminder:{sub.pk}:{sub.trial_end.isoformat()}", "trial_reminder", subscription=sub
    ):
        return None
    signals.subscription_trial_will_end.send(
        sender=Subscription, instance=sub, trial_end=sub.trial_end
    )
    return "trial_reminders"


def _expire_stale_payment(payment: Payment, now: dt.datetime) -> str | None:
    update = payment_expire(payment=payment)
    if update.payment.status == PaymentStatus.EXPIRE:
        return "stale_payments_expired"
    if update.changed:
        return "stale_payments_updated"  # it had been paid or failed meanwhile
    return None


def _send_refund(refund: Refund, now: dt.datetime) -> str | None:
    try:
        refund = refund_send(refund=refund)
    except GatewayError as error:
        logger.warning("Refund %s: %s", refund.refund_key, error)
        return "refunds_failed"
    return "refunds_sent" if refund.status == RefundStatus.SUCCEEDED else None


def _void_abandoned_upgrade(invoice: Invoice, now: dt.datetime) -> str:
    invoice_void(invoice=invoice, reason="Upgrade not paid; the plan was not changed", now=now)
    return "abandoned_upgrades_voided"


def _days(name: str) -> dt.timedelta:
    return dt.timedelta(days=getattr(app_settings, name))


COLLECTION = Step(
    "renewal collection",
    Invoice,
    # Issued by the first transaction of an earlier run's renewal and never attempted:
    # its second transaction did not commit (a crash, an error). This run's own renewals
    # (issued at ``now``) are collected by their second transaction; a worker that
    # started later may still find one in between, which the lock and the re-check
    # make harmless (it is collected once, by whichever locks it first).
    lambda now: _never_attempted() & Q(issued_at__lt=now),
    _collect_left_open,
    prepare=lambda qs, now: _with_collection_marks(qs),
)


STEPS: list[Step] = [
    Step(
        "auto-resume",
        Subscription,
        lambda now: Q(status=S.PAUSED, resume_at__lte=now),
        _resume,
    ),
    Step(
        "scheduled cancellations",
        Subscription,
        lambda now: Q(
            status__in=[S.ACTIVE, S.TRIALING],
            cancel_at_period_end=True,
            current_period_end__lte=now,
        ),
        _scheduled_cancel,
    ),
    Step(
        "trial endings",
        Subscription,
        lambda now: (
            Q(status=S.TRIALING, cancel_at_period_end=False, current_period_end__lte=now)
            & ~Q(has_renewal_invoice=True)
        ),
        _issue_renewal,
        prepare=lambda qs, now: qs.annotate(has_renewal_invoice=_renewal_invoice_exists()),
        related=("plan", "user"),
    ),
    Step(
        "renewals",
        Subscription,
        lambda now: (
            Q(status=S.ACTIVE, cancel_at_period_end=False, current_period_end__lte=now)
            & ~Q(has_renewal_invoice=True)
        ),
        _issue_renewal,
        prepare=lambda qs, now: qs.annotate(has_renewal_invoice=_renewal_invoice_exists()),
        related=("plan", "user"),
    ),
    COLLECTION,
    Step(
        "overdue invoices",
        Invoice,
        # An unpaid upgrade is not a debt: it is voided below, never dunned.
        lambda now: (
            Q(status=InvoiceStatus.OPEN, due_date__lte=now) & ~Q(reason=InvoiceReason.PLAN_CHANGE)
        ),
        _overdue,
    ),
    Step(
        "dunning",
        Invoice,
        lambda now: Q(
            status=InvoiceStatus.OVERDUE,
            due_date__lte=now - dt.timedelta(days=min(app_settings.DUNNING_DAYS, default=1)),
        ),
        _dunning,
    ),
    Step(
        "expiry after grace",
        Subscription,
        lambda now: Q(status=S.PAST_DUE, past_due_at__lte=now - _days("GRACE_PERIOD_DAYS")),
        _expire_past_due,
    ),
    Step(
        "unpaid sign-ups",
        Subscription,
        # current_period_start is when it was (re)started, awaiting its first payment.
        lambda now: Q(
            status=S.PENDING,
            current_period_start__lte=now - _days("PENDING_SUBSCRIPTION_DAYS"),
        ),
        _expire_pending,
    ),
    Step(
        "stale pending payments",
        Payment,
        # Old, or left behind by an invoice that was paid another way or voided (a
        # settlement of it would be returned as an overpayment: better stopped).
        lambda now: (
            Q(status=PaymentStatus.PENDING)
            & (
                Q(created_at__lte=now - dt.timedelta(hours=app_settings.PENDING_PAYMENT_HOURS))
                | Q(invoice__status__in=[InvoiceStatus.PAID, InvoiceStatus.VOID])
            )
            & ~Q(gateway__in=LOCAL_GATEWAYS)
        ),
        _expire_stale_payment,
        locked=False,
    ),
    Step(
        "refunds in flight",
        Refund,
        # Recorded, but the gateway was not reached (or the task that sends an
        # overpayment's return did not run): sent again with the same refund key.
        lambda now: Q(status=RefundStatus.PENDING, created_at__lte=now - dt.timedelta(minutes=5)),
        _send_refund,
        locked=False,
    ),
    Step(
        "abandoned upgrades",
        Invoice,
        lambda now: (
            Q(
                status=InvoiceStatus.OPEN,
                reason=InvoiceReason.PLAN_CHANGE,
                issued_at__lte=now - dt.timedelta(hours=app_settings.PENDING_PAYMENT_HOURS),
            )
            & ~Q(has_pending_payment=True)
        ),
        _void_abandoned_upgrade,
        prepare=lambda qs, now: qs.annotate(
            has_pending_payment=Exists(
                Payment.objects.filter(invoice=OuterRef("pk"), status=PaymentStatus.PENDING)
            )
        ),
    ),
    Step(
        "trial reminders",
        Subscription,
        lambda now: Q(
            status=S.TRIALING,
            cancel_at_period_end=False,
            trial_end__gt=now,
            trial_end__lte=now + _days("TRIAL_REMINDER_DAYS"),
        ),
        _trial_reminder,
    ),
    Step(
        "renewal reminders",
        Subscription,
        lambda now: Q(
            status=S.ACTIVE,
            cancel_at_period_end=False,
            current_period_end__gt=now,
            current_period_end__lte=now + _days("RENEWAL_REMINDER_DAYS"),
        ),
        _renewal_reminder,
    ),
]


def register_step(step: Step) -> None:
    """Let another app add a step (the gateway layer expires stale pending payments)."""
    STEPS.append(step)


def _due_ids(step: Step, now: dt.datetime, batch_size: int) -> Iterator[int]:
    last = 0
    while True:
        qs = step.prepare(step.model._default_manager.all(), now)
        batch = list(
            qs.filter(step.due(now), pk__gt=last)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        yield from batch
        if len(batch) < batch_size:
            return
        last = batch[-1]


def _lock_if_still_due(step: Step, pk: int, now: dt.datetime):
    qs = step.prepare(step.model._default_manager.all(), now)
    if step.related:
        qs = qs.select_related(*step.related)
    # FOR UPDATE OF the row itself: neither the annotation's subquery nor the related
    # rows are locked.
    return qs.select_for_update(skip_locked=True, of=("self",)).filter(step.due(now), pk=pk).first()


def run_billing(
    *,
    now: dt.datetime | None = None,
    batch_size: int | None = None,
    progress: Callable[[str], None] | None = None,
    steps: Iterable[Step] | None = None,
) -> BillingReport:
    """Every step of ``STEPS`` in order (or only ``steps``, a subset of them)."""
    now = now or timezone.now()
    batch_size = batch_size or app_settings.BILLING_BATCH_SIZE
    report = BillingReport()
    say = progress or (lambda message: None)
    for step in STEPS if steps is None else steps:
        say(f"{step.name}…")
        handled = 0
        for pk in _due_ids(step, now, batch_size):
            try:
                if step.locked:
                    with transaction.atomic():
                        obj = _lock_if_still_due(step, pk, now)
                        if obj is None:
                            report.counts["skipped"] += 1
                            continue
                        outcome = step.handle(obj, now)
                    if callable(outcome):  # a second transaction, after the first committed
                        outcome = outcome()
                else:
                    obj = step.model._default_manager.filter(step.due(now), pk=pk).first()
                    if obj is None:
                        report.counts["skipped"] += 1
                        continue
                    outcome = step.handle(obj, now)
            except _IssuedMeanwhile:
                report.counts["skipped"] += 1
                continue
            except Exception as error:  # one bad row must not stop the run
                logger.exception(
                    "Billing step %s failed for %s #%s", step.name, step.model.__name__, pk
                )
                report.failures.append((step.name, f"{step.model.__name__} #{pk}", str(error)))
                continue
            if outcome:
                report.counts[outcome] += 1
            handled += 1
            if handled % 1000 == 0:
                say(f"  {step.name}: {handled}")
        if handled:
            say(f"  {step.name}: {handled} done")
    return report
