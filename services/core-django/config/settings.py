"""Settings of the helpdesk core, entirely from environment variables (see .env.example).

``ENVIRONMENT`` is ``production`` unless told otherwise, and production is the safe default:
DEBUG off, a real secret key and a database URL required, HTTPS-only cookies, HSTS, redirects
to HTTPS. ``ENVIRONMENT=local`` (what ``make run`` sets) relaxes only what plain-HTTP local
development needs. ``manage.py check --deploy`` is clean with the production defaults.
"""

from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured
from sentry_sdk.integrations.django import DjangoIntegration

from config.env import env_bool, env_int, env_list, env_str
from helpdesk_kit.logging import configure_logging
from helpdesk_kit.sentry import init_sentry

django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

ENVIRONMENT = env_str("ENVIRONMENT", "production")
if ENVIRONMENT not in {"local", "production"}:
    raise ImproperlyConfigured(f"ENVIRONMENT must be 'local' or 'production', not {ENVIRONMENT!r}.")
LOCAL = ENVIRONMENT == "local"

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure-"):
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be at least 50 random characters.")
# Rotation without signing everyone out: the previous key(s) still verify, the new one signs.
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS", [])
ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if LOCAL else []
)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "helpdesk.common",
    "helpdesk.accounts",
    "helpdesk.tickets",
    "helpdesk.outbox",
    "helpdesk.sla",
    "helpdesk.webhooks",
    "helpdesk.dashboard",
]

# Django's full default stack costs ~17 % of a trivial view's throughput here (ceilings.md);
# each of these is needed: the admin needs sessions, auth and messages, the API needs the rest.
MIDDLEWARE = [
    "helpdesk.common.middleware.RequestContextMiddleware",
    "helpdesk.common.middleware.HealthCheckMiddleware",
    "helpdesk.common.ratelimit.RateLimitMiddleware",
    "helpdesk.common.middleware.PrivateApiCacheMiddleware",
    "helpdesk.common.middleware.DatabaseTimingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "helpdesk.common.idempotency.IdempotencyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# --- Database ------------------------------------------------------------------------------
# PostgreSQL from DATABASE_URL (sslmode is read from the URL: `?sslmode=require` in production,
# seed C01); SQLite only as the local embedded default. Served by gunicorn sync workers
# (ceilings.md: three times the throughput of ASGI workers here), so connections persist per
# worker (CONN_MAX_AGE) and are health-checked before reuse (CONN_HEALTH_CHECKS, a top-level
# setting, not an OPTIONS key: seed C06/C07). Django does not combine persistent connections
# with its psycopg pool; the seed's MAX_CONNS/MIN_CONNS are not Django options at all (C05).
_database_url = env_str("DATABASE_URL", "") or None
if _database_url is None:
    if not LOCAL:
        raise ImproperlyConfigured("DATABASE_URL is required outside ENVIRONMENT=local.")
    _database_url = f"sqlite:///{env_str('SQLITE_PATH', str(BASE_DIR / 'db.sqlite3'))}"
_database: dict[str, Any] = dict(
    dj_database_url.parse(
        _database_url,
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 600),
        conn_health_checks=True,
    )
)
_pool = env_str("DATABASE_POOL", "")
if _pool:
    # Django's native psycopg pool, "min:max" (seed C05 asks for 5:20). For ASGI workers, where
    # persistent connections do not work; Django refuses to combine the two, so CONN_MAX_AGE
    # is 0 here. Under gunicorn's sync workers (the default) one persistent connection per
    # worker is all a worker can use, and the pool stays off.
    try:
        _min, _max = (int(part) for part in _pool.split(":"))
    except ValueError:
        raise ImproperlyConfigured(f"DATABASE_POOL must be 'min:max', not {_pool!r}.") from None
    _database["CONN_MAX_AGE"] = 0
    _database.setdefault("OPTIONS", {})["pool"] = {"min_size": _min, "max_size": _max}
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web workers, the relay) write one SQLite file: WAL lets readers go on
    # while one writes, IMMEDIATE takes the write lock at BEGIN so that transactions queue
    # instead of failing with "database is locked" half way through.
    _database["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    _database.setdefault("OPTIONS", {})["connect_timeout"] = env_int("DATABASE_CONNECT_TIMEOUT", 5)
    # Server-side parameters and prepared statements: psycopg prepares a statement the fifth
    # time a connection runs it, and PostgreSQL plans the ticket page's joins once per
    # connection instead of on every request (planning was most of the database's time for a
    # ticket page). Off behind a transaction-pooling PgBouncer older than 1.21.
    if env_bool("DATABASE_SERVER_SIDE_BINDING", True):
        _database["OPTIONS"]["server_side_binding"] = True
        _database["OPTIONS"]["prepare_threshold"] = 5
DATABASES = {"default": _database}

# --- Redis ---------------------------------------------------------------------------------
# One connection pool per process, sized by env (seed C02); see helpdesk.common.redis.
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_POOL_SIZE = env_int("REDIS_POOL_SIZE", 20)
EVENTS_STREAM = env_str("EVENTS_STREAM", "helpdesk:events")
# Prefix of the core's own cache keys in Redis (several deployments may share one Redis).
CACHE_KEY_PREFIX = env_str("CACHE_KEY_PREFIX", "core")
EVENTS_STREAM_MAXLEN = env_int("EVENTS_STREAM_MAXLEN", 100_000)

# --- Realtime tokens -----------------------------------------------------------------------
REALTIME_TOKEN_SECRET = env_str("REALTIME_TOKEN_SECRET")
if len(REALTIME_TOKEN_SECRET) < 32:
    raise ImproperlyConfigured("REALTIME_TOKEN_SECRET must be at least 32 characters.")

# --- Service credential ------------------------------------------------------------------------
# The AI and realtime services call core's internal endpoints (/api/v1/internal/...) with this
# shared secret; empty disables those endpoints.
HELPDESK_SERVICE_TOKEN = env_str("HELPDESK_SERVICE_TOKEN", "")
if HELPDESK_SERVICE_TOKEN and len(HELPDESK_SERVICE_TOKEN) < 32:
    raise ImproperlyConfigured("HELPDESK_SERVICE_TOKEN must be at least 32 characters.")

# --- Rate limits (seed C14, C15: in the app too, not only in nginx) ----------------------------
# Per API token or signed-in user, and per client address; "N/second|minute|hour".
API_RATE_LIMIT = env_str("API_RATE_LIMIT", "1200/minute")
API_IP_RATE_LIMIT = env_str("API_IP_RATE_LIMIT", "2400/minute")
LOGIN_RATE_LIMIT = env_str("LOGIN_RATE_LIMIT", "5/minute")
RATE_LIMITS_ENABLED = env_bool("RATE_LIMITS_ENABLED", True)
# The proxies (the gateway, a load balancer) whose word on the client's address is believed:
# X-Real-IP, else the last X-Forwarded-For hop they added. Everyone else is their own address.
RATE_LIMIT_TRUSTED_PROXIES = env_list("RATE_LIMIT_TRUSTED_PROXIES", ["127.0.0.0/8", "::1/128"])

# --- API -------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "helpdesk.accounts.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["helpdesk.common.renderers.OrjsonRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "helpdesk.common.errors.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "helpdesk.common.pagination.NewestFirstCursorPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# OpenAPI at /api/schema/, Swagger UI at /api/swagger/ (seed C08), its assets from our own
# static files (drf-spectacular-sidecar) and its script in a file of its own, so the gateway's
# Content-Security-Policy (script-src 'self') holds.
SPECTACULAR_SETTINGS = {
    "TITLE": "Helpdesk core API",
    "DESCRIPTION": "Tickets, accounts and realtime tokens. Authenticate with "
    "`Authorization: Bearer <token>`. Errors: `{code, message, details, request_id}`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "TicketStatusEnum": "helpdesk.tickets.models.Status",
        "DeliveryStatusEnum": "helpdesk.webhooks.models.DeliveryStatus",
        "SlaStateEnum": "helpdesk.sla.selectors.SLA_STATES",
    },
}
# Cross-origin browsers: only the origins listed (seed C04); none by default.
CORS_ALLOWED_ORIGINS = env_list("DJANGO_CORS_ALLOWED_ORIGINS", [])
# Personal API tokens and bot keys: stored as SHA-512 digests (django-rest-knox), sent as
# `Authorization: Bearer <token>`; the prefix lets secret scanners recognise a leaked one.
REST_KNOX = {
    "AUTH_HEADER_PREFIX": "Bearer",
    "TOKEN_PREFIX": "hdp_",
    "TOKEN_TTL": None,
    "AUTO_REFRESH": False,
}

