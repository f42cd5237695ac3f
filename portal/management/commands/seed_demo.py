"""Demo data for a local portal: the plan catalogue, a subscriber and an admin.

Idempotent: a second run finds everything in place, changes nothing and prints the
same credentials. The demo subscription is made through the billing services (create,
then pay its invoices with a settled payment), so its signals, invoices and payments
are exactly what a real subscriber's would be; it starts a little over two months
back and has renewed twice, so the dashboard shows a realistic history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from portal.models import Notification
from subscriptions.models import Invoice, Plan, Subscription
from subscriptions.periods import add_interval
from subscriptions.services import (
    payment_apply_status,
    payment_create,
    subscription_create,
    subscription_create_renewal_invoice,
)

DEMO_EMAIL = "demo@example.com"
# Printed on purpose: local demo data (bandit B105 is acknowledged with nosec). Never run
# seed_demo against a production database: it makes a superuser with a public password.
DEMO_PASSWORD = "demo-billing-2026"  # noqa: S105 # nosec B105
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-billing-2026"  # noqa: S105 # nosec B105
DEMO_PLAN_SLUG = "pro-monthly"
# The demo subscription started this long ago, so it has a few paid invoices.
DEMO_HISTORY_MONTHS = 2
DEMO_HISTORY_EXTRA_DAYS = 10


@dataclass(frozen=True)
class PlanSpec:
    slug: str
    name: str
    description: str
    price: Decimal
    interval_unit: str
    features: dict
    trial_period_days: int = 0
    sort_order: int = 0


def _tier(name, slug, description, monthly, yearly, features, order, trial=0):
    return [
        PlanSpec(
            slug=f"{slug}-{unit}ly",
            name=name,
            description=description,
            price=Decimal(price),
            interval_unit=unit,
            features=features,
            trial_period_days=trial,
            sort_order=order + offset,
        )
        for offset, (unit, price) in enumerate((("month", monthly), ("year", yearly)))
    ]


# Yearly prices are ten months' worth: two months free.
CATALOGUE: list[PlanSpec] = [
    *_tier(
        "Starter",
        "starter",
        "For individuals getting started.",
        "49000",
        "490000",
        {"max_projects": 3, "max_members": 1, "support": "email"},
        10,
    ),
    *_tier(
        "Pro",
        "pro",
        "For growing teams that ship every week.",
        "149000",
        "1490000",
        {
            "max_projects": 20,
            "max_members": 5,
            "support": "priority email",
            "custom_domain": True,
            "api_access": True,
        },
        20,
        trial=14,
    ),
    *_tier(
        "Business",
        "business",
        "For organisations with many teams.",
        "499000",
        "4990000",
        {
            "max_projects": -1,
            "max_members": 50,
            "support": "phone and email",
            "custom_domain": True,
            "api_access": True,
            "audit_log": True,
            "sso": True,
        },
        30,
        trial=14,
    ),
]


class Command(BaseCommand):
    help = (
        "Load demo data: an IDR plan catalogue, a subscriber with an active Pro plan, and an admin."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Seed even with DEBUG off (a staging server). The demo passwords are public.",
        )

    def handle(self, *args, allow_production=False, **options):
        if not settings.DEBUG and not allow_production:
            raise CommandError(
                "seed_demo creates accounts whose passwords are published in the README; "
                "it runs only with DEBUG on (or --allow-production on a staging server)."
            )
        with transaction.atomic():
            plans = {spec.slug: self._plan(spec) for spec in CATALOGUE}
            demo = self._user(DEMO_EMAIL, "demo", DEMO_PASSWORD, staff=False)
            admin = self._user(ADMIN_EMAIL, "admin", ADMIN_PASSWORD, staff=True)
            subscription = self._demo_subscription(demo, plans[DEMO_PLAN_SLUG])
            # The backdated history raised banners ("Invoice ... is paid") as it was
            # made; they are old news to the demo subscriber, so they start read.
            Notification.objects.unread().filter(user=demo).update(dismissed_at=timezone.now())

        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS("Demo data is ready."))
        self.stdout.write(f"  Plans: {Plan.objects.count()} in the catalogue")
        if subscription is not None:
            self.stdout.write(
                f"  Demo subscription: {subscription.plan.name} "
                f"({subscription.get_status_display()}), "
                f"{Invoice.objects.filter(user=demo).count()} invoices"
            )
        self.stdout.write("")
        self.stdout.write("  Sign in to the portal at /accounts/login/")
        self._credentials("Subscriber", demo, DEMO_PASSWORD)
        self.stdout.write("  Admin at /admin/")
        self._credentials("Admin", admin, ADMIN_PASSWORD)
        self.stdout.write("")

    def _credentials(self, role: str, user, password: str) -> None:
        if user.check_password(password):
            shown = password
        else:
            shown = "(changed since it was created; reset it with manage.py changepassword)"
        self.stdout.write(f"    {role + ':':<11} {user.email}  password: {shown}")

    def _plan(self, spec: PlanSpec) -> Plan:
        values = {
            "name": spec.name,
            "description": spec.description,
            "price": spec.price,
            "currency": "IDR",
            "interval": 1,
            "interval_unit": spec.interval_unit,
            "trial_period_days": spec.trial_period_days,
            "features": spec.features,
            "sort_order": spec.sort_order,
            "is_active": True,
        }
        plan, created = Plan.objects.get_or_create(slug=spec.slug, defaults=values)
        if not created:
            # Bring an old catalogue up to date, but write nothing when it already is.
            changed = [field for field, value in values.items() if getattr(plan, field) != value]
            if changed:
                for field in changed:
                    setattr(plan, field, values[field])
                plan.save(update_fields=[*changed, "updated_at"])
        return plan

    def _user(self, email: str, username: str, password: str, *, staff: bool):
        User = get_user_model()
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            user = User(username=username, email=email, is_staff=staff, is_superuser=staff)
            user.set_password(password)
            user.save()
        address, _ = EmailAddress.objects.get_or_create(
            user=user, email=email, defaults={"verified": True, "primary": True}
        )
        if not (address.verified and address.primary):
            address.verified = address.primary = True
            address.save(update_fields=["verified", "primary"])
        return user

    def _demo_subscription(self, user, plan: Plan):
        existing = user.subscriptions.select_related("plan").first()
        if existing is not None:
            return existing
        now = timezone.now()
        start = add_interval(now, "month", -DEMO_HISTORY_MONTHS) - dt.timedelta(
            days=DEMO_HISTORY_EXTRA_DAYS
        )
        subscription = subscription_create(user=user, plan=plan, allow_trial=False, now=start)
        # created_at is auto_now_add; date it back with the rest of the history. It is a
        # timestamp, not billing state, so no service is bypassed.
        Subscription.objects.filter(pk=subscription.pk).update(created_at=start)
        invoice = subscription.invoices.get()
        self._pay(user, invoice, when=start)
        subscription.refresh_from_db()
        # Renew (invoice, then pay) until the current period contains today.
        while subscription.current_period_end <= now:
            invoice = subscription_create_renewal_invoice(
                subscription=subscription, now=subscription.current_period_end
            )
            self._pay(user, invoice, when=invoice.period_start)
            subscription.refresh_from_db()
        return subscription

    def _pay(self, user, invoice: Invoice, *, when) -> None:
        payment = payment_create(user=user, amount=invoice.total, invoice=invoice, gateway="demo")
        payment_apply_status(
            payment=payment,
            transaction_status="settlement",
            payment_type="bank_transfer",
            now=when,
        )
