"""``manage.py seed_demo``: a catalogue, a paying demo subscriber and an admin, made
through the billing services, and nothing changed by running it again."""

from __future__ import annotations

from io import StringIO

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.management import call_command

from portal.management.commands import seed_demo
from subscriptions.models import Invoice, Payment, Plan, Subscription, SubscriptionStatus
from subscriptions.signals import invoice_paid, payment_success, subscription_activated

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def debug_on(settings):
    # make run seeds with DEBUG on; pytest-django turns DEBUG off for tests.
    settings.DEBUG = True


def test_it_refuses_to_seed_public_passwords_with_debug_off(settings):
    from django.core.management.base import CommandError

    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo", stdout=StringIO())
    assert not Plan.objects.exists()
    call_command("seed_demo", "--allow-production", stdout=StringIO())
    assert Plan.objects.exists()


def run() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def snapshot() -> dict:
    """Every row seed_demo touches, with the columns that would change on a write."""
    User = get_user_model()
    return {
        "plans": list(Plan.objects.order_by("pk").values()),
        "users": list(User.objects.order_by("pk").values()),
        "emails": list(EmailAddress.objects.order_by("pk").values()),
        "subscriptions": list(Subscription.objects.order_by("pk").values()),
        "invoices": list(Invoice.objects.order_by("pk").values()),
        "payments": list(Payment.objects.order_by("pk").values()),
    }


def test_it_loads_a_monthly_and_yearly_catalogue_in_rupiah():
    run()

    plans = {plan.slug: plan for plan in Plan.objects.all()}
    assert set(plans) == {spec.slug for spec in seed_demo.CATALOGUE}
    assert {plan.currency for plan in plans.values()} == {"IDR"}
    assert {plan.interval_unit for plan in plans.values()} == {"month", "year"}
    assert plans["starter-monthly"].price_display == "Rp 49.000"
    assert plans["starter-yearly"].price_display == "Rp 490.000"
    assert plans["starter-monthly"].features["max_projects"] == 3
    assert plans["pro-monthly"].features["max_projects"] == 20
    assert plans["pro-monthly"].trial_period_days == 14


def test_the_demo_subscriber_has_an_active_pro_plan_paid_through_the_services():
    activated, paid, settled = [], [], []

    def on_activated(sender, instance, **kwargs):
        activated.append(instance.pk)

    def on_paid(sender, instance, **kwargs):
        paid.append(instance.pk)

    def on_settled(sender, instance, **kwargs):
        settled.append(instance.pk)

    subscription_activated.connect(on_activated)
    invoice_paid.connect(on_paid)
    payment_success.connect(on_settled)
    try:
        run()
    finally:
        subscription_activated.disconnect(on_activated)
        invoice_paid.disconnect(on_paid)
        payment_success.disconnect(on_settled)

    demo = get_user_model().objects.get(email=seed_demo.DEMO_EMAIL)
    subscription = Subscription.objects.get(user=demo)
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert subscription.plan.slug == "pro-monthly"
    assert demo.check_password(seed_demo.DEMO_PASSWORD)
    invoices = Invoice.objects.filter(user=demo)
    assert invoices.count() >= 1
    assert set(invoices.values_list("status", flat=True)) == {"paid"}
    assert all(p.is_paid and p.status == "settlement" for p in Payment.objects.filter(user=demo))
    # The services sent the lifecycle signals, as for a real subscriber.
    assert activated == [subscription.pk]
    assert sorted(paid) == sorted(invoices.values_list("pk", flat=True))
    assert len(settled) == invoices.count()


def test_the_current_period_contains_today():
    from django.utils import timezone

    run()

    subscription = Subscription.objects.get(user__email=seed_demo.DEMO_EMAIL)
    assert subscription.current_period_start <= timezone.now() < subscription.current_period_end


def test_both_demo_users_have_a_verified_primary_email():
    run()

    for email in (seed_demo.DEMO_EMAIL, seed_demo.ADMIN_EMAIL):
        address = EmailAddress.objects.get(email=email)
        assert address.verified
        assert address.primary


def test_the_admin_is_a_superuser():
    run()

    admin = get_user_model().objects.get(email=seed_demo.ADMIN_EMAIL)
    assert admin.is_superuser
    assert admin.is_staff
    assert admin.check_password(seed_demo.ADMIN_PASSWORD)


def test_it_prints_both_credentials():
    out = run()

    assert f"{seed_demo.DEMO_EMAIL}  password: {seed_demo.DEMO_PASSWORD}" in out
    assert f"{seed_demo.ADMIN_EMAIL}  password: {seed_demo.ADMIN_PASSWORD}" in out


def test_running_it_twice_changes_nothing():
    run()
    before = snapshot()

    out = run()

    assert snapshot() == before
    assert seed_demo.DEMO_PASSWORD in out


def test_a_changed_password_is_kept_and_not_printed():
    run()
    demo = get_user_model().objects.get(email=seed_demo.DEMO_EMAIL)
    demo.set_password("something-else-entirely")
    demo.save()

    out = run()

    demo.refresh_from_db()
    assert demo.check_password("something-else-entirely")
    assert seed_demo.DEMO_PASSWORD not in out
    assert "changepassword" in out


def test_an_outdated_catalogue_is_brought_up_to_date():
    run()
    Plan.objects.filter(slug="starter-monthly").update(price=1, features={})

    run()

    starter = Plan.objects.get(slug="starter-monthly")
    assert starter.price_display == "Rp 49.000"
    assert starter.features["max_projects"] == 3


@pytest.mark.django_db
def test_the_demo_subscriber_starts_without_banners_about_its_backdated_history():
    from django.contrib.auth import get_user_model

    from portal.models import Notification

    call_command("seed_demo", stdout=StringIO())
    demo = get_user_model().objects.get(email="demo@example.com")
    assert Notification.objects.filter(user=demo).exists()  # the history did notify
    assert not Notification.objects.unread().filter(user=demo).exists()
