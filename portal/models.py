"""What the portal remembers about telling people things: banners and sent emails.

Design in a few lines:

- A ``Notification`` is one in-app banner for one user, stored untranslated: its
  ``title``, ``message`` and ``link_label`` are msgids and ``params`` their values,
  said in the reader's language when shown (``heading``, ``body``, ``action_label``;
  ``portal/texts.py``). Rows from before (``params`` null) hold final English text.
  The receivers in
  ``receivers.py`` create it inside the billing transaction (so it rolls back with the
  change it announces), at most once per event: ``key`` is unique per user.
  Dismissing it sets ``dismissed_at``; a banner that asked for an action on an invoice
  is dismissed for the user when that invoice is paid or voided.
- A ``SentEmail`` is one email to one user about one event, recorded in the same
  transaction as the event (an outbox row) and sent by a background task after the
  commit. ``idempotency_key`` is unique, so a repeated signal (a webhook delivered
  twice, a second billing run) cannot queue a second copy; ``status`` says whether it
  went out, and the admin's invoice timeline lists the rows of an invoice.
"""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, connections, models, router, transaction
from django.db.models import Q
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery


def insert_unless_exists(obj: models.Model) -> bool:
    """Insert ``obj`` unless a row with one of its unique values exists already; return
    whether it was inserted (``obj.pk`` is then set).

    One statement, ``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` (SQLite: ``INSERT
    OR IGNORE``), in place of a savepoint around ``create()`` and a caught
    ``IntegrityError``: a conflict leaves the surrounding transaction usable on
    PostgreSQL without a savepoint to roll back to. Like ``create()`` it fills
    ``auto_now_add`` fields; it sends no ``pre_save``/``post_save`` (nothing listens to
    these two models' saves).
    """
    model = type(obj)
    meta = model._meta
    using = router.db_for_write(model, instance=obj)
    connection = connections[using]
    if not connection.features.can_return_columns_from_insert:  # pragma: no cover
        try:
            with transaction.atomic(using=using):
                obj.save(force_insert=True, using=using)
        except IntegrityError:
            return False
        return True
    fields = [f for f in meta.local_concrete_fields if f is not meta.auto_field and not f.generated]
    query = InsertQuery(model, on_conflict=OnConflict.IGNORE)
    query.insert_values(fields, [obj])
    compiler = query.get_compiler(using=using)
    compiler.returning_fields = [meta.pk]
    [(sql, params)] = compiler.as_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return False
    obj.pk = row[0]
    obj._state.adding = False
    obj._state.db = using
    return True


class NotificationLevel(models.TextChoices):
    INFO = "info", "Information"
    SUCCESS = "success", "Success"
    WARNING = "warning", "Warning"
    ERROR = "error", "Action needed"


class NotificationQuerySet(models.QuerySet):
    def unread(self):
        return self.filter(dismissed_at__isnull=True)


class Notification(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=40)
    level = models.CharField(
        max_length=7, choices=NotificationLevel.choices, default=NotificationLevel.INFO
    )
    # msgids ("Invoice {number} is overdue") filled with ``params`` when shown.
    title = models.CharField(max_length=200)
    message = models.TextField(blank=True)
    # The values of the texts' {placeholders}; null: the texts are final (older rows).
    params = models.JSONField(null=True, blank=True)
    # A site-relative path ("/billing/..."); invoice banners compute theirs (see ``url``).
    link = models.CharField(max_length=500, blank=True)
    link_label = models.CharField(max_length=60, blank=True)
    # The banner asks the reader to do something (pay, top up, undo).
    needs_action = models.BooleanField(default=False)
    invoice = models.ForeignKey(
        "subscriptions.Invoice",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notifications",
    )
    # One banner per event: the receivers derive it from what happened.
    key = models.CharField(max_length=150)
    # What the banner is about ("subscription:12", "invoice:7", "wallet:3"): a newer
    # banner of the same kind about the same thing replaces it.
    about = models.CharField(max_length=60, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    dismissed_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="one_notification_per_event"),
        ]
        indexes = [
            models.Index(
                fields=["user", "-created_at"],
                condition=Q(dismissed_at__isnull=True),
                name="notification_unread_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.heading}"

    @property
    def is_unread(self) -> bool:
        return self.dismissed_at is None

    def _said(self, text: str) -> str:
        if self.params is None:
            return text
        from .texts import say

        return say(text, self.params)

    @property
    def heading(self) -> str:
        """The title in the reader's language."""
        return self._said(self.title)

    @property
    def body(self) -> str:
        return self._said(self.message)

    @property
    def action_label(self) -> str:
        return self._said(self.link_label)

    @property
    def url(self) -> str:
        """Where the banner's action leads (no query: an invoice link needs only its id)."""
        if self.link:
            return self.link
        if self.invoice_id:
            from .links import invoice_page_path

            return invoice_page_path(self.invoice_id)
        return ""


class EmailStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"


class SentEmail(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sent_emails"
    )
    invoice = models.ForeignKey(
        "subscriptions.Invoice",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sent_emails",
    )
    kind = models.CharField(max_length=40)
    idempotency_key = models.CharField(max_length=200, unique=True)
    # What the email is about: ids and values the templates need (JSON-safe).
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=7, choices=EmailStatus.choices, default=EmailStatus.QUEUED)
    to_email = models.EmailField(blank=True)
    subject = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "sent email"

    def __str__(self) -> str:
        return f"{self.kind} to {self.to_email or self.user} ({self.get_status_display()})"


class Preferences(models.Model):
    """What a subscriber chose for the whole account, so that it follows them to every
    device and to the emails sent while they are away (``portal/languages.py``)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="portal_preferences",
    )
    # A code of settings.LANGUAGES; blank: never chosen (the site's LANGUAGE_CODE).
    language = models.CharField(max_length=10, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "preferences"
        verbose_name_plural = "preferences"

    def __str__(self) -> str:
        return f"{self.user}: {self.language or '-'}"
