"""The prepaid wallet: one wallet per user, an append-only ledger, and top-ups.

Design in a few lines:

- ``Wallet.balance`` is a cache of the sum of its ledger rows. It changes only in
  ``services.py``, in the same transaction as the ledger row that explains it, with
  the wallet row locked (by the conditional ``UPDATE`` that moves it, or by
  ``select_for_update`` first), and the database refuses a negative balance.
- ``WalletTransaction`` rows are never edited or deleted: a correction is a new row
  (``adjustment`` or ``reversal``). Every row carries a unique idempotency key, so a
  retried credit or debit returns the first result instead of moving money twice.
- A ``TopUp`` is paid through the gateway like an invoice (a ``subscriptions.Payment``
  with no invoice); the wallet is credited once, when that payment settles.
- ``TopUp`` and ``WalletTransaction`` send the spec's ``topup_completed``,
  ``wallet_credited`` and ``wallet_debited`` from ``post_save`` handlers registered
  by ``subscriptions.signals`` (which never imports this app).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from subscriptions.app_settings import app_settings as billing_settings
from subscriptions.models import Invoice, Payment, PaymentStatus
from subscriptions.money import format_money
from subscriptions.tracking import TrackedModel

MONEY = {"max_digits": 14, "decimal_places": 2}


class LedgerRowImmutable(Exception):
    """Raised when code tries to edit or delete a ledger row."""


class Wallet(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="wallet",
        verbose_name=_("user"),
    )
    currency = models.CharField(max_length=3, default="IDR", verbose_name=_("currency"))
    balance = models.DecimalField(
        **MONEY, default=Decimal("0"), editable=False, verbose_name=_("balance")
    )
    auto_pay = models.BooleanField(
        default=False,
        help_text=_("Pay renewal invoices from the wallet when it holds enough."),
        verbose_name=_("auto pay"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="wallet_balance_not_negative")
        ]
        permissions = [
            ("adjust_wallet", "Can adjust wallet balances and reverse ledger entries"),
        ]
        verbose_name = _("wallet")
        verbose_name_plural = _("wallets")

    def __str__(self) -> str:
        return f"{self.user} · {self.balance_display}"

    @property
    def balance_display(self) -> str:
        return format_money(self.balance, self.currency)


class TransactionKind(models.TextChoices):
    TOP_UP = "top_up", pgettext_lazy("wallet transaction kind", "Top-up")
    PAYMENT = "payment", pgettext_lazy("wallet transaction kind", "Payment")
    REFUND = "refund", pgettext_lazy("wallet transaction kind", "Refund")
    ADJUSTMENT = "adjustment", pgettext_lazy("wallet transaction kind", "Adjustment")
    REVERSAL = "reversal", pgettext_lazy("wallet transaction kind", "Reversal")
    # A refunded top-up takes its credit back (linked to the Refund).
    RECLAIM = "reclaim", pgettext_lazy("wallet transaction kind", "Top-up refunded")


class WalletTransaction(models.Model):
    """One ledger row: a signed movement of money and the balance right after it."""

    wallet = models.ForeignKey(
        Wallet, on_delete=models.PROTECT, related_name="transactions", verbose_name=_("wallet")
    )
    amount = models.DecimalField(**MONEY, editable=False, verbose_name=_("amount"))
    kind = models.CharField(
        max_length=10, choices=TransactionKind.choices, editable=False, verbose_name=_("kind")
    )
    balance_after = models.DecimalField(**MONEY, editable=False, verbose_name=_("balance after"))
    idempotency_key = models.CharField(
        max_length=120, unique=True, editable=False, verbose_name=_("idempotency key")
    )
    description = models.CharField(
        max_length=255, blank=True, editable=False, verbose_name=_("description")
    )
    topup = models.ForeignKey(
        "TopUp",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="transactions",
        verbose_name=_("top-up"),
    )
    payment = models.ForeignKey(
        Payment,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="wallet_transactions",
        verbose_name=_("payment"),
    )
    invoice = models.ForeignKey(
        Invoice,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="wallet_transactions",
        verbose_name=_("invoice"),
    )
    refund = models.ForeignKey(
        "subscriptions.Refund",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="wallet_transactions",
        verbose_name=_("refund"),
    )
    reverses = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversed_by",
        verbose_name=_("reverses"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("The staff member who made an adjustment."),
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="wallet_tx_amount_not_zero"),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="wallet_tx_balance_not_negative"
            ),
        ]
        indexes = [models.Index(fields=["wallet", "-created_at"])]
        verbose_name = _("wallet transaction")
        verbose_name_plural = _("wallet transactions")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount_display}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise LedgerRowImmutable("Wallet ledger rows are append-only; add a correction.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise LedgerRowImmutable("Wallet ledger rows are append-only; add a correction.")

    @property
    def amount_display(self) -> str:
        sign = "+" if self.amount > 0 else ""
        return sign + format_money(self.amount, self.wallet.currency)

    @property
    def is_credit(self) -> bool:
        return self.amount > 0


class TopUpStatus(models.TextChoices):
    PENDING = "pending", pgettext_lazy("top-up status", "Pending")
    SUCCESS = "success", pgettext_lazy("top-up status", "Completed")
    FAILED = "failed", pgettext_lazy("top-up status", "Failed")
    EXPIRED = "expired", pgettext_lazy("top-up status", "Expired")


class TopUp(TrackedModel):
    tracked_fields = ("status",)

    wallet = models.ForeignKey(
        Wallet, on_delete=models.PROTECT, related_name="topups", verbose_name=_("wallet")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="topups",
        verbose_name=_("user"),
    )
    amount = models.DecimalField(**MONEY, verbose_name=_("amount"))
    order_id = models.CharField(max_length=50, unique=True, verbose_name=_("order id"))
    status = models.CharField(
        max_length=7,
        choices=TopUpStatus.choices,
        default=TopUpStatus.PENDING,
        verbose_name=_("status"),
    )
    payment = models.OneToOneField(
        Payment,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="topup",
        verbose_name=_("payment"),
    )
    completed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("completed at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="topup_amount_positive")
        ]
        verbose_name = _("top up")
        verbose_name_plural = _("top ups")

    def __str__(self) -> str:
        return gettext("Top-up %(order_id)s (%(status)s)") % {
            "order_id": self.order_id,
            "status": self.get_status_display(),
        }

    @property
    def amount_display(self) -> str:
        return format_money(self.amount, self.wallet.currency)

    @property
    def checkout_expires_at(self) -> dt.datetime:
        """When its payment page stops taking payments (``SUBSCRIPTIONS_CHECKOUT_EXPIRY_MINUTES``,
        the expiry sent to the gateway with the attempt, as for an invoice's)."""
        return self.created_at + dt.timedelta(minutes=billing_settings.CHECKOUT_EXPIRY_MINUTES)

    def is_abandoned(self, now: dt.datetime | None = None) -> bool:
        """Still pending, with nothing chosen or paid at the gateway, after its payment
        page expired: the customer left the page. Shown as "Not completed" until the
        billing run has asked the gateway (``services.topup_expire_abandoned``), which
        expires it, or credits the wallet if it was paid after all. A payment under a
        fraud review (``capture``/``challenge``) is not abandoned.

        Reads ``payment``: select it with the top-up (``selectors.topup_list_for_user``).
        """
        if self.status != TopUpStatus.PENDING or self.created_at is None:
            return False
        if self.payment_id is not None and self.payment.status != PaymentStatus.PENDING:
            return False
        return (now or timezone.now()) >= self.checkout_expires_at

    @property
    def display_status(self) -> str:
        """The status to show: ``status``, or ``"abandoned"`` (``is_abandoned``)."""
        return "abandoned" if self.is_abandoned() else self.status
