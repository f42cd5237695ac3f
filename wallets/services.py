"""Wallet services: the only code that moves money in or out of a wallet.

Every movement is ``_post``: one transaction that locks the wallet row (with the
conditional ``UPDATE`` that moves the balance, so the lock is held for that statement,
the ledger ``INSERT`` and the commit), refuses a debit larger than the balance
(``InsufficientFunds``), writes the ledger row and the new balance together, and returns the existing row when the idempotency key
was used before. The same key with a different wallet or amount is an error, not
a silent success.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from decimal import Decimal

from django.db import IntegrityError, connections, router, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from subscriptions.app_settings import app_settings as billing_settings
from subscriptions.exceptions import BillingError, InsufficientFunds
from subscriptions.gateways import PaymentGateway, get_gateway
from subscriptions.gateways.snap import gateway_amount, snap_request
from subscriptions.models import Invoice, Payment, PaymentStatus, Refund
from subscriptions.money import format_money, round_money
from subscriptions.services import invoice_pay_locally, new_order_id, payment_create
from subscriptions.services.billing_run import Step
from subscriptions.services.settlement import LOCAL_GATEWAYS, payment_expire

from .app_settings import app_settings
from .models import TopUp, TopUpStatus, TransactionKind, Wallet, WalletTransaction

logger = logging.getLogger(__name__)


# The largest balance the column holds (max_digits 14, decimal_places 2).
MAX_BALANCE = Decimal("999999999999.99")


class IdempotencyConflict(BillingError):
    default_message = gettext_lazy("This operation was already recorded with different details.")


def wallet_get_or_create(*, user) -> Wallet:
    wallet = Wallet.objects.filter(user=user).first()
    if wallet is not None:
        return wallet
    try:
        with transaction.atomic():
            return Wallet.objects.create(user=user, currency=app_settings.CURRENCY)
    except IntegrityError:  # created concurrently
        return Wallet.objects.get(user=user)


def _post(
    *, wallet: Wallet, amount: Decimal, kind: str, idempotency_key: str, **details
) -> WalletTransaction:
    """Move money in its own transaction (a savepoint inside a caller's), holding the
    wallet row for as few statements as possible: the ledger row for this key is looked
    up first, without a lock; then one conditional ``UPDATE`` takes the row lock and
    moves the balance if the result stays between zero and ``MAX_BALANCE``; then the
    ledger row is inserted (its ``post_save`` sends ``wallet_credited``/``wallet_debited``)
    and the transaction commits.

    A refused ``UPDATE`` falls back to ``_post_locked`` (lock, then decide), which
    raises the errors with the balance read under the lock. A post with the same key that commits after the look-up makes the ledger
    ``INSERT`` fail on the unique key: this transaction (or savepoint) is rolled back, so
    no money moves twice, and the first post's row is answered, as when the key was found
    at once.
    """
    amount = _checked_amount(amount, wallet.currency)
    existing = WalletTransaction.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return _replayed(existing, wallet, amount)
    previous = wallet.balance
    try:
        with transaction.atomic():
            new_balance = _move_balance(wallet, amount)
            if new_balance is None:  # refused, or no such wallet: decide under the lock
                return _post_locked(wallet, amount, kind, idempotency_key, details)
            # Set before the INSERT: receivers of its signals see the new balance.
            wallet.balance = new_balance
            return _insert_row(wallet, amount, kind, idempotency_key, new_balance, details)
    except IntegrityError:
        wallet.balance = previous  # rolled back
        existing = WalletTransaction.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            raise
    except BaseException:
        wallet.balance = previous  # rolled back
        raise
    return _replayed(existing, wallet, amount)


def _checked_amount(amount: Decimal, currency: str) -> Decimal:
    amount = round_money(Decimal(amount), currency)
    if amount == 0:
        raise BillingError(_("A wallet movement cannot be zero."))
    return amount


def _replayed(existing: WalletTransaction, wallet: Wallet, amount: Decimal) -> WalletTransaction:
    """The row a key already recorded, if it recorded the same movement."""
    if existing.wallet_id != wallet.pk or existing.amount != amount:
        raise IdempotencyConflict()
    wallet.balance = Wallet.objects.values_list("balance", flat=True).get(pk=wallet.pk)
    return existing


_BALANCE_FIELD = Wallet._meta.get_field("balance")
_UPDATED_AT_FIELD = Wallet._meta.get_field("updated_at")
_QUANTUM = Decimal(1).scaleb(-_BALANCE_FIELD.decimal_places)


def _move_balance_sql(connection) -> str:
    # Only the model's own table and column names go into the text; values are params.
    quote = connection.ops.quote_name
    table, pk = quote(Wallet._meta.db_table), quote(Wallet._meta.pk.column)
    balance, updated_at = quote(_BALANCE_FIELD.column), quote(_UPDATED_AT_FIELD.column)
    # CAST: SQLite binds a Decimal as text, and compares any number as less than text.
    new = f"ROUND({balance} + CAST(%s AS NUMERIC), {_BALANCE_FIELD.decimal_places})"
    return (
        f"UPDATE {table} SET {balance} = {new}, {updated_at} = %s "  # noqa: S608
        f"WHERE {pk} = %s AND {new} >= 0 AND {new} <= CAST(%s AS NUMERIC) "
        f"RETURNING {balance}"
    )


def _move_balance(wallet: Wallet, amount: Decimal) -> Decimal | None:
    """Add ``amount`` to the balance in one statement that takes the row lock, if the
    result stays within ``0 .. MAX_BALANCE``; the new balance, or ``None`` when the
    row was left alone (refused, or no such wallet).

    ``ROUND`` keeps SQLite, which holds decimals as floating point, from accumulating
    binary error; on PostgreSQL (exact ``numeric``) it changes nothing."""
    connection = connections[router.db_for_write(Wallet)]
    db_amount = _BALANCE_FIELD.get_db_prep_value(amount, connection)
    params = [
        db_amount,
        _UPDATED_AT_FIELD.get_db_prep_value(timezone.now(), connection),
        wallet.pk,
        db_amount,
        db_amount,
        _BALANCE_FIELD.get_db_prep_value(MAX_BALANCE, connection),
    ]
    with connection.cursor() as cursor:
        cursor.execute(_move_balance_sql(connection), params)
        row = cursor.fetchone()
    if row is None:
        return None
    return _BALANCE_FIELD.to_python(row[0]).quantize(_QUANTUM)


def _insert_row(
    wallet: Wallet,
    amount: Decimal,
    kind: str,
    idempotency_key: str,
    balance_after: Decimal,
    details: dict,
) -> WalletTransaction:
    return WalletTransaction.objects.create(
        wallet=wallet,
        amount=amount,
        kind=kind,
        balance_after=balance_after,
        idempotency_key=idempotency_key,
        description=details.get("description", "")[:255],
        topup=details.get("topup"),
        payment=details.get("payment"),
        invoice=details.get("invoice"),
        reverses=details.get("reverses"),
        refund=details.get("refund"),
        created_by=details.get("created_by"),
    )


def _post_locked(
    wallet: Wallet, amount: Decimal, kind: str, idempotency_key: str, details: dict
) -> WalletTransaction:
    """Lock the wallet row, then look the key up, check the limits and write."""
    locked = Wallet.objects.select_for_update().get(pk=wallet.pk)
    existing = WalletTransaction.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        if existing.wallet_id != locked.pk or existing.amount != amount:
            raise IdempotencyConflict()
        wallet.balance = locked.balance
        return existing
    new_balance = locked.balance + amount
    if new_balance > MAX_BALANCE:
        raise BillingError(
            _("A wallet cannot hold more than %(amount)s.")
            % {"amount": format_money(MAX_BALANCE, locked.currency)}
        )
    if new_balance < 0:
        raise InsufficientFunds(
            _("The wallet holds %(balance)s; %(amount)s is needed.")
            % {
                "balance": format_money(locked.balance, locked.currency),
                "amount": format_money(-amount, locked.currency),
            }
        )
    locked.balance = new_balance
    locked.save(update_fields=["balance", "updated_at"])
    wallet.balance = new_balance
    return _insert_row(locked, amount, kind, idempotency_key, new_balance, details)


def wallet_credit(
    *, wallet: Wallet, amount: Decimal, kind: str, idempotency_key: str, **details
) -> WalletTransaction:
    if Decimal(amount) <= 0:
        raise BillingError(_("A credit must be a positive amount."))
    return _post(
        wallet=wallet, amount=amount, kind=kind, idempotency_key=idempotency_key, **details
    )


def wallet_debit(
    *, wallet: Wallet, amount: Decimal, kind: str, idempotency_key: str, **details
) -> WalletTransaction:
    if Decimal(amount) <= 0:
        raise BillingError(_("A debit must be a positive amount."))
    return _post(
        wallet=wallet,
        amount=-Decimal(amount),
        kind=kind,
        idempotency_key=idempotency_key,
        **details,
    )


@transaction.atomic
def wallet_set_auto_pay(*, wallet: Wallet, enabled: bool) -> Wallet:
    locked = Wallet.objects.select_for_update().get(pk=wallet.pk)
    locked.auto_pay = enabled
    locked.save(update_fields=["auto_pay", "updated_at"])
    return locked


def validate_topup_amount(amount: Decimal, currency: str = "IDR") -> Decimal:
    """The amount rounded to whole rupiah, or a ``BillingError`` saying the limits."""
    amount = round_money(Decimal(amount), currency)
    low, high = app_settings.TOPUP_MIN, app_settings.TOPUP_MAX
    if amount < low or amount > high:
        raise BillingError(
            _("A top-up must be between %(low)s and %(high)s.")
            % {"low": format_money(low, currency), "high": format_money(high, currency)}
        )
    return amount


@transaction.atomic
def topup_create(*, user, amount: Decimal, gateway: str = "") -> TopUp:
    """A pending top-up with the gateway payment that will pay it (no money moves yet)."""
    wallet = wallet_get_or_create(user=user)
    amount = validate_topup_amount(amount, wallet.currency)
    order_id = new_order_id("TOPUP")
    payment = payment_create(
        user=user,
        amount=amount,
        currency=wallet.currency,
        gateway=gateway,
        order_id=order_id,
    )
    return TopUp.objects.create(
        wallet=wallet, user=user, amount=amount, order_id=order_id, payment=payment
    )


def topup_checkout_start(
    *,
    user,
    amount: Decimal,
    finish_url: Callable[[str], str] | str | None = None,
    gateway: PaymentGateway | None = None,
    now: dt.datetime | None = None,
) -> TopUp:
    """Start a top-up: the gateway's payment page first, then the pending ``TopUp`` and
    its ``Payment`` (with ``snap_token`` and ``redirect_url``) in one transaction.

    Mirrors ``subscriptions.services.checkout_start``: a fresh order id for every
    attempt, and the gateway is called outside any transaction (the HTTP call must
    not hold rows locked, and a refusal must leave nothing behind). ``finish_url`` is
    where the gateway sends the browser back (a callable receives the order id).
    Raises ``BillingError`` for an amount outside the limits and ``GatewayError`` when
    the gateway refuses or cannot be reached; in both cases nothing is created. The
    wallet is credited later, once, by the webhook (``receivers.on_payment_success``).
    """
    gateway = gateway or get_gateway()
    existing = Wallet.objects.filter(user=user).only("currency").first()
    currency = existing.currency if existing is not None else app_settings.CURRENCY
    amount = validate_topup_amount(amount, currency)

    order_id = new_order_id("TOPUP")
    url = finish_url(order_id) if callable(finish_url) else (finish_url or "")
    request = snap_request(
        order_id=order_id,
        amount=amount,
        currency=currency,
        user=user,
        finish_url=url,
        expiry_minutes=billing_settings.CHECKOUT_EXPIRY_MINUTES,
        now=now,
    )
    # One item that names what is bought, instead of "Payment TOPUP-...".
    request["item_details"] = [
        {
            "id": "wallet-topup",
            "name": "Wallet top-up",
            "price": gateway_amount(amount, currency),
            "quantity": 1,
        }
    ]
    session = gateway.create_checkout(request)

    with transaction.atomic():
        wallet = wallet_get_or_create(user=user)
        payment = payment_create(
            user=user,
            amount=amount,
            currency=wallet.currency,
            gateway=gateway.name,
            order_id=order_id,
        )
        payment.snap_token = session.token[:100]
        payment.redirect_url = session.redirect_url
        # What was sent as items: the sandbox's payment page shows the same lines.
        payment.gateway_response = {**session.response, "item_details": request["item_details"]}
        payment.save(update_fields=["snap_token", "redirect_url", "gateway_response", "updated_at"])
        topup = TopUp.objects.create(
            wallet=wallet, user=user, amount=amount, order_id=order_id, payment=payment
        )
    logger.info("Top-up %s of %s started via %s", order_id, amount, gateway.name)
    return topup


@transaction.atomic
def topup_complete(*, topup: TopUp, now: dt.datetime | None = None) -> TopUp:
    """Credit the wallet for a settled top-up, exactly once however often it is called."""
    topup = TopUp.objects.select_for_update().select_related("wallet").get(pk=topup.pk)
    if topup.status == TopUpStatus.SUCCESS:
        return topup
    wallet_credit(
        wallet=topup.wallet,
        amount=topup.amount,
        kind=TransactionKind.TOP_UP,
        idempotency_key=f"topup:{topup.pk}",
        description=f"Top-up {topup.order_id}",
        topup=topup,
        payment=topup.payment,
    )
    topup.status = TopUpStatus.SUCCESS
    topup.completed_at = now or timezone.now()
    topup.save(update_fields=["status", "completed_at", "updated_at"])
    return topup


@transaction.atomic
def topup_fail(*, topup: TopUp, expired: bool = False) -> TopUp:
    topup = TopUp.objects.select_for_update().get(pk=topup.pk)
    if topup.status != TopUpStatus.PENDING:
        return topup
    topup.status = TopUpStatus.EXPIRED if expired else TopUpStatus.FAILED
    topup.save(update_fields=["status", "updated_at"])
    return topup


def _abandoned_topups(now: dt.datetime) -> Q:
    """Pending top-ups whose payment page has expired (``TopUp.is_abandoned``), paid
    through a gateway whose attempt is still pending there as far as we know."""
    expired_before = now - dt.timedelta(minutes=billing_settings.CHECKOUT_EXPIRY_MINUTES)
    return Q(
        status=TopUpStatus.PENDING,
        created_at__lte=expired_before,
        payment__status=PaymentStatus.PENDING,
    ) & ~Q(payment__gateway__in=LOCAL_GATEWAYS)


def topup_expire_abandoned(topup: TopUp, now: dt.datetime | None = None) -> str | None:
    """Settle the fate of a top-up left on the payment page, at the gateway first:
    the settlement's ``payment_expire`` (the rule of an invoice's stale attempts)
    expires the attempt, or, when the gateway says it was paid meanwhile, applies that
    payment, which credits the wallet (``receivers.on_payment_success``); an attempt
    the gateway never heard of is expired once its page is dead. The top-up follows
    its payment through the billing signals. No row lock is held over the HTTP call.

    Returns the billing run's count key, or ``None`` when nothing changed."""
    payment = Payment.objects.get(pk=topup.payment_id)
    update = payment_expire(payment=payment)
    if update.payment.is_paid:
        return "abandoned_topups_paid"
    if update.payment.status == PaymentStatus.EXPIRE:
        return "abandoned_topups_expired"
    return "abandoned_topups_updated" if update.changed else None


