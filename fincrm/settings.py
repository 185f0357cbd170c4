"""The one settings module. Values an operator may change come from fincrm.config."""

from __future__ import annotations

from typing import Any

import dj_database_url

from fincrm import config as config_module

CONFIG = config_module.load()
BASE_DIR = config_module.BASE_DIR
PRODUCTION = CONFIG.is_production

SECRET_KEY = CONFIG.secret_key
DEBUG = CONFIG.debug
ALLOWED_HOSTS = CONFIG.allowed_hosts
CSRF_TRUSTED_ORIGINS = CONFIG.csrf_trusted_origins

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",
    "fincrm.platform",
    "fincrm.audit",
    "fincrm.security",
    "fincrm.org",
    "fincrm.users",
    "fincrm.customers",
    "fincrm.products",
    "fincrm.portfolio",
    "fincrm.privacy",
    "fincrm.integration",
    "fincrm.web",
]
# Django's admin is not installed in any profile: administration goes through fincrm's own
# pages and services, which check permissions and write the audit log.

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "fincrm.platform.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "fincrm.users.middleware.SessionPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "fincrm.users.middleware.ActorMiddleware",
    "csp.middleware.CSPMiddleware",
    "fincrm.platform.middleware.ForbiddenPageMiddleware",
]

ROOT_URLCONF = "fincrm.urls"
WSGI_APPLICATION = "fincrm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "fincrm.web.context_processors.shell",
            ],
        },
    },
]

# Database: DATABASE_URL, default an SQLite file in the data folder (created on first run).
if CONFIG.database_url.startswith("sqlite:///"):
    CONFIG.data_dir.mkdir(parents=True, exist_ok=True)
_database: dict[str, Any] = dict(dj_database_url.parse(CONFIG.database_url, conn_max_age=0))
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the single writer; IMMEDIATE takes the write lock at BEGIN,
    # so two writers queue on the busy timeout instead of failing with "database is locked".
    _database["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    _database["CONN_MAX_AGE"] = 60
    _database["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if CONFIG.cache_url.startswith("redis://"):
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CONFIG.cache_url}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "fincrm"}}

AUTH_USER_MODEL = "users.User"
AUTHENTICATION_BACKENDS = ["fincrm.users.backends.StaffBackend"]
LOGIN_URL = "users:sign-in"
LOGIN_REDIRECT_URL = "web:home"

# Argon2id in production and development; tests use a fast hasher (tests/users checks production).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
if CONFIG.is_test:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("username", "full_name", "email")},
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Sessions: server-side rows; idle and absolute limits enforced by SessionPolicyMiddleware.
SESSION_ENGINE = "fincrm.users.session_store"
SESSION_COOKIE_AGE = CONFIG.session_absolute_hours * 3600
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PRODUCTION
SESSION_COOKIE_NAME = "__Host-fincrm-session" if PRODUCTION else "fincrm-session"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_NAME = "__Host-fincrm-csrf" if PRODUCTION else "fincrm-csrf"
LANGUAGE_COOKIE_SECURE = PRODUCTION
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"

# Security headers (DOMAIN.md security baseline).
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if PRODUCTION:
    # fincrm runs behind a TLS-terminating proxy that sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = 31_536_000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_REDIRECT_EXEMPT = [r"^health/$"]

# Content Security Policy: scripts only from our own origin (no inline script, no eval).
# Styles: <style> elements and style sheets only from our origin; style *attributes* are
# allowed because ECharts tooltips and Tabler components write them (docs/security-headers.md).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-elem": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Internationalization: zh-Hans is the default, English is complete.
LANGUAGE_CODE = "zh-hans"
FORMAT_MODULE_PATH = ["fincrm.formats"]
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "fincrm" / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = CONFIG.time_zone

