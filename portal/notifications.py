"""In-app banners: create one per event, show the unread ones, dismiss them.

``notify`` runs inside the billing transaction that made the change (the receivers
call it), so a banner exists exactly when the change committed. Its ``key`` makes it
once-only: the same event announced twice (a webhook retried, the billing run run
twice) finds the banner already there and adds nothing.

A banner that asks for something (``needs_action``: pay an invoice, top up) shows its
link label as the action ("Payment failed for INV-1: pay now", templates
``portal/notifications/``) only while it asks: when what it asked for is done or no
longer possible, the ``resolve_*`` functions below make it stop asking, on the
notifications page too.

The notification region on every page shows the unread banners of the signed-in user
with one query, made only when the region is rendered (``banners`` context processor).
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, DateTimeField, Value, Window
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext_noop

from .models import Notification, NotificationLevel, insert_unless_exists
from .texts import jsonable

# The link of a banner about an invoice once it no longer asks for a payment.
VIEW_INVOICE = gettext_noop("View invoice")
# Banners shown at once in the region (one less on a phone); older unread ones wait on
# the notifications page, which the region links to with their number.
REGION_LIMIT = 3


def notify(
    *,
    user=None,
    user_id: int | None = None,
    kind: str,
    key: str,
    title: str,
    message: str = "",
    level: str = NotificationLevel.INFO,
    link: str = "",
    link_label: str = "",
    params: dict | None = None,
    invoice=None,
    about: str = "",
    needs_action: bool = False,
) -> Notification | None:
    """Create the banner for one event; ``None`` when that event already has one.

    ``title``, ``message`` and ``link_label`` are msgids, said in the reader's language
    with ``params`` when the banner is shown (``portal/texts.py``); without ``params``
    they are shown as they are.

    ``user`` or ``user_id`` (the receivers pass the id they hold: no read of the user).
    One ``INSERT ... ON CONFLICT DO NOTHING``: no savepoint, no caught IntegrityError.
    A banner ``about`` something replaces the unread ones of its kind about the same
    thing (a third "resumed" after three pause/resume cycles leaves one to read).
    """
    notification = Notification(
        user=user,
        kind=kind,
        key=key[:150],
        title=title[:200],
        message=message,
        level=level,
        link=link,
        link_label=link_label[:60],
        params=(
            {name: jsonable(value) for name, value in params.items()}
            if params is not None
            else None
        ),
        invoice=invoice,
        about=about[:60],
        needs_action=needs_action,
    )
    if user is None:
        if user_id is None:
            raise ValueError("notify() needs user or user_id")
        notification.user_id = user_id
    if not insert_unless_exists(notification):
        return None
    if about:
        Notification.objects.unread().filter(
            user_id=notification.user_id, kind=kind, about=about
        ).exclude(pk=notification.pk).update(dismissed_at=timezone.now(), needs_action=False)
    return notification


def acknowledge(user, about: str, *, since: dt.datetime) -> int:
    """The subscriber did this themselves and a message on the page already says so:
    the banners about ``about`` that the action created (since ``since``) are read."""
    if not user.is_authenticated:
        return 0
    return (
        Notification.objects.unread()
        .filter(user=user, about=about, created_at__gte=since)
        .update(dismissed_at=timezone.now())
    )


def resolve_invoice_banners(
    invoice_id: int, *, keep_key: str = "", now: dt.datetime | None = None
) -> int:
    """The invoice was paid or voided (or a newer banner asks for it instead): its
    "pay now" banners stop asking. Each is dismissed (unless it was already) and, on
    the notifications page too, leads to the invoice instead of asking to pay it.
    ``keep_key`` spares the banner of that newer event."""
    return (
        Notification.objects.filter(invoice_id=invoice_id, needs_action=True)
        .exclude(key=keep_key)
        .update(
            dismissed_at=Coalesce(
                "dismissed_at", Value(now or timezone.now(), output_field=DateTimeField())
            ),
            needs_action=False,
            link_label=VIEW_INVOICE,
        )
    )


def resolve_banners(user_id: int, kinds: tuple[str, ...], *, now: dt.datetime | None = None) -> int:
    """Dismiss the user's unread banners of these kinds (what they said no longer holds);
    any action they asked for is no longer asked."""
    return (
        Notification.objects.unread()
        .filter(user_id=user_id, kind__in=kinds)
        .update(dismissed_at=now or timezone.now(), needs_action=False)
    )


def dismiss(notification: Notification, *, now: dt.datetime | None = None) -> None:
    if notification.dismissed_at is None:
        notification.dismissed_at = now or timezone.now()
        notification.save(update_fields=["dismissed_at"])


def dismiss_all(user) -> int:
    return Notification.objects.unread().filter(user=user).update(dismissed_at=timezone.now())


def unread_banners(user, limit: int = REGION_LIMIT) -> list[Notification]:
    """Up to ``limit`` newest unread banners, each with ``unread``: how many there are
    in all (one query: a window count over the user's unread banners)."""
    return list(
        Notification.objects.unread()
        .filter(user=user)
        .annotate(unread=Window(Count("pk")))
        .order_by("-created_at", "-pk")[:limit]
    )


class Banners:
    """What the region renders: the banners to show and how many more are waiting
    (``more``; ``more_on_phone`` counts the last one, which a phone hides too)."""

    def __init__(self, user) -> None:
        found = unread_banners(user) if user is not None and user.is_authenticated else []
        self.items = found
        total = found[0].unread if found else 0
        self.more = total - len(found)
        self.more_on_phone = self.more + (1 if len(found) == REGION_LIMIT else 0)

    def __iter__(self):
        return iter(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)


def banners(request) -> dict:
    """Context processor: ``notification_banners``, queried only if a template uses it."""
    return {
        "notification_banners": SimpleLazyObject(lambda: Banners(getattr(request, "user", None)))
    }
