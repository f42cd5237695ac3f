"""Record every public signal of ``subscriptions.signals`` during a test.

Each test module wraps ``record_signals()`` in a small ``sent`` fixture; the
receivers are connected strongly for the test and always disconnected afterwards,
so nothing leaks into other tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.dispatch import Signal

from subscriptions import signals

SIGNAL_NAMES = (
    "subscription_created",
    "subscription_activated",
    "subscription_cancelled",
    "subscription_paused",
    "subscription_resumed",
    "subscription_expired",
    "subscription_renewed",
    "subscription_plan_changed",
    "subscription_cancel_scheduled",
    "subscription_cancel_undone",
    "subscription_trial_will_end",
    "subscription_renewal_upcoming",
    "payment_created",
    "payment_success",
    "payment_failed",
    "payment_refunded",
    "payment_overpaid",
    "invoice_created",
    "invoice_issued",
    "invoice_paid",
    "invoice_overdue",
    "invoice_voided",
    "invoice_payment_reminder",
    "webhook_received",
    "webhook_processed",
    "topup_completed",
    "wallet_credited",
    "wallet_debited",
)


@dataclass
class Sent:
    name: str
    sender: Any
    instance: Any
    kwargs: dict[str, Any]
    # The instance's status at the moment the signal was sent (it mutates later).
    status: Any = None


@dataclass
class SignalLog:
    sent: list[Sent] = field(default_factory=list)

    def clear(self) -> None:
        self.sent.clear()

    def names(self) -> list[str]:
        return [item.name for item in self.sent]

    def of(self, name: str) -> list[Sent]:
        return [item for item in self.sent if item.name == name]

    def one(self, name: str) -> Sent:
        """The single ``name`` signal sent; fails if it was sent zero or several times."""
        hits = self.of(name)
        assert len(hits) == 1, f"expected {name} once, got {len(hits)}: {self.names()}"
        return hits[0]

    def count(self, name: str) -> int:
        return len(self.of(name))


def _signal(name: str) -> Signal:
    return getattr(signals, name)


@contextmanager
def record_signals() -> Iterator[SignalLog]:
    log = SignalLog()
    connected = []
    for name in SIGNAL_NAMES:

        def receiver(sender, instance=None, _name=name, **kwargs):
            kwargs.pop("signal", None)
            log.sent.append(
                Sent(
                    name=_name,
                    sender=sender,
                    instance=instance,
                    kwargs=kwargs,
                    status=getattr(instance, "status", None),
                )
            )

        uid = f"test-signal-recorder:{name}"
        _signal(name).connect(receiver, weak=False, dispatch_uid=uid)
        connected.append((name, uid))
    try:
        yield log
    finally:
        for name, uid in connected:
            _signal(name).disconnect(dispatch_uid=uid)