# The billing run's step (registered by ``apps.WalletsConfig.ready``): a top-up left on
# the payment page stops waiting once the page has expired, instead of after the
# generic stale-payment delay (``SUBSCRIPTIONS_PENDING_PAYMENT_HOURS``). It calls the
# gateway, so it runs unlocked (``Step.locked``).
ABANDONED_TOPUPS_STEP = Step(
    "abandoned top-ups",
    TopUp,
    _abandoned_topups,
    topup_expire_abandoned,
    locked=False,
)


def _debit_for(wallet: Wallet) -> Callable[[Payment], None]:
    def take_money(payment: Payment) -> None:
        if wallet.currency != payment.currency:
            raise BillingError(_("The wallet's currency does not match the invoice."))
        wallet_debit(
            wallet=wallet,
            amount=payment.gross_amount,
            kind=TransactionKind.PAYMENT,
            idempotency_key=f"payment:{payment.order_id}",
            description=f"Payment of invoice {payment.invoice.number}",
            payment=payment,
            invoice=payment.invoice,
        )

    return take_money


def wallet_pay_invoice(*, invoice: Invoice, user=None) -> Payment:
    """Pay an open invoice from its owner's wallet: a settled ``wallet`` payment and the
    debit in one transaction (the settlement's ``invoice_pay_locally``), so the invoice
    is paid through the same path (and signals) as a gateway payment, or not at all.
    A pending gateway attempt of the invoice is expired first."""
    wallet = wallet_get_or_create(user=invoice.user)
    return invoice_pay_locally(
        invoice=invoice,
        gateway="wallet",
        payment_type="wallet",
        user=user,
        take_money=_debit_for(wallet),
    )


