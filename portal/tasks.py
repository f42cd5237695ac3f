"""Background tasks (django-tasks): sending one email.

``TASKS`` in settings picks the backend: django-tasks-db's database queue in
production (run ``manage.py db_worker``; ``emails.queue_email`` writes the task's row in
the transaction that records the email, so both commit or roll back together), the
immediate backend in development and tests (the task runs in the process that enqueued
it, right after the commit).
The worker runs in no particular language: each email is written in its recipient's
(``emails.build_message``).
Retries are ours, not the framework's: ``emails.deliver`` re-enqueues the task after a
transient failure (with ``run_after`` on a backend that can defer).
"""

from __future__ import annotations

from django_tasks import task

from . import emails


@task()
def send_email(sent_email_id: int) -> str:
    return emails.deliver(sent_email_id)
