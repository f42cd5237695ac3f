"""Which status may follow which: written down once, checked on every change.

Services call ``check_*`` before they change a status; an illegal move raises
``InvalidTransition``. Payments follow Midtrans' transaction status cycle and
never move backwards: a late ``pending`` after ``settlement`` changes nothing.
"""

from __future__ import annotations

from .exceptions import InvalidTransition
from .models import InvoiceStatus as I
from .models import PaymentStatus as P
from .models import SubscriptionStatus as S

SUBSCRIPTION_TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.TRIALING, S.ACTIVE, S.CANCELLED, S.EXPIRED}),
    S.TRIALING: frozenset({S.ACTIVE, S.PAST_DUE, S.CANCELLED, S.EXPIRED}),
    S.ACTIVE: frozenset({S.PAST_DUE, S.PAUSED, S.CANCELLED, S.EXPIRED}),
    S.PAST_DUE: frozenset({S.ACTIVE, S.CANCELLED, S.EXPIRED}),
    S.PAUSED: frozenset({S.ACTIVE, S.CANCELLED}),
    S.CANCELLED: frozenset({S.PENDING}),
    S.EXPIRED: frozenset({S.PENDING}),
}

INVOICE_TRANSITIONS: dict[str, frozenset[str]] = {
    I.DRAFT: frozenset({I.OPEN, I.VOID}),
    I.OPEN: frozenset({I.PAID, I.OVERDUE, I.VOID, I.UNCOLLECTIBLE}),
    I.OVERDUE: frozenset({I.PAID, I.VOID, I.UNCOLLECTIBLE}),
    I.UNCOLLECTIBLE: frozenset({I.PAID, I.VOID}),
    I.PAID: frozenset(),
    I.VOID: frozenset(),
}

# Midtrans' transaction status cycle. A status may only move to one listed here;
# anything else (a late or repeated notification) is stale and changes nothing.
PAYMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    P.PENDING: frozenset(
        {P.AUTHORIZE, P.CAPTURE, P.SETTLEMENT, P.DENY, P.CANCEL, P.EXPIRE, P.FAILURE}
    ),
    P.AUTHORIZE: frozenset({P.CAPTURE, P.SETTLEMENT, P.DENY, P.CANCEL, P.EXPIRE, P.FAILURE}),
    P.CAPTURE: frozenset({P.SETTLEMENT, P.DENY, P.CANCEL, P.REFUND, P.PARTIAL_REFUND}),
    P.SETTLEMENT: frozenset({P.REFUND, P.PARTIAL_REFUND}),
    P.PARTIAL_REFUND: frozenset({P.PARTIAL_REFUND, P.REFUND}),
    P.REFUND: frozenset(),
    P.DENY: frozenset(),
    P.CANCEL: frozenset(),
    P.EXPIRE: frozenset(),
    P.FAILURE: frozenset(),
}


def _check(table: dict[str, frozenset[str]], kind: str, current: str, target: str) -> None:
    if target not in table.get(current, frozenset()):
        raise InvalidTransition(
            f"A {kind} that is {current.replace('_', ' ')} cannot become "
            f"{target.replace('_', ' ')}.",
            current=current,
            target=target,
        )


def check_subscription(current: str, target: str) -> None:
    _check(SUBSCRIPTION_TRANSITIONS, "subscription", current, target)


def check_invoice(current: str, target: str) -> None:
    _check(INVOICE_TRANSITIONS, "invoice", current, target)


def payment_can_move(current: str, target: str) -> bool:
    return target in PAYMENT_TRANSITIONS.get(current, frozenset())
