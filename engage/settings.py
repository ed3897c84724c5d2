"""Engage settings: one file, driven by environment variables (see .env.example)."""

import json
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("ENGAGE_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG")

_DEV_SECRET_KEY = "django-insecure-engage-development-only-never-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY in the environment, or DEBUG=1 for a development run."
        )
    SECRET_KEY = _DEV_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "django_q",
    "import_export",
    "anymail",
    "engage",
    "projects",
    "audience",
    "campaigns",
    "journeys",
]

MIDDLEWARE = [
    "engage.metrics.MetricsMiddleware",
    "engage.api.middleware.PinpointRequestMiddleware",
    "engage.dbfaults.DatabaseUnavailableMiddleware",
    "engage.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "engage.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "projects.middleware.CurrentProjectMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "engage.urls"
WSGI_APPLICATION = "engage.wsgi.application"

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
                "projects.context_processors.current_project",
                "projects.context_processors.layout",
            ],
        },
    },
]

# Database: DATABASE_URL (PostgreSQL in production and CI); an SQLite file under var/ by default.
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'engage.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write concurrently: WAL plus IMMEDIATE transactions avoid
    # "database is locked" on the embedded default.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
# DATABASE_REPLICA_URL (optional): a read replica for analytics and segment estimates (engage.db.read_alias).
if os.environ.get("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = dj_database_url.parse(
        os.environ["DATABASE_REPLICA_URL"], conn_max_age=60, conn_health_checks=True, test_options={"MIRROR": "default"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Outgoing email: Django's own setting names.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL")
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "30"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "engage@localhost")
# django-anymail's settings (the provider's API key, <ESP>_API_URL, WEBHOOK_SECRET...), one JSON object;
# used when EMAIL_BACKEND names an anymail backend ("anymail.backends.postmark.EmailBackend"...).
try:
    ANYMAIL = json.loads(os.environ.get("ANYMAIL", "") or "{}")
except ValueError as error:
    raise ImproperlyConfigured(f"ANYMAIL must be a JSON object: {error}") from None
if not isinstance(ANYMAIL, dict):
    raise ImproperlyConfigured("ANYMAIL must be a JSON object, {...}.")
# The URL recipients reach this server at, for links in emails: open pixel, click redirects,
# one-click unsubscribe. Empty: none of them (List-Unsubscribe is then a mailto only).
ENGAGE_PUBLIC_URL = os.environ.get("ENGAGE_PUBLIC_URL", "http://127.0.0.1:8000" if DEBUG else "").rstrip("/")
# Open and click tracking in HTML email (needs ENGAGE_PUBLIC_URL); 0 turns it off.
ENGAGE_EMAIL_TRACKING = env_bool("ENGAGE_EMAIL_TRACKING", True)

# Identity used in ARNs (arn:aws:mobiletargeting:{region}:{account}:apps/{id}).
ENGAGE_ACCOUNT_ID = os.environ.get("ENGAGE_ACCOUNT_ID", "000000000000")
ENGAGE_REGION = os.environ.get("ENGAGE_REGION", "us-east-1")
# Keys that encrypt secrets at rest (access key secrets, channel credentials). Comma-separated;
# the first encrypts, all decrypt (rotation). Empty: one key derived from SECRET_KEY.
ENGAGE_ENCRYPTION_KEYS = env_list("ENGAGE_ENCRYPTION_KEYS")
# Allowed clock skew for signed requests, in seconds.
ENGAGE_SIGV4_MAX_SKEW = int(os.environ.get("ENGAGE_SIGV4_MAX_SKEW", "900"))
# The S3-compatible store import and export jobs read and write (MinIO, Ceph, Garage, AWS S3...).
# Empty: AWS S3 itself. Credentials and region come from boto3's usual sources: AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION (or ~/.aws, an instance role).
ENGAGE_S3_ENDPOINT_URL = os.environ.get("ENGAGE_S3_ENDPOINT_URL", "")
# SMS and voice providers, used by projects whose SMS/VOICE channel names no provider of its own
# (Channels page). Provider: "TWILIO", "WEBHOOK" or empty (none: SMS and voice deliveries fail).
ENGAGE_SMS_PROVIDER = os.environ.get("ENGAGE_SMS_PROVIDER", "").upper()
ENGAGE_VOICE_PROVIDER = os.environ.get("ENGAGE_VOICE_PROVIDER", "").upper()
ENGAGE_TWILIO_API_URL = os.environ.get("ENGAGE_TWILIO_API_URL", "https://api.twilio.com")
ENGAGE_TWILIO_ACCOUNT_SID = os.environ.get("ENGAGE_TWILIO_ACCOUNT_SID", "")
ENGAGE_TWILIO_AUTH_TOKEN = os.environ.get("ENGAGE_TWILIO_AUTH_TOKEN", "")
ENGAGE_TWILIO_FROM = os.environ.get("ENGAGE_TWILIO_FROM", "")
ENGAGE_SMS_WEBHOOK_URL = os.environ.get("ENGAGE_SMS_WEBHOOK_URL", "")
ENGAGE_SMS_WEBHOOK_SECRET = os.environ.get("ENGAGE_SMS_WEBHOOK_SECRET", "")
ENGAGE_VOICE_WEBHOOK_URL = os.environ.get("ENGAGE_VOICE_WEBHOOK_URL", "")
ENGAGE_VOICE_WEBHOOK_SECRET = os.environ.get("ENGAGE_VOICE_WEBHOOK_SECRET", "")
# A campaign run over at least twice ENGAGE_CAMPAIGN_LANE_MIN_ENDPOINTS endpoints is split into up
# to ENGAGE_CAMPAIGN_RUN_LANES key ranges written by as many workers at once (campaigns.runs.engine);
# 1 keeps every run to one writer.
ENGAGE_CAMPAIGN_RUN_LANES = int(os.environ.get("ENGAGE_CAMPAIGN_RUN_LANES", "4"))
ENGAGE_CAMPAIGN_LANE_MIN_ENDPOINTS = int(os.environ.get("ENGAGE_CAMPAIGN_LANE_MIN_ENDPOINTS", "25000"))
# Seconds a provider or webhook may take to answer one request (connecting: at most 5).
ENGAGE_PROVIDER_TIMEOUT = float(os.environ.get("ENGAGE_PROVIDER_TIMEOUT", "10"))
# Custom-channel webhooks (DeliveryUri): signed with a per-project key derived from this one
# (empty: derived from SECRET_KEY). Plain http:// is refused except to loopback unless allowed.
ENGAGE_WEBHOOK_SIGNING_KEY = os.environ.get("ENGAGE_WEBHOOK_SIGNING_KEY", "")
ENGAGE_WEBHOOK_ALLOW_HTTP = env_bool("ENGAGE_WEBHOOK_ALLOW_HTTP")
# Push providers: FCM HTTP v1 and Apple's APNs (production and sandbox). Tests point them at loopback.
ENGAGE_FCM_URL = os.environ.get("ENGAGE_FCM_URL", "https://fcm.googleapis.com")
ENGAGE_APNS_URL = os.environ.get("ENGAGE_APNS_URL", "https://api.push.apple.com")
ENGAGE_APNS_SANDBOX_URL = os.environ.get("ENGAGE_APNS_SANDBOX_URL", "https://api.sandbox.push.apple.com")
# A PEM file of the certificate authorities push providers are checked against (empty: the system's).
ENGAGE_PUSH_CA_BUNDLE = os.environ.get("ENGAGE_PUSH_CA_BUNDLE", "")
# Files uploaded on the Audience page wait here (Django's default storage) until their import ran.
MEDIA_ROOT = Path(os.environ.get("ENGAGE_UPLOAD_DIR", VAR_DIR / "uploads"))
# Event streams (PutEventStream): the Kinesis Data Streams and Firehose services events are shipped
# to. Empty: AWS itself, in the region of the stream's ARN; credentials as for S3 above.
ENGAGE_KINESIS_ENDPOINT_URL = os.environ.get("ENGAGE_KINESIS_ENDPOINT_URL", "")
ENGAGE_FIREHOSE_ENDPOINT_URL = os.environ.get("ENGAGE_FIREHOSE_ENDPOINT_URL", "")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "projects.authentication.SigV4Authentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["engage.api.parsers.PinpointJSONParser"],
    "EXCEPTION_HANDLER": "engage.api.errors.pinpoint_exception_handler",
    "UNAUTHENTICATED_USER": None,
    # Operations outside a project (apps, templates, tags, phone validation) are rate-limited per
    # user; project operations per project, by projects.api.mixins.ProjectScopedMixin.
    "DEFAULT_THROTTLE_CLASSES": ["engage.api.ratelimit.PinpointRateThrottle"],
}
# Pinpoint's largest request is 7 MB; bigger bodies answer 413 PayloadTooLargeException.
DATA_UPLOAD_MAX_MEMORY_SIZE = 7 * 1024 * 1024

