"""Bench data, written with ``bulk_create`` (not through the services, which are what
is measured): realistic rows, consistent with the invariants the services keep
(one ledger row per balance change, balance = sum of the ledger, numbered invoices)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.utils import timezone

PRICE = Decimal("150000.00")


def plan(slug: str = "pro", price: Decimal = PRICE):
    from subscriptions.models import Plan

    return Plan.objects.create(
        name=slug.title(),
        slug=slug,
        price=price,
        currency="IDR",
        interval=1,
        interval_unit="month",
        features={"Projects": "Unlimited", "Support": "Email"},
    )


def users(n: int, prefix: str) -> list:
    user_model = get_user_model()
    password = make_password(None)
    rows = [
        user_model(username=f"{prefix}{i}", email=f"{prefix}{i}@bench.example", password=password)
        for i in range(n)
    ]
    user_model.objects.bulk_create(rows, batch_size=5000)
    return list(user_model.objects.filter(username__startswith=prefix).order_by("pk"))


def subscriptions(users_, plan_, *, status: str, period_end: dt.datetime) -> list:
    from subscriptions.models import Subscription

    start = period_end - dt.timedelta(days=30)
    rows = [
        Subscription(
            user=user,
            plan=plan_,
            status=status,
            current_period_start=start,
            current_period_end=period_end,
            # Periods are counted from the anchor: the current one ends on a boundary.
            billing_anchor=period_end,
        )
        for user in users_
    ]
    return Subscription.objects.bulk_create(rows, batch_size=5000)


def wallets(users_, *, balance: Decimal, auto_pay: bool, ledger_rows: int = 1) -> list:
    """A wallet per user whose ledger (``ledger_rows`` top-ups) sums to ``balance``."""
    from wallets.models import Wallet, WalletTransaction

    now = timezone.now()
    made = Wallet.objects.bulk_create(
        [Wallet(user=u, currency="IDR", balance=balance, auto_pay=auto_pay) for u in users_],
        batch_size=5000,
    )
    step = (balance / ledger_rows).quantize(Decimal("1"))
    rows = []
    for wallet in made:
        running = Decimal("0")
        for i in range(ledger_rows):
            amount = step if i < ledger_rows - 1 else balance - running
            running += amount
            rows.append(
                WalletTransaction(
                    wallet=wallet,
                    amount=amount,
                    kind="top_up",
                    balance_after=running,
                    idempotency_key=f"bench-topup:{wallet.pk}:{i}",
                    description="Bench top-up",
                    created_at=now - dt.timedelta(minutes=ledger_rows - i),
                )
            )
        if len(rows) >= 20000:
            WalletTransaction.objects.bulk_create(rows, batch_size=5000)
            rows = []
    WalletTransaction.objects.bulk_create(rows, batch_size=5000)
    return made


def invoice_rows(sub, n: int, *, number_from: int, status: str = "paid") -> None:
    """``n`` past renewal invoices (one line each) of ``sub``, oldest first."""
    from subscriptions.models import Invoice, InvoiceLine, InvoiceSequence

    now = timezone.now()
    invoices = []
    for i in range(n):
        start = now - dt.timedelta(days=30 * (n - i))
        invoices.append(
            Invoice(
                number=f"INV-{now.year}-{number_from + i:06d}",
                user_id=sub.user_id,
                subscription=sub,
                status=status,
                reason="renewal" if i else "subscription_create",
                plan=sub.plan,
                currency="IDR",
                subtotal=sub.plan.price,
                total=sub.plan.price,
                period_start=start,
                period_end=start + dt.timedelta(days=30),
                issued_at=start,
                due_date=start + dt.timedelta(days=7),
                paid_at=start + dt.timedelta(hours=1) if status == "paid" else None,
            )
        )
    made = Invoice.objects.bulk_create(invoices)
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            invoice=inv,
            description=f"{sub.plan.name} renewal",
            quantity=1,
            unit_amount=inv.total,
            amount=inv.total,
            period_start=inv.period_start,
            period_end=inv.period_end,
            plan=sub.plan,
        )
        for inv in made
    )
    seq, _ = InvoiceSequence.objects.get_or_create(year=now.year)
    seq.last_value = max(seq.last_value, number_from + n)
    seq.save()


def session_cookie(user) -> str:
    """A signed-in session for ``user`` in the bench database: the cookie header value."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"
