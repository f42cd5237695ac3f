"""Settings for the billing portal.

Everything that differs between a laptop and production is read from the
environment (see the README's configuration table). With nothing set, the portal
runs in DEBUG on a SQLite file under ``var/`` with the offline sandbox gateway and
console email. With ``DEBUG`` off it refuses to start without a real
``SECRET_KEY`` and turns every HTTPS hardening switch on, so that
``manage.py check --deploy`` is clean.
"""

from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)

# The well-known development key (bandit B105): with DEBUG off, SECRET_KEY must be set.
_DEV_SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"  # noqa: S105 # nosec B105
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY in the environment "
            "(or DEBUG=1 for local development only)."
        )
    SECRET_KEY = _DEV_SECRET_KEY

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Absolute base URL used for links in emails and for gateway callbacks.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "crispy_forms",
    "crispy_tailwind",
    "django_htmx",
    "template_partials",
    "django_tasks",
    "django_tasks_db",
    "subscriptions",
    "wallets",
    "portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "portal.middleware.RejectNulBytesMiddleware",
    "portal.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.languages.UserLanguageMiddleware",
    "portal.middleware.PrivatePagesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "portal.middleware.MethodNotAllowedPageMiddleware",
]

ROOT_URLCONF = "portal.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.notifications.banners",
            ],
        },
    },
]

WSGI_APPLICATION = "portal.wsgi.application"

VAR_DIR.mkdir(exist_ok=True)
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Wait for a concurrent writer instead of failing at once with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("timeout", 20)
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# A cache every process shares: allauth keeps its rate limits and used TOTP codes here,
# so a per-process cache (locmem) would let each worker count failures on its own.
# Default: the database cache (table ``django_cache``; ``make migrate`` and Django's
# test runner create it with ``createcachetable``), which needs nothing but the
# database. Production: CACHE_URL=redis://host:6379/0 (Django's RedisCache, redis-py).
CACHES = {"default": env.cache("CACHE_URL", default="dbcache://django_cache")}

# Sessions are rows in the database. With a shared in-memory cache (CACHE_URL=redis://)
# SESSION_ENGINE=cached_db reads them from the cache instead: one query less on every
# signed-in request, still written through to the database. Refused with a
# per-process cache, where signing out in one worker would leave the session alive
# in the others.
SESSION_ENGINES = {
    "db": "django.contrib.sessions.backends.db",
    "cached_db": "django.contrib.sessions.backends.cached_db",
}
_session_engine = env("SESSION_ENGINE", default="db")
if _session_engine not in SESSION_ENGINES:
    raise ImproperlyConfigured(
        f"SESSION_ENGINE must be one of {', '.join(SESSION_ENGINES)}, not {_session_engine!r}"
    )
if _session_engine == "cached_db" and CACHES["default"]["BACKEND"].endswith(
    ("locmem.LocMemCache", "dummy.DummyCache")
):
    raise ImproperlyConfigured(
        "SESSION_ENGINE=cached_db needs a cache every process shares (CACHE_URL=redis://...)"
    )
SESSION_ENGINE = SESSION_ENGINES[_session_engine]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "portal:dashboard"

# django-allauth
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env.str(
    "ACCOUNT_EMAIL_VERIFICATION", default="optional" if DEBUG else "mandatory"
)
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http" if DEBUG else "https"
# Rate limits (ACCOUNT_RATE_LIMITS) stay at allauth's defaults, which are on: e.g. 5
# failed sign-ins per account in 5 minutes, 10 per IP a minute. They live in CACHES.
# The adapter reads client addresses through TRUSTED_PROXY_COUNT and builds every
# emailed link from SITE_URL, never from the request's Host.
ACCOUNT_ADAPTER = "portal.account_adapter.AccountAdapter"

# Optional two-factor sign-in: an authenticator app (TOTP) with recovery codes.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env.str("MFA_TOTP_ISSUER", default="Billing portal")

# English and Indonesian. A visitor's language: their stored preference once signed in,
# else the language cookie set by the switch, else the browser's Accept-Language, else
# LANGUAGE_CODE (also the language of emails to someone who never chose one).
LANGUAGES = [("en", "English"), ("id", "Bahasa Indonesia")]
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en")
LOCALE_PATHS = [BASE_DIR / "locale"]
# Dates as the portal writes them: "8 Dec 2026" in English, "8 Desember 2026" in Indonesian.
FORMAT_MODULE_PATH = ["portal.formats"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 60 * 60
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Jakarta")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "tailwind"
CRISPY_TEMPLATE_PACK = "tailwind"

# Email: console by default; EMAIL_URL (smtp://, consolemail://, filemail://...) overrides.
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Billing <billing@localhost>")
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)