# Background work (django-q2). The ORM broker keeps the queue in the database; set
# ENGAGE_REDIS_URL to use Redis when several worker hosts share the queue.
Q_CLUSTER = {
    "name": "engage",
    "workers": int(os.environ.get("ENGAGE_WORKERS", "2")),
    "timeout": 600,
    "retry": 900,
    "max_attempts": 3,
    "save_limit": -1,
    "bulk": 10,
    "catch_up": False,
    "orm": "default",
    "sync": env_bool("ENGAGE_QUEUE_SYNC"),
}
if os.environ.get("ENGAGE_REDIS_URL"):
    Q_CLUSTER.pop("orm")
    Q_CLUSTER["redis"] = os.environ["ENGAGE_REDIS_URL"]

# Logs go to the console (journald, docker logs...): one JSON object per line in production,
# readable text with DEBUG. Each record carries the id of the request it was logged in.
ENGAGE_LOG_FORMAT = os.environ.get("ENGAGE_LOG_FORMAT", "text" if DEBUG else "json").lower()
if ENGAGE_LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured("ENGAGE_LOG_FORMAT must be json or text.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "engage.logs.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "engage.logs.JSONFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": ENGAGE_LOG_FORMAT, "filters": ["request_id"]}
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # httpx logs every provider request at INFO: a line per message sent. engage.logs writes the
    # request lines, so Django's own 4xx warnings would repeat them.
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
    },
}

