"""Proration quotes for plan changes.

A quote is what the customer sees before confirming: what is charged now and what
from the next period. It is signed (``django.core.signing``) and carries the
amounts, so confirming within ``SUBSCRIPTIONS_QUOTE_VALID_MINUTES`` charges exactly
what was shown, provided the subscription is still on the plan and period quoted.

Rules:
- Same billing interval, higher price: an upgrade now. The customer is credited
  the unused part of the current plan and charged the same part of the new one
  (``fraction = time left / period length``); the period does not move.
- A longer interval (monthly to yearly): an upgrade now that starts a new period
  today; the unused part of the current period is credited against the full price.
  If the credit would exceed the new price, it is handled as a downgrade.
- Lower price on the same interval, or a shorter interval: a downgrade, scheduled
  for the period end; nothing is charged now.
- Same price and interval, or any change during a trial: a switch, applied now
  for nothing.
- A sign-up whose first invoice is not paid yet (``pending``): a switch now; the
  unpaid first invoice is voided and a new one issued for the new plan.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from decimal import Decimal

from django.core import signing
from django.utils import timezone
from django.utils.translation import gettext as _

from ..app_settings import app_settings
from ..exceptions import InvalidTransition, PlanUnavailable, QuoteExpired
from ..models import Plan, Subscription, SubscriptionStatus
from ..money import round_money
from ..periods import plan_period_end
from .invoices import LineSpec

SALT = "subscriptions.proration-quote"


@dataclass(frozen=True)
class ProrationQuote:
    kind: str  # "upgrade", "downgrade" or "switch"
    subscription_id: int
    old_plan_id: int
    new_plan_id: int
    currency: str
    credit: Decimal  # unused part of the current plan (>= 0)
    charge: Decimal  # the new plan's part being bought now (>= 0)
    amount_due: Decimal  # charge - credit, never below zero
    next_amount: Decimal  # what each following period costs
    effective_at: dt.datetime
    period_end: dt.datetime  # the subscription's current period end when quoted
    new_period_start: dt.datetime | None  # set when the change starts a new period
    new_period_end: dt.datetime | None
    quoted_at: dt.datetime
    valid_until: dt.datetime
    old_plan_name: str = ""
    new_plan_name: str = ""

    @property
    def is_immediate(self) -> bool:
        return self.kind != "downgrade"

    @property
    def token(self) -> str:
        data = {
            key: (str(value) if isinstance(value, Decimal) else value)
            for key, value in asdict(self).items()
        }
        for key in (
            "effective_at",
            "period_end",
            "new_period_start",
            "new_period_end",
            "quoted_at",
            "valid_until",
        ):
            if data[key] is not None:
                data[key] = data[key].isoformat()
        return signing.dumps(data, salt=SALT, compress=True)

    @classmethod
    def from_token(
        cls, token: str, *, subscription: Subscription, new_plan: Plan, now=None
    ) -> ProrationQuote:
        """Load a quote and check it still applies to ``subscription`` (locked by caller)."""
        now = now or timezone.now()
        max_age = app_settings.QUOTE_VALID_MINUTES * 60
        try:
            data = signing.loads(token, salt=SALT, max_age=max_age)
            for key in ("credit", "charge", "amount_due", "next_amount"):
                data[key] = Decimal(data[key])
            for key in (
                "effective_at",
                "period_end",
                "new_period_start",
                "new_period_end",
                "quoted_at",
                "valid_until",
            ):
                if data[key] is not None:
                    data[key] = dt.datetime.fromisoformat(data[key])
            quote = cls(**data)
        except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
            raise QuoteExpired() from exc
        still_applies = (
            quote.subscription_id == subscription.pk
            and quote.new_plan_id == new_plan.pk
            and quote.old_plan_id == subscription.plan_id
            and quote.period_end == subscription.current_period_end
            and subscription.status
            in (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.PENDING)
            and quote.valid_until >= now
            and new_plan.is_active
        )
        if not still_applies:
            raise QuoteExpired()
        return quote

    def line_specs(self) -> list[LineSpec]:
        local = timezone.localtime
        end = self.new_period_end or self.period_end
        span = f"{local(self.effective_at):%d %b %Y} – {local(end):%d %b %Y}"
        lines = []
        if self.credit:
            lines.append(
                LineSpec(
                    description=f"Unused time on {self.old_plan_name} (after {local(self.effective_at):%d %b %Y})",
                    unit_amount=-self.credit,
                    is_proration=True,
                    period_start=self.effective_at,
                    period_end=self.period_end,
                )
            )
        lines.append(
            LineSpec(
                description=(
                    f"{self.new_plan_name} ({span})"
                    if self.new_period_start
                    else f"Remaining time on {self.new_plan_name} ({span})"
                ),
                unit_amount=self.charge,
                is_proration=self.new_period_start is None,
                period_start=self.effective_at,
                period_end=end,
            )
        )
        return lines

    def as_metadata(self) -> dict:
        return {
            "kind": self.kind,
            "old_plan_id": self.old_plan_id,
            "new_plan_id": self.new_plan_id,
            "credit": str(self.credit),
            "charge": str(self.charge),
            "new_period_start": self.new_period_start.isoformat()
            if self.new_period_start
            else None,
            "quoted_at": self.quoted_at.isoformat(),
        }


def remaining_fraction(start: dt.datetime, end: dt.datetime, now: dt.datetime) -> Decimal:
    """Share of the period [start, end) still ahead at ``now``, between 0 and 1."""
    total = (end - start).total_seconds()
    if total <= 0:
        return Decimal("0")
    left = (end - now).total_seconds()
    left = min(max(left, 0.0), total)
    return Decimal(int(left)) / Decimal(int(total)) if int(total) else Decimal("0")


def quote_plan_change(
    *, subscription: Subscription, new_plan: Plan, now: dt.datetime | None = None
) -> ProrationQuote:
    now = now or timezone.now()
    old_plan = subscription.plan
    if subscription.status not in (
        SubscriptionStatus.ACTIVE,
        SubscriptionStatus.TRIALING,
        SubscriptionStatus.PENDING,
    ):
        raise InvalidTransition(
            _("A %(status)s subscription cannot change plan.")
            % {"status": str(subscription.get_status_display()).lower()},
            current=subscription.status,
            target=subscription.status,
        )
    if subscription.cancel_at_period_end:
        raise InvalidTransition(
            _("This subscription cancels at the period end. Undo the cancellation first."),
            current=subscription.status,
            target=subscription.status,
        )
    if not new_plan.is_active:
        raise PlanUnavailable()
    if new_plan.pk == old_plan.pk:
        raise PlanUnavailable(_("You are already on this plan."))
    if new_plan.pk == subscription.scheduled_plan_id:
        raise PlanUnavailable(_("This plan change is already scheduled."))
    if new_plan.currency != old_plan.currency:
        raise PlanUnavailable(_("Plans in another currency cannot be switched to."))

    currency = new_plan.currency
    start = subscription.current_period_start or now
    end = subscription.current_period_end or now
    fraction = remaining_fraction(start, end, now)
    credit = charge = Decimal("0")
    new_period_start = new_period_end = None
    if subscription.status == SubscriptionStatus.PENDING:
        # Nothing paid yet: the first invoice is replaced by one for the new plan,
        # for a full period from now.
        kind = "switch"
        charge = round_money(new_plan.price, currency)
        new_period_start = now
        new_period_end = plan_period_end(new_plan, now)
    elif subscription.status == SubscriptionStatus.TRIALING:
        kind = "switch"
    elif new_plan.same_interval_as(old_plan):
        if new_plan.price > old_plan.price:
            kind = "upgrade"
            credit = round_money(old_plan.price * fraction, currency)
            charge = round_money(new_plan.price * fraction, currency)
        elif new_plan.price < old_plan.price:
            kind = "downgrade"
        else:
            kind = "switch"
    elif new_plan.approx_days > old_plan.approx_days:
        credit = round_money(old_plan.price * fraction, currency)
        charge = round_money(new_plan.price, currency)
        if charge > credit:
            kind = "upgrade"
            new_period_start = now
            new_period_end = plan_period_end(new_plan, now)
        else:
            kind, credit, charge = "downgrade", Decimal("0"), Decimal("0")
    else:
        kind = "downgrade"

    return ProrationQuote(
        kind=kind,
        subscription_id=subscription.pk,
        old_plan_id=old_plan.pk,
        new_plan_id=new_plan.pk,
        currency=currency,
        credit=credit,
        charge=charge,
        amount_due=max(charge - credit, Decimal("0")),
        next_amount=new_plan.price,
        effective_at=end if kind == "downgrade" else now,
        period_end=end,
        new_period_start=new_period_start,
        new_period_end=new_period_end,
        quoted_at=now,
        valid_until=now + dt.timedelta(minutes=app_settings.QUOTE_VALID_MINUTES),
        old_plan_name=old_plan.name,
        new_plan_name=new_plan.name,
    )


def subscription_change_plan_quote(
    *, subscription: Subscription, new_plan: Plan, now: dt.datetime | None = None
) -> ProrationQuote:
    """The quote the UI shows before a plan change (a read: nothing is written)."""
    return quote_plan_change(subscription=subscription, new_plan=new_plan, now=now)
