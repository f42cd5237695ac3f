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
# The payment-start throttle counts per client address in the cache, and every test
# client is 127.0.0.1: off here like allauth's; portal/tests/test_payment_throttle.py
# switches it on.
PORTAL_PAYMENT_STARTS_PER_USER = 0
PORTAL_PAYMENT_STARTS_PER_IP = 0
