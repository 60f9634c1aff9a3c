"""Generic settings: everything site-specific comes from the site config ($CRDS_SITE_CONFIG)."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from crds_server import site_config
from crds_server.jsonapi import limits as _rpc_limits

try:
    SITE = site_config.load()
    SECRET_KEY = SITE.secret_key()
except site_config.SiteConfigError as exc:
    raise ImproperlyConfigured(str(exc)) from None

site_config.configure_crds_library(SITE)

BASE_DIR = Path(__file__).resolve().parent
DEBUG = SITE.debug
ALLOWED_HOSTS = SITE.allowed_hosts
CSRF_TRUSTED_ORIGINS = [u for u in (SITE.proxy_url, SITE.direct_url) if u.startswith("http")]

CRDS_OBSERVATORY = SITE.observatory
CRDS_USE = SITE.use
CRDS_SERVER = SITE.server
CRDS_FILE_CACHE = SITE.paths.file_cache
CRDS_SERVER_FILES = SITE.paths.server_files
CRDS_X_SENDFILE = bool(SITE.downloads.get("x_sendfile", False))

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "crds_server.interactive",
    "crds_server.jsonapi",
    "crds_server.locking",
    "crds_server.jpoll",
    "crds_server.fileupload",
    "crds_server.submission",
    "crds_server.rules",
]

MIDDLEWARE = [
    "crds_server.middleware.TrustedProxyMiddleware",
    "crds_server.middleware.DatabaseUnavailableMiddleware",
    "crds_server.middleware.ContentSecurityPolicyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "crds_server.locking.middleware.InstrumentLockMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "crds_server.urls"
WSGI_APPLICATION = "crds_server.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "crds_server.interactive.context.site",
                "crds_server.accounts.roles",
            ],
        },
    },
]

if SITE.database["engine"] == "mysql":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "OPTIONS": {
                # user, password, host, port and database come from the 0600 defaults file
                "read_default_file": SITE.database["defaults_file"],
                "connect_timeout": int(SITE.database.get("connect_timeout", 5)),
                "charset": "utf8mb4",
            },
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SITE.database["path"],
            "OPTIONS": {"timeout": 5},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if SITE.cache["backend"] == "memcached":
    CACHES = {
        "default": {
            "BACKEND": "crds_server.cache.TolerantPyMemcacheCache",
            "LOCATION": SITE.cache["location"],
            "TIMEOUT": 3600,
            "KEY_PREFIX": f"crds-{SITE.server}",
            "OPTIONS": {"connect_timeout": 0.5, "timeout": 1.0, "no_delay": True},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

EMAIL_HOST = SITE.mail.get("relay", "localhost")
EMAIL_PORT = int(SITE.mail.get("port", 25))
DEFAULT_FROM_EMAIL = SERVER_EMAIL = SITE.mail.get("from", f"crds@{SITE.server}")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = str(SITE.paths.static_root)

# The client posts whole JSON-RPC requests (headers for many datasets) in one body; the
# JSON-RPC view refuses more than its limit (jsonapi/limits.py) before reading it.
# Uploaded files are streamed to disk above FILE_UPLOAD_MAX_MEMORY_SIZE.
DATA_UPLOAD_MAX_MEMORY_SIZE = _rpc_limits.MAX_BODY_BYTES

# Submissions: the instrument lock's lifetime after the holder's last action, the largest
# file one may upload, the list told of each confirmed delivery.
CRDS_LOCK_MINUTES = int(SITE.submission.get("lock_minutes", 240))
CRDS_MAX_UPLOAD_BYTES = int(SITE.submission.get("max_upload_mb", 8192)) * 1024 * 1024
CRDS_TEAM_EMAIL = SITE.submission.get("team_email", SITE.mail.get("to", ""))
CRDS_INGEST_DIR = SITE.paths.server_files / "ingest"
CRDS_DELIVERIES_DIR = SITE.paths.server_files / "deliveries"
CRDS_CATALOGS_DIR = SITE.paths.server_files / "catalogs"
CRDS_SUBMISSIONS_DIR = SITE.paths.server_files / "submissions"
LOGIN_URL = "/login/"
SESSION_COOKIE_AGE = CRDS_LOCK_MINUTES * 60
SESSION_SAVE_EVERY_REQUEST = True
FILE_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024

if SITE.behind_apache:
    # Apache terminates TLS on the direct port; the proxy forwards https.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"


def _log_handlers() -> dict:
    handlers = {"console": {"class": "logging.StreamHandler", "formatter": "plain"}}
    logs = SITE.paths.logs
    try:
        logs.mkdir(parents=True, exist_ok=True)
        probe = logs / "crds_server.log"
        probe.touch(exist_ok=True)
    except OSError:
        return handlers
    handlers["file"] = {
        "class": "logging.handlers.WatchedFileHandler",
        "filename": str(probe),
        "formatter": "plain",
    }
    return handlers


_HANDLERS = _log_handlers()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": _HANDLERS,
    "loggers": {
        "crds_server": {"handlers": list(_HANDLERS), "level": "INFO", "propagate": False},
        "django": {"handlers": list(_HANDLERS), "level": "WARNING", "propagate": False},
    },
}
