"""Which status may follow which: written down once, checked on every change.

Services call ``check_*`` before they change a status; an illegal move raises
``InvalidTransition``. Payments follow Midtrans' transaction status cycle and
never move backwards: a late ``pending`` after ``settlement`` changes nothing.
"""

from __future__ import annotations

from django.utils.translation import gettext, pgettext_lazy

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


# How a refused change names the states ("A subscription that is past due cannot
# become paused"): the word after "is", which is not always the status's label.
SUBSCRIPTION_STATES = {
    S.PENDING: pgettext_lazy("subscription that is", "pending"),
    S.TRIALING: pgettext_lazy("subscription that is", "trialing"),
    S.ACTIVE: pgettext_lazy("subscription that is", "active"),
    S.PAST_DUE: pgettext_lazy("subscription that is", "past due"),
    S.PAUSED: pgettext_lazy("subscription that is", "paused"),
    S.CANCELLED: pgettext_lazy("subscription that is", "cancelled"),
    S.EXPIRED: pgettext_lazy("subscription that is", "expired"),
}
INVOICE_STATES = {
    I.DRAFT: pgettext_lazy("invoice that is", "draft"),
    I.OPEN: pgettext_lazy("invoice that is", "open"),
    I.PAID: pgettext_lazy("invoice that is", "paid"),
    I.OVERDUE: pgettext_lazy("invoice that is", "overdue"),
    I.VOID: pgettext_lazy("invoice that is", "void"),
    I.UNCOLLECTIBLE: pgettext_lazy("invoice that is", "uncollectible"),
}


def _state(states: dict, value: str) -> str:
    return str(states.get(value, value.replace("_", " ")))


def check_subscription(current: str, target: str) -> None:
    if target not in SUBSCRIPTION_TRANSITIONS.get(current, frozenset()):
        raise InvalidTransition(
            gettext("A subscription that is %(current)s cannot become %(target)s.")
            % {
                "current": _state(SUBSCRIPTION_STATES, current),
                "target": _state(SUBSCRIPTION_STATES, target),
            },
            current=current,
            target=target,
        )


def check_invoice(current: str, target: str) -> None:
    if target not in INVOICE_TRANSITIONS.get(current, frozenset()):
        raise InvalidTransition(
            gettext("An invoice that is %(current)s cannot become %(target)s.")
            % {
                "current": _state(INVOICE_STATES, current),
                "target": _state(INVOICE_STATES, target),
            },
            current=current,
            target=target,
        )


def payment_can_move(current: str, target: str) -> bool:
    return target in PAYMENT_TRANSITIONS.get(current, frozenset())
