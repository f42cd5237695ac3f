"""Proration quotes for plan changes.

A quote is what the customer sees before confirming: what is charged now and what
from the next period. It is signed (``django.core.signing``) and carries the
amounts, so confirming within ``SUBSCRIPTIONS_QUOTE_VALID_MINUTES`` charges exactly
what was shown, provided the subscription is still on the plan and period quoted.

What a change *is* and *when* it takes effect is decided in one place,
``plan_change_rule``; the quote carries that decision (``kind``, ``at_period_end``)
and the portal names the change from the quote, never from a rule of its own.

Plans are compared by tier, not by their price per period: two plans are the same
tier when they have the same name (the catalogue's monthly and yearly twins, "Pro"
and "Pro"); otherwise the tier that costs more per month (a yearly price counted as
a twelfth per month) is the higher one. Deliberately:

- A higher tier is an **upgrade, now**, whatever the interval.
  Same interval: the unused part of the current plan is credited and the same part
  of the new one charged (``fraction = time left / period length``); the period
  does not move. A longer interval (monthly to yearly): a new period starts today;
  the unused part of the current period is credited against the full price. A
  shorter interval (Pro yearly to Business monthly): the period does not move; the
  rest of it is charged at the new plan's monthly rate, less the credit.
- A lower tier is a **downgrade, at the period end** (scheduled, undoable until
  then, nothing charged now), whatever the interval: on Business monthly, Starter
  yearly is not an upgrade because its yearly price is larger than a month of
  Business: the customer would lose Business's features today.
- The same tier on another interval is a **switch** of billing period: to a longer
  one now (a new period starts today, the unused time credited against the full
  price: the features stay the same), to a shorter one at the period end (a paid
  year is not cut short). Should the credit ever cover the whole new price, the
  switch waits for the period end instead.
- The same tier and interval, or two tiers at the same monthly price, or any change
  during a trial: a switch, applied now for nothing.
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
    kind: str  # "upgrade", "downgrade" or "switch" (``plan_change_rule``)
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
    # Scheduled for the period end (nothing charged now) rather than applied now.
    at_period_end: bool = False
    # A sign-up not paid yet: its first invoice is replaced by one for the new plan.
    sign_up: bool = False

    @property
    def is_immediate(self) -> bool:
        return not self.at_period_end

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
            # A quote signed before ``at_period_end`` existed: only downgrades waited.
            data.setdefault("at_period_end", data.get("kind") == "downgrade")
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


# One period of each unit in months: a year is 12, a week 7 of the 365/12 days of an
# average month.
MONTHS_PER_UNIT = {
    "day": Decimal(12) / Decimal(365),
    "week": Decimal(84) / Decimal(365),
    "month": Decimal(1),
    "year": Decimal(12),
}


def plan_months(plan: Plan) -> Decimal:
    """How many months one billing period of ``plan`` lasts (12 for yearly)."""
    return MONTHS_PER_UNIT[plan.interval_unit] * plan.interval


def monthly_rate(plan: Plan) -> Decimal:
    """``plan``'s price for one month (a yearly price divided by 12), unrounded."""
    return plan.price / plan_months(plan)


def same_tier(plan: Plan, other: Plan) -> bool:
    """The same offer billed another way: the catalogue's monthly and yearly twins
    share their name ("Pro" and "Pro")."""
    return plan.name.strip().casefold() == other.name.strip().casefold()


@dataclass(frozen=True)
class PlanChangeRule:
    """What changing from one plan to another is, and when it takes effect (see the
    module's docstring). ``new_period``: a new billing period starts when it does."""

    kind: str  # "upgrade", "downgrade" or "switch"
    at_period_end: bool
    new_period: bool


def plan_change_rule(old_plan: Plan, new_plan: Plan) -> PlanChangeRule:
    """The one decision of what a plan change is (for a subscription that has paid for
    its current period: a trial or an unpaid sign-up always switches now)."""
    longer = new_plan.approx_days > old_plan.approx_days
    shorter = new_plan.approx_days < old_plan.approx_days
    if same_tier(old_plan, new_plan) or monthly_rate(new_plan) == monthly_rate(old_plan):
        kind = "switch"
    elif monthly_rate(new_plan) > monthly_rate(old_plan):
        kind = "upgrade"
    else:
        kind = "downgrade"
    at_period_end = kind == "downgrade" or (kind == "switch" and shorter)
    return PlanChangeRule(kind=kind, at_period_end=at_period_end, new_period=longer)


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
    at_period_end = sign_up = False
    if subscription.status == SubscriptionStatus.PENDING:
        # Nothing paid yet: the first invoice is replaced by one for the new plan,
        # for a full period from now.
        kind, sign_up = "switch", True
        charge = round_money(new_plan.price, currency)
        new_period_start = now
        new_period_end = plan_period_end(new_plan, now)
    elif subscription.status == SubscriptionStatus.TRIALING:
        kind = "switch"
    else:
        rule = plan_change_rule(old_plan, new_plan)
        kind, at_period_end = rule.kind, rule.at_period_end
        if at_period_end:
            pass  # nothing charged now
        elif rule.new_period:
            credit = round_money(old_plan.price * fraction, currency)
            charge = round_money(new_plan.price, currency)
            if charge > credit:
                new_period_start = now
                new_period_end = plan_period_end(new_plan, now)
            else:
                # The credit would pay for the whole new period (and more): wait for
                # the period end rather than lose the difference.
                at_period_end, credit, charge = True, Decimal("0"), Decimal("0")
        elif kind == "upgrade":
            credit = round_money(old_plan.price * fraction, currency)
            if new_plan.same_interval_as(old_plan):
                charge = round_money(new_plan.price * fraction, currency)
            else:
                # A shorter interval: the rest of this period at the new monthly rate.
                left = plan_months(old_plan) * fraction
                charge = round_money(monthly_rate(new_plan) * left, currency)

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
        effective_at=end if at_period_end else now,
        period_end=end,
        new_period_start=new_period_start,
        new_period_end=new_period_end,
        quoted_at=now,
        valid_until=now + dt.timedelta(minutes=app_settings.QUOTE_VALID_MINUTES),
        old_plan_name=old_plan.name,
        new_plan_name=new_plan.name,
        at_period_end=at_period_end,
        sign_up=sign_up,
    )


def subscription_change_plan_quote(
    *, subscription: Subscription, new_plan: Plan, now: dt.datetime | None = None
) -> ProrationQuote:
    """The quote the UI shows before a plan change (a read: nothing is written)."""
    return quote_plan_change(subscription=subscription, new_plan=new_plan, now=now)