# /metrics answers loopback, or anyone with `Authorization: Bearer <this token>` (empty: loopback only).
ENGAGE_METRICS_TOKEN = os.environ.get("ENGAGE_METRICS_TOKEN", "")
# The Content-Security-Policy of every page. Scripts only from Engage itself; inline style
# attributes are allowed (a few pages use them); https images for previews of email templates.
ENGAGE_CONTENT_SECURITY_POLICY = os.environ.get(
    "ENGAGE_CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'",
)

# HTTPS. Behind a proxy that terminates TLS, Django learns a request was HTTPS from this header
# ("Header-Name: value"; empty: not behind such a proxy). The proxy must set it on every request.
_proxy_ssl_header = os.environ.get("SECURE_PROXY_SSL_HEADER", "" if DEBUG else "X-Forwarded-Proto: https")
if _proxy_ssl_header.strip():
    _name, _, _value = _proxy_ssl_header.partition(":")
    if not _name.strip() or not _value.strip():
        raise ImproperlyConfigured('SECURE_PROXY_SSL_HEADER must read "Header-Name: value" (or be empty).')
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _name.strip().upper().replace("-", "_"), _value.strip())
# Load balancers and Prometheus call these over plain HTTP on the private network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SILENCED_SYSTEM_CHECKS = []
if not DEBUG:
    # An https:// ENGAGE_PUBLIC_URL says Engage is served over HTTPS: redirect and HSTS default on.
    _https = ENGAGE_PUBLIC_URL.startswith("https://")
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", _https)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600) if _https else "0"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        # Preloading commits the whole registrable domain to HTTPS in browsers for months; only
        # its owner can decide that (hstspreload.org), so it is opt-in and its reminder is silenced.
        SILENCED_SYSTEM_CHECKS.append("security.W021")