# --- Security (seed C30-C37) -------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not LOCAL)
# Load balancers probe health over plain HTTP inside the VPC, and the other services call the
# internal endpoints over the private network (the gateway does not route those at all).
SECURE_REDIRECT_EXEMPT = [r"^health/", r"^api/v1/internal/"]
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if LOCAL else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not LOCAL)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Strict"
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Pages read the CSRF token from the page, so the cookie need not be readable by scripts (C37).
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Strict"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files (seed C12, C18) ----------------------------------------------------------
# STORAGES with hashed (manifest) names: STATICFILES_STORAGE is gone from current Django.
# WhiteNoise serves them with a far-future, immutable Cache-Control because the names change
# whenever the content does. No pre-compressed copies: the gateway (or CloudFront) compresses,
# and making .gz/.br of every file made collectstatic take 12 s on each start.
# A CDN's URL in production (CloudFront in front of the static bucket), else the core serves them.
STATIC_URL = env_str("DJANGO_STATIC_URL", "/static/")
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
MEDIA_ROOT = Path(env_str("DJANGO_MEDIA_ROOT", str(BASE_DIR / "media")))
MEDIA_URL = "/media/"
# Attachments: local files by default; an S3 bucket in production (django-storages, with the
# task's IAM role: no keys in the environment). Never public: downloads go through the API.
MEDIA_S3_BUCKET = env_str("DJANGO_MEDIA_S3_BUCKET", "")
STORAGES = {
    "default": (
        {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": MEDIA_S3_BUCKET,
                "default_acl": "private",
                "querystring_auth": True,
                "file_overwrite": False,
                "location": "media",
            },
        }
        if MEDIA_S3_BUCKET
        else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    ),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}
ATTACHMENT_MAX_BYTES = env_int("ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)
ATTACHMENT_MAX_COUNT = 10
ATTACHMENT_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
        "text/plain",
        "text/csv",
        "application/zip",
        "application/json",
        "message/rfc822",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }
)
# Uploads larger than this go to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = ATTACHMENT_MAX_BYTES * ATTACHMENT_MAX_COUNT

# --- Logging, errors, metrics (seed C20-C23) -------------------------------------------------
LOGGING_CONFIG = None  # helpdesk_kit configures logging once, for Django and gunicorn alike.
configure_logging(
    "core",
    env_str("LOG_LEVEL", "INFO"),
    log_file=env_str("LOG_FILE", "") or None,
)
init_sentry(
    env_str("SENTRY_DSN", "") or None,
    service="core",
    environment=ENVIRONMENT,
    integrations=[DjangoIntegration()],
    traces_sample_rate=float(env_str("SENTRY_TRACES_SAMPLE_RATE", "0")),
)