# Billing emails are sent by a background task (portal/tasks.py) after the commit:
# through django-tasks-db's database queue, worked by `manage.py db_worker`, or with
# DEBUG on (make run, tests) by the immediate backend, in the process, at the commit.
# TASKS_BACKEND overrides either ("django_tasks_db.DatabaseBackend" to try the worker).
TASKS = {
    "default": {
        "BACKEND": env.str(
            "TASKS_BACKEND",
            default="django_tasks.backends.immediate.ImmediateBackend"
            if DEBUG
            else "django_tasks_db.DatabaseBackend",
        )
    }
}
# Seconds before the 2nd, 3rd, ... attempt of an email that failed for a passing reason.
PORTAL_EMAIL_RETRY_DELAYS = (60, 300, 1800)
# Days an invoice email's link to its hosted page (view and pay without signing in) works.
PORTAL_INVOICE_LINK_MAX_AGE_DAYS = env.int("PORTAL_INVOICE_LINK_MAX_AGE_DAYS", default=30)

# The seller named on the hosted invoice page, in every email and on the invoice PDF
# (portal/seller.py): legal name, postal address (one line per line; "\n" in the
# variable is a new line too), tax ID (NPWP), billing contact address, and a logo (a
# static path, PNG or JPEG; "" for none). Each is left out while it is empty.
PORTAL_SELLER_NAME = env.str("PORTAL_SELLER_NAME", default="")
PORTAL_SELLER_ADDRESS = env.str("PORTAL_SELLER_ADDRESS", default="", multiline=True)
PORTAL_SELLER_TAX_ID = env.str("PORTAL_SELLER_TAX_ID", default="")
PORTAL_SELLER_EMAIL = env.str("PORTAL_SELLER_EMAIL", default="")
PORTAL_SELLER_LOGO = env.str("PORTAL_SELLER_LOGO", default="img/logo.png")

# Starting a payment creates a transaction at the gateway: at most this many starts
# (checkout, top-up, the hosted invoice's "Pay now") per customer and per client
# address in each window of PORTAL_PAYMENT_STARTS_WINDOW seconds, then 429 (0: no
# limit). Counted in CACHES (portal/throttle.py).
PORTAL_PAYMENT_STARTS_PER_USER = env.int("PORTAL_PAYMENT_STARTS_PER_USER", default=10)
PORTAL_PAYMENT_STARTS_PER_IP = env.int("PORTAL_PAYMENT_STARTS_PER_IP", default=30)
PORTAL_PAYMENT_STARTS_WINDOW = env.int("PORTAL_PAYMENT_STARTS_WINDOW", default=600)

# Billing (see subscriptions/app_settings.py for every SUBSCRIPTIONS_* setting).
SUBSCRIPTIONS_CURRENCY = env.str("SUBSCRIPTIONS_CURRENCY", default="IDR")

# Payments: Midtrans when MIDTRANS_SERVER_KEY is set, otherwise the offline sandbox
# (which refuses to run with DEBUG off unless SUBSCRIPTIONS_SANDBOX_ALLOWED is set).
MIDTRANS_SERVER_KEY = env.str("MIDTRANS_SERVER_KEY", default="")
MIDTRANS_CLIENT_KEY = env.str("MIDTRANS_CLIENT_KEY", default="")
MIDTRANS_MERCHANT_ID = env.str("MIDTRANS_MERCHANT_ID", default="")
MIDTRANS_IS_PRODUCTION = env.bool("MIDTRANS_IS_PRODUCTION", default=False)
MIDTRANS_NOTIFICATION_URL = env.str("MIDTRANS_NOTIFICATION_URL", default="")
MIDTRANS_VERIFY_STATUS = env.bool("MIDTRANS_VERIFY_STATUS", default=False)
MIDTRANS_API_BASE_URL = env.str("MIDTRANS_API_BASE_URL", default="")
MIDTRANS_SNAP_BASE_URL = env.str("MIDTRANS_SNAP_BASE_URL", default="")
SUBSCRIPTIONS_GATEWAY = env.str("SUBSCRIPTIONS_GATEWAY", default="")
SUBSCRIPTIONS_SANDBOX_ALLOWED = env.bool("SUBSCRIPTIONS_SANDBOX_ALLOWED", default=False)

# Reverse proxies in front of the portal that append the client's address to
# X-Forwarded-For (a load balancer, nginx: 1; a CDN in front of those: 2). 0, the
# default, trusts no header and takes the connection's address: right when clients
# connect directly, and never spoofable. Behind a proxy, 0 makes every customer look
# like the proxy (one attacker's failed sign-ins would lock everyone out). Read by
# subscriptions.client_ip for allauth's rate limits, the payment throttle and the
# webhook log.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT

# Security: HTTPS hardening whenever DEBUG is off.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
LANGUAGE_COOKIE_SECURE = not DEBUG
LANGUAGE_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp; portal/middleware.py adds Snap's origin and
# SITE_URL's from the settings of the day). Scripts only from files we serve: no inline
# script, no event-handler attribute, no eval (htmx's allowEval is off, base.html). A
# <style> element needs the request's nonce ({{ request.csp_nonce }}); style attributes
# are allowed (the admin's and the emails' markup; they cannot run code). frame-src
# 'self' covers the email previews' sandboxed iframes.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, NONCE],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "frame-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