STATIC_URL = "static/"
# Collected (hashed, compressed) for production; development and tests serve from the finders.
STATIC_ROOT = BASE_DIR / "staticfiles" if PRODUCTION else None
STATICFILES_DIRS = [BASE_DIR / "build" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

DATA_UPLOAD_MAX_MEMORY_SIZE = CONFIG.api_max_body_bytes
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000
# Uploads too big for memory are spooled encrypted (never in clear in a temporary file).
FILE_UPLOAD_HANDLERS = [
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "fincrm.integration.forms.EncryptedSpoolUploadHandler",
]

# fincrm's own settings (see docs/operations/configuration.md).
FINCRM_SESSION_IDLE_SECONDS = CONFIG.session_idle_minutes * 60
FINCRM_SESSION_ABSOLUTE_SECONDS = CONFIG.session_absolute_hours * 3600
FINCRM_LOCKOUT_FAILURES = CONFIG.lockout_failures
FINCRM_LOCKOUT_WINDOW_SECONDS = CONFIG.lockout_window_minutes * 60
FINCRM_LOGIN_IP_FREE_FAILURES = CONFIG.ip_free_failures
FINCRM_LOGIN_IP_DELAY_CAP_SECONDS = CONFIG.ip_delay_cap_seconds
FINCRM_WORKING_HOURS = (CONFIG.working_hours_start, CONFIG.working_hours_end)
FINCRM_TRUSTED_PROXY_HEADER = CONFIG.trusted_proxy_header
FINCRM_MFA_ISSUER = CONFIG.mfa_issuer
FINCRM_API_RATE_LIMIT_PER_MINUTE = CONFIG.api_rate_limit_per_minute
FINCRM_API_PAGE_SIZE_MAX = CONFIG.api_page_size_max
FINCRM_API_TOKEN_DEFAULT_DAYS = CONFIG.api_token_default_days
FINCRM_JOB_POLL_SECONDS = CONFIG.job_poll_seconds
FINCRM_JOB_LOCK_TIMEOUT_SECONDS = CONFIG.job_lock_timeout_seconds
FINCRM_OUTBOX_DISPATCH_SECONDS = CONFIG.outbox_dispatch_seconds
FINCRM_MFA_PENDING_SECONDS = 300
# Keyring (docs/security-keys.md): the master key comes from the environment or a key file.
FINCRM_MASTER_KEY = CONFIG.master_key
FINCRM_MASTER_KEY_FILE = CONFIG.master_key_file
FINCRM_KEY_ROTATE_AFTER_ENCRYPTIONS = CONFIG.key_rotate_after_encryptions
FINCRM_KEY_COUNTER_FLUSH_EVERY = CONFIG.key_counter_flush_every
FINCRM_KEY_ROTATION_BATCH = CONFIG.key_rotation_batch
FINCRM_KEY_CACHE_SECONDS = CONFIG.key_cache_seconds
FINCRM_DATA_DIR = CONFIG.data_dir
FINCRM_PROFILE = CONFIG.profile
# Audit chain (docs/security-audit.md): head-signing key (outside the database) and head export file.
FINCRM_AUDIT_SIGNING_KEY_FILE = CONFIG.audit_signing_key_file
FINCRM_AUDIT_HEAD_EXPORT_PATH = CONFIG.audit_head_export_path
# KYC cycles (DOMAIN.md, regulator-changeable): months until the next AML review per risk rating,
# and how long a risk-tolerance (C1-C5) assessment stays valid.
FINCRM_AML_REVIEW_MONTHS = {"high": 6, "medium": 12, "low": 24}
FINCRM_RISK_ASSESSMENT_VALID_MONTHS = 12
# Step-up window and sensitive-access grant lifetime (docs/security-masking.md).
FINCRM_STEP_UP_SECONDS = CONFIG.step_up_minutes * 60
FINCRM_GRANT_SECONDS = CONFIG.grant_hours * 3600
# Customer lists and exports: counts stop at the cap ("10,000+"); an export above the row cap needs
# an approval; a download link lives this many minutes.
FINCRM_LIST_COUNT_CAP = CONFIG.list_count_cap
FINCRM_EXPORT_ROW_CAP = CONFIG.export_row_cap
FINCRM_EXPORT_LINK_MINUTES = CONFIG.export_link_minutes
FINCRM_BULK_TAG_MAX = 10_000  # customers per bulk tag action
# Identifier searches (mobile, ID, account number) per user per minute: no enumeration.
FINCRM_IDENTIFIER_SEARCHES_PER_MINUTE = 30
# The 360 flags an ID document expiring within this many days, and highlights maturities within these.
FINCRM_PROFILE_KYC_WARNING_DAYS = 30
FINCRM_PROFILE_MATURITY_DAYS = 90
# Value tiers by AUM in CNY (an institution's policy); below the lowest: mass.
FINCRM_VALUE_TIER_THRESHOLDS = {"affluent": 500_000, "wealth": 6_000_000, "private": 30_000_000}
FINCRM_STORE_FULL_CARD_NUMBERS = CONFIG.store_full_card_numbers
# Imports: the largest uploaded file accepted, in bytes (docs/operations/configuration.md).
FINCRM_IMPORT_MAX_BYTES = CONFIG.import_max_bytes
FINCRM_IMPORT_UPLOAD_KEEP_HOURS = CONFIG.import_upload_keep_hours
FINCRM_FEED_DIR = CONFIG.feed_dir
# PIPL: days to answer a data-subject request; AML record keeping after the relationship ends (years).
FINCRM_PRIVACY_REQUEST_DUE_DAYS = 15
FINCRM_AML_RETENTION_YEARS = 10

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "fincrm.platform.logging.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        # Security events as JSON lines on stderr, for the bank's security monitoring to collect.
        "security": {"class": "logging.StreamHandler", "formatter": "json"},
    },
    "loggers": {
        "fincrm.security": {"handlers": ["security"], "level": "INFO", "propagate": False},
        "django": {"handlers": ["console"], "level": "WARNING"},
    },
}
