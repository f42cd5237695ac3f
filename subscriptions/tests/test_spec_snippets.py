"""The snippets of spec/signals-spec.md, copied as written, used as real receivers.

The spec promises that every snippet works exactly as written. Each fixture below
holds one snippet verbatim (inside the fixture, so that ``@receiver`` connects it
for one test only) and disconnects it afterwards; ``receivers_do_not_leak`` checks
that every signal has the same receivers after each test as before it.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.dispatch import receiver

from subscriptions import signals
from subscriptions.models import Payment
from subscriptions.services import (
    payment_apply_status,
    payment_create,
    subscription_activate,
    subscription_cancel,
    subscription_create,
    subscription_pause,
    subscription_resume,
)
from subscriptions.signals import (
    payment_failed,
    payment_success,
    subscription_activated,
    subscription_created,
)
from subscriptions.tests.factories import PlanFactory
from subscriptions.tests.signal_recorder import SIGNAL_NAMES

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def receivers_do_not_leak():
    before = {name: list(getattr(signals, name).receivers) for name in SIGNAL_NAMES}
    yield
    after = {name: list(getattr(signals, name).receivers) for name in SIGNAL_NAMES}
    assert after == before


# --- What the snippets call, recorded so the tests can see their effect --------------

welcome_emails: list = []
slack_messages: list[str] = []
workspaces: list[tuple] = []


def send_welcome_email(user):
    welcome_emails.append(user)


def slack_webhook(text: str) -> None:
    slack_messages.append(text)


def create_user_workspace(user, *, max_projects: int) -> None:
    workspaces.append((user, max_projects))


class _Analytics:
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def track(self, user_id, event: str, properties: dict) -> None:
        self.events.append((user_id, event, properties))


analytics = _Analytics()


@pytest.fixture(autouse=True)
def _reset_recordings():
    welcome_emails.clear()
    slack_messages.clear()
    workspaces.clear()
    analytics.events.clear()


# --- The snippets, verbatim ----------------------------------------------------------


@pytest.fixture
def connecting_to_signals():
    """Spec, "Connecting to Signals": ``your_app/signals.py``."""

    def on_subscription_activated(sender, instance, **kwargs):
        """Called when a subscription becomes active."""
        print(f"Subscription activated: {instance.user} - {instance.plan.name}")

    def on_payment_success(sender, instance, **kwargs):
        """Called when a payment is successfully settled."""
        print(f"Payment settled: {instance.order_id} - {instance.gross_amount}")

    subscription_activated.connect(on_subscription_activated)
    payment_success.connect(on_payment_success)
    yield
    subscription_activated.disconnect(on_subscription_activated)
    payment_success.disconnect(on_payment_success)


@pytest.fixture
def receiver_decorator():
    """Spec, "Or using the @receiver decorator"."""

    @receiver(subscription_created)
    def handle_new_subscription(sender, instance, **kwargs):
        """Send welcome email when subscription is created."""
        send_welcome_email(instance.user)

    yield
    subscription_created.disconnect(handle_new_subscription)


@pytest.fixture
def slack_on_failure():
    """Spec, "Send Slack notification on payment failure"."""

    @receiver(payment_failed)
    def notify_slack_on_failure(sender, instance, **kwargs):
        slack_webhook(
            f"Payment failed: {instance.order_id} ({instance.gross_amount} {instance.currency})"
        )

    yield
    payment_failed.disconnect(notify_slack_on_failure)


@pytest.fixture
def analytics_on_activation():
    """Spec, "Log subscription changes to analytics"."""

    @receiver(subscription_activated)
    def track_activation(sender, instance, **kwargs):
        analytics.track(
            instance.user.id,
            "subscription_activated",
            {
                "plan": instance.plan.name,
                "payment_type": instance.payment_type,
            },
        )

    yield
    subscription_activated.disconnect(track_activation)


@pytest.fixture
def provisioning_on_activation():
    """Spec, "Auto-provision resources on activation"."""

    @receiver(subscription_activated)
    def provision_resources(sender, instance, **kwargs):
        features = instance.plan.features
        create_user_workspace(instance.user, max_projects=features.get("max_projects", 1))

    yield
    subscription_activated.disconnect(provision_resources)


# --- Helpers -------------------------------------------------------------------------


def start_and_pay(user, *, payment_type: str = "bank_transfer", **plan_fields):
    plan = PlanFactory(**plan_fields)
    subscription = subscription_create(user=user, plan=plan, payment_type=payment_type)
    invoice = subscription.invoices.get()
    payment = payment_create(user=user, amount=invoice.total, invoice=invoice)
    payment_apply_status(payment=payment, transaction_status="settlement")
    return subscription, Payment.objects.get(pk=payment.pk)


# --- The snippets at work --------------------------------------------------------------


@pytest.mark.usefixtures("connecting_to_signals")
def test_the_print_receivers_report_an_activation_and_a_settled_payment(alice, capsys):
    subscription, payment = start_and_pay(alice, name="Pro")

    out = capsys.readouterr().out
    assert out.splitlines() == [
        f"Payment settled: {payment.order_id} - {payment.gross_amount}",
        f"Subscription activated: {alice} - Pro",
    ]
    assert f"- {Decimal('150000.00')}" in out
    assert subscription.user == alice


@pytest.mark.usefixtures("connecting_to_signals")
def test_the_print_receivers_stay_silent_on_pending_and_failed_payments(alice, capsys):
    plan = PlanFactory(name="Pro")
    subscription = subscription_create(user=alice, plan=plan)
    invoice = subscription.invoices.get()
    first = payment_create(user=alice, amount=invoice.total, invoice=invoice)
    payment_apply_status(payment=first, transaction_status="pending")
    payment_apply_status(payment=first, transaction_status="expire")

    assert capsys.readouterr().out == ""


@pytest.mark.usefixtures("connecting_to_signals")
def test_the_activation_print_receiver_runs_once_on_resume(alice, capsys):
    subscription, _ = start_and_pay(alice, name="Pro")
    subscription_pause(subscription=subscription)
    capsys.readouterr()

    subscription_resume(subscription=subscription)

    assert capsys.readouterr().out == f"Subscription activated: {alice} - Pro\n"


@pytest.mark.usefixtures("receiver_decorator")
def test_the_welcome_email_is_sent_once_when_a_subscription_is_created(alice):
    subscription, _ = start_and_pay(alice)
    subscription_pause(subscription=subscription)
    subscription_resume(subscription=subscription)
    subscription_cancel(subscription=subscription, at_period_end=False)

    assert welcome_emails == [alice]


@pytest.mark.usefixtures("receiver_decorator")
def test_the_welcome_email_is_sent_for_a_trial_and_for_a_free_plan(alice, bob):
    subscription_create(user=alice, plan=PlanFactory(trial_period_days=7))
    subscription_create(user=bob, plan=PlanFactory(price=Decimal("0")))

    assert welcome_emails == [alice, bob]


@pytest.mark.usefixtures("slack_on_failure")
@pytest.mark.parametrize("failure", ["deny", "cancel", "expire", "failure"])
def test_slack_hears_once_about_each_failed_payment(alice, failure):
    payment = payment_create(user=alice, amount=Decimal("150000"), order_id="SUB-abc_1.x~y")

    payment_apply_status(payment=payment, transaction_status="pending")
    payment_apply_status(payment=payment, transaction_status=failure)
    payment_apply_status(payment=payment, transaction_status=failure)

    assert slack_messages == ["Payment failed: SUB-abc_1.x~y (150000.00 IDR)"]


@pytest.mark.usefixtures("slack_on_failure")
def test_slack_hears_nothing_about_a_settled_payment(alice):
    start_and_pay(alice)

    assert slack_messages == []


@pytest.mark.usefixtures("analytics_on_activation")
def test_analytics_tracks_the_activation_with_plan_and_payment_type(alice):
    start_and_pay(alice, name="Business", payment_type="gopay")

    assert analytics.events == [
        (alice.id, "subscription_activated", {"plan": "Business", "payment_type": "gopay"})
    ]


@pytest.mark.usefixtures("analytics_on_activation")
def test_analytics_tracks_nothing_for_a_trial_start(alice):
    subscription = subscription_create(user=alice, plan=PlanFactory(trial_period_days=7))

    assert analytics.events == []

    subscription_activate(subscription=subscription)

    assert len(analytics.events) == 1


@pytest.mark.usefixtures("provisioning_on_activation")
def test_provisioning_uses_the_plans_max_projects(alice):
    start_and_pay(alice, features={"max_projects": 10})

    assert workspaces == [(alice, 10)]


@pytest.mark.usefixtures("provisioning_on_activation")
def test_provisioning_defaults_to_one_project_when_the_plan_does_not_say(alice):
    start_and_pay(alice, features={})

    assert workspaces == [(alice, 1)]


@pytest.mark.usefixtures(
    "connecting_to_signals",
    "receiver_decorator",
    "slack_on_failure",
    "analytics_on_activation",
    "provisioning_on_activation",
)
def test_all_snippets_together_each_act_once_on_a_sign_up(alice, capsys):
    start_and_pay(alice, name="Team", payment_type="qris")

    assert welcome_emails == [alice]
    assert slack_messages == []
    assert analytics.events == [
        (alice.id, "subscription_activated", {"plan": "Team", "payment_type": "qris"})
    ]
    assert workspaces == [(alice, 3)]
    assert capsys.readouterr().out.count("Subscription activated:") == 1
