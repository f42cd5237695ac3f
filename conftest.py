"""Shared fixtures for the whole suite.

Tests marked ``postgres`` need PostgreSQL semantics (row locks, several processes at
once); they are skipped when the suite runs on the SQLite default and run in CI,
which runs the suite on both.
"""

from __future__ import annotations

import pytest
from django.db import connection


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" in engine:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL=postgres://...)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def is_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def alice(db):
    from subscriptions.tests.factories import UserFactory

    return UserFactory(email="alice@example.com")


@pytest.fixture
def bob(db):
    from subscriptions.tests.factories import UserFactory

    return UserFactory(email="bob@example.com")


@pytest.fixture
def staff(db):
    from subscriptions.tests.factories import UserFactory

    return UserFactory(email="staff@example.com", is_staff=True, is_superuser=True)