def wallet_autopay_invoice(invoice: Invoice) -> Payment | None:
    """The billing run's collector: pay from the wallet when auto-pay is on and the
    balance covers the invoice; otherwise leave the invoice open (``None``). Runs inside
    the billing run's transaction: no gateway call, so an invoice with a live gateway
    attempt is refused (the settlement's ``PaymentInProgress``)."""
    wallet = Wallet.objects.filter(user_id=invoice.user_id).first()
    if wallet is None or not wallet.auto_pay or wallet.balance < invoice.total:
        return None
    return invoice_pay_locally(
        invoice=invoice,
        gateway="wallet",
        payment_type="wallet",
        take_money=_debit_for(wallet),
        stop_attempts=False,
    )


class WalletBalance:
    """The wallet as the settlement's customer balance (``subscriptions.balances``)."""

    def credit(self, *, refund: Refund) -> None:
        payment = refund.payment
        what = payment.invoice.number if payment.invoice_id else payment.order_id
        wallet_credit(
            wallet=wallet_get_or_create(user=payment.user),
            amount=refund.amount,
            kind=TransactionKind.REFUND,
            idempotency_key=f"refund:{refund.refund_key}",
            description=f"Refund of {what}: {refund.reason}",
            payment=payment,
            invoice=payment.invoice,
            refund=refund,
            created_by=refund.created_by,
        )

    def topup_balance(self, *, payment: Payment) -> Decimal | None:
        if payment.invoice_id is not None:
            return None
        topup = TopUp.objects.filter(payment=payment).select_related("wallet").first()
        return None if topup is None else topup.wallet.balance

    def reclaim(self, *, refund: Refund, amount: Decimal, partial: bool = False) -> Decimal:
        topup = TopUp.objects.select_related("wallet").get(payment_id=refund.payment_id)
        wallet = topup.wallet
        if partial:
            locked = Wallet.objects.select_for_update().get(pk=wallet.pk)
            amount = min(amount, locked.balance)
            if amount <= 0:
                return Decimal("0")
        wallet_debit(
            wallet=wallet,
            amount=amount,
            kind=TransactionKind.RECLAIM,
            idempotency_key=f"reclaim:{refund.refund_key}",
            description=f"Top-up {topup.order_id} refunded",
            topup=topup,
            payment=refund.payment,
            refund=refund,
        )
        return amount

    def release(self, *, refund: Refund) -> None:
        for entry in WalletTransaction.objects.filter(refund=refund, kind=TransactionKind.RECLAIM):
            wallet_reverse(
                entry=entry,
                reason=f"refund of the top-up failed ({refund.error[:100]})",
                created_by=None,
                refund=refund,
            )


