"""Production settings: ``check --deploy`` is clean with real values, and the portal
refuses to start without a SECRET_KEY when DEBUG is off.

Settings are read once per process, so each case runs manage.py in a subprocess with
its own environment.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DEBUG": "0",
    "ALLOWED_HOSTS": "billing.example.com",
    "SITE_URL": "https://billing.example.com",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {
        key: value
        for key, value in os.environ.items()
        # DJANGO_ALLOW_ASYNC_UNSAFE: set by the browser tests' Playwright fixture in this
        # process; a production check must not inherit it (async.E001).
        if key
        not in {
            "DEBUG",
            "SECRET_KEY",
            "ALLOWED_HOSTS",
            "SITE_URL",
            "DJANGO_SETTINGS_MODULE",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
            "SESSION_ENGINE",
            "CACHE_URL",
        }
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env={**base, "DJANGO_SETTINGS_MODULE": "portal.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_is_clean_with_production_settings():
    env = {**PRODUCTION_ENV, "SECRET_KEY": secrets.token_urlsafe(64)}

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_about_a_weak_secret_key():
    env = {**PRODUCTION_ENV, "SECRET_KEY": "short"}

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


def test_starting_without_a_secret_key_and_debug_off_fails_with_a_clear_error():
    result = manage("check", env=PRODUCTION_ENV)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY is not set" in result.stderr


def test_debug_runs_with_the_development_key():
    result = manage("check", env={"DEBUG": "true"})

    assert result.returncode == 0, result.stderr


PRINT_SESSION_ENGINE = "from django.conf import settings; print(settings.SESSION_ENGINE)"


def test_sessions_are_database_rows_by_default():
    result = manage("shell", "--no-imports", "-c", PRINT_SESSION_ENGINE, env={"DEBUG": "true"})

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.contrib.sessions.backends.db"


def test_cached_db_sessions_with_a_shared_cache():
    env = {
        "DEBUG": "true",
        "SESSION_ENGINE": "cached_db",
        "CACHE_URL": "redis://127.0.0.1:6379/15",
    }

    result = manage("shell", "--no-imports", "-c", PRINT_SESSION_ENGINE, env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.contrib.sessions.backends.cached_db"


def test_cached_db_sessions_are_refused_with_a_per_process_cache():
    env = {"DEBUG": "true", "SESSION_ENGINE": "cached_db", "CACHE_URL": "locmemcache://"}

    result = manage("check", env=env)

    assert result.returncode != 0
    assert "needs a cache every process shares" in result.stderr


def test_an_unknown_session_engine_is_refused_by_name():
    result = manage("check", env={"DEBUG": "true", "SESSION_ENGINE": "signed_cookies"})

    assert result.returncode != 0
    assert "SESSION_ENGINE must be one of db, cached_db" in result.stderr


def test_check_deploy_warns_when_the_sandbox_is_allowed_with_debug_off():
    env = {
        **PRODUCTION_ENV,
        "SECRET_KEY": secrets.token_urlsafe(64),
        "SUBSCRIPTIONS_SANDBOX_ALLOWED": "1",
    }

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode != 0
    assert "subscriptions.W001" in result.stdout + result.stderr
    # Without --deploy (starting the server, migrating) it says nothing.
    assert manage("check", "--fail-level", "WARNING", env=env).returncode == 0
