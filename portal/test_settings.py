"""Settings for the test suite: the real settings with development defaults filled in.

``DATABASE_URL`` is still honoured, so CI runs the same suite on PostgreSQL.
"""

import os

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("SITE_URL", "http://testserver")

from portal.settings import *  # noqa: F403

# Hashing passwords properly costs ~100 ms a user; tests create thousands.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
ACCOUNT_RATE_LIMITS = False