def wallet_adjust(
    *,
    wallet: Wallet,
    amount: Decimal,
    reason: str,
    created_by,
    idempotency_key: str | None = None,
) -> WalletTransaction:
    """A staff correction (credit if positive, debit if negative) with a mandatory reason."""
    reason = (reason or "").strip()
    if not reason:
        raise BillingError(_("A reason is required for an adjustment."))
    return _post(
        wallet=wallet,
        amount=Decimal(amount),
        kind=TransactionKind.ADJUSTMENT,
        idempotency_key=idempotency_key or f"adjust:{uuid.uuid4().hex}",
        description=f"Adjustment: {reason}",
        created_by=created_by,
    )


@transaction.atomic
def wallet_reverse(
    *, entry: WalletTransaction, reason: str, created_by, refund: Refund | None = None
) -> WalletTransaction:
    """Undo a ledger row with an opposite row (the original stays as it was); ``refund``:
    the failed refund whose reclaimed credit this gives back."""
    reason = (reason or "").strip()
    if not reason:
        raise BillingError(_("A reason is required for a reversal."))
    if entry.kind == TransactionKind.REVERSAL:
        raise BillingError(_("A reversal cannot itself be reversed; add an adjustment."))
    if WalletTransaction.objects.filter(reverses=entry).exists():
        raise BillingError(_("This entry has already been reversed."))
    return _post(
        wallet=entry.wallet,
        amount=-entry.amount,
        kind=TransactionKind.REVERSAL,
        idempotency_key=f"reverse:{entry.pk}",
        description=f"Reversal of #{entry.pk}: {reason}",
        reverses=entry,
        refund=refund,
        created_by=created_by,
    )
