"""The one settings module, read from the environment (django-environ).

Without DATABASE_URL / REDIS_URL the portal starts embedded PostgreSQL and Redis under var/
(portal/embedded.py), so a laptop needs nothing but Python.
"""

import datetime
import ipaddress
import os
import sys
from pathlib import Path

import environ
import pghistory

import portal.triggers  # before any model (see the module); its trackers are used below

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# A checkout with no DATABASE_URL runs on the embedded servers under var/: a laptop, never a
# deployment (docker-compose.yml and every real host set DATABASE_URL). There, management
# commands work without further configuration; anywhere else a missing secret is an error.
LAPTOP = not env.str("DATABASE_URL", default="")


def _secret(name: str) -> str:
    """A secret exactly as set. django-environ reads a value starting with "$" as the name of
    another variable ("$HOME" would become /root), and a generated key may well start so."""
    return os.environ.get(name, "").strip()


SECRET_KEY = _secret("DJANGO_SECRET_KEY")
_DEV_KEYS = not SECRET_KEY
if not SECRET_KEY:
    if not (DEBUG or LAPTOP or env.bool("PORTAL_ALLOW_DEV_SECRET", default=False)):
        raise environ.ImproperlyConfigured(
            "Set DJANGO_SECRET_KEY (or DJANGO_DEBUG=1 for local development)."
        )
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105 - laptops only

# --- Encryption at rest (portal/crypto.py): ID numbers are AES-GCM encrypted with a keyed hash
# beside them for lookup. Production must set both; development derives throwaway keys.
PORTAL_ENCRYPTION_KEYS = [
    k.strip() for k in _secret("PORTAL_ENCRYPTION_KEYS").split(",") if k.strip()
]
PORTAL_LOOKUP_KEY = _secret("PORTAL_LOOKUP_KEY")
if not PORTAL_ENCRYPTION_KEYS or not PORTAL_LOOKUP_KEY:
    if not _DEV_KEYS:
        raise environ.ImproperlyConfigured(
            "Set PORTAL_ENCRYPTION_KEYS and PORTAL_LOOKUP_KEY (see README, 'Key management')."
        )
    import base64
    import hashlib

    _dev = hashlib.sha256(b"portal-dev-field-key:" + SECRET_KEY.encode()).digest()
    PORTAL_ENCRYPTION_KEYS = PORTAL_ENCRYPTION_KEYS or [
        "dev:" + base64.urlsafe_b64encode(_dev).decode().rstrip("=")
    ]
    PORTAL_LOOKUP_KEY = PORTAL_LOOKUP_KEY or "dev-lookup:" + SECRET_KEY

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "import_export",
    "pgtrigger",
    "pghistory",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "csp",
    "portal",
    "branches",
    "members",
    "activities",
    "rosters",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files under gunicorn: nothing else serves them in production (docker-compose.yml).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    # Django's, but a progress bar's polling does not renew the idle timeout.
    "portal.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.middleware.SignedInNeverCachedMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Outside the middleware that redirect (session lifetime, second factor) to see theirs too.
    "portal.middleware.HtmxRedirectMiddleware",
    "portal.middleware.SessionLifetimeMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "portal.middleware.OTPRequiredMiddleware",
    "portal.middleware.PasswordChangeRequiredMiddleware",
    "portal.middleware.AuditContextMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns lockouts raised by the backend into responses.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
            ],
        },
    },
]

# --- Database: PostgreSQL only, external or embedded -------------------------------------------
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
    # A socket directory given as ?host=/run/postgresql lands in OPTIONS; HOST is where every
    # user of these settings (Django, pg_dump and pg_restore for backups) looks for it.
    # A URL without a port or query (postgres://portal@db/portal) has no OPTIONS at all.
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    for _key in ("host", "port"):
        if not DATABASES["default"].get(_key.upper()) and _key in _options:
            DATABASES["default"][_key.upper()] = _options.pop(_key)
else:
    from portal.embedded import postgres_settings, starts_servers

    DATABASES = {"default": postgres_settings(start=starts_servers(sys.argv))}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DJANGO_CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# pgtrigger's triggers first ask whether they are being ignored; with the setting undefined
# that check raises and catches an error on every row. Defining it (empty: nothing ignored)
# makes every audited write about three times cheaper; all triggers still fire.
_pg_options = DATABASES["default"].setdefault("OPTIONS", {})
_pg_options["options"] = (_pg_options.get("options", "") + " -c pgtrigger.ignore={}").strip()
# The longest a single SQL statement may run, in seconds (0: no limit). Set for the web server in
# docker-compose.yml: its threaded workers do not cut a slow request off, so a request stuck
# behind a lock would otherwise hold a thread and a connection for good. Not for the Celery
# worker, whose imports of a province's roster may legitimately run long statements.
PORTAL_DB_STATEMENT_TIMEOUT = env.int("PORTAL_DB_STATEMENT_TIMEOUT", default=0)
if PORTAL_DB_STATEMENT_TIMEOUT:
    _pg_options["options"] += f" -c statement_timeout={PORTAL_DB_STATEMENT_TIMEOUT}s"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache and Celery broker, external or embedded --------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if not REDIS_URL:
    from portal.embedded import redis_url, starts_servers

    REDIS_URL = redis_url(start=starts_servers(sys.argv))
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="portal"),
    }
}
# Celery names a Unix-socket Redis "redis+socket://"; redis-py names it "unix://".
CELERY_BROKER_URL = (
    "redis+socket://" + REDIS_URL.removeprefix("unix://")
    if REDIS_URL.startswith("unix://")
    else REDIS_URL
)
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
CELERY_TIMEZONE = "Asia/Shanghai"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE: dict = {
    # Uploaded rosters that were previewed but never confirmed hold personal data: delete them.
    "purge-roster-uploads": {
        "task": "rosters.tasks.purge_roster_uploads",
        "schedule": datetime.timedelta(hours=24),
    },
    # Imports whose worker died (killed, out of memory) while running them: queued again at
    # once instead of after the broker's visibility timeout (an hour), or failed.
    "resume-roster-imports": {
        "task": "rosters.tasks.resume_roster_imports",
        "schedule": datetime.timedelta(minutes=1),
    },
    # Sessions that timed out: recorded in the access events, then deleted.
    "end-expired-sessions": {
        "task": "portal.tasks.end_expired_sessions",
        "schedule": datetime.timedelta(hours=1),
    },
}
PORTAL_VAR_DIR = Path(env.str("PORTAL_VAR_DIR", default=str(BASE_DIR / "var")))
CELERY_BEAT_SCHEDULE_FILENAME = str(PORTAL_VAR_DIR / "celerybeat-schedule")
# The database role the portal runs as in production, owning nothing; migrate grants it what
# it needs, and on the trail only reading and adding access events (portal/db_roles.py).
PORTAL_DB_APP_ROLE = env.str("PORTAL_DB_APP_ROLE", default="")
# Where backup_db and restore_test put dumps unless told otherwise (README "Backups").
PORTAL_BACKUP_DIR = env.path("PORTAL_BACKUP_DIR", default=PORTAL_VAR_DIR / "backups")

# --- Auth (等保 2.0 level 3: identification and authentication) ------------------------------
AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses locked-out username/address pairs before any password check.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "portal.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 8},
    },
    {"NAME": "portal.password_validation.DisguisedCommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "portal.password_validation.CharacterClassesValidator"},
    # Records when each password was set (expiry and first-login change below).
    {"NAME": "portal.password_validation.PasswordAgeValidator"},
]
# 等保 2.0: passwords are changed periodically. A password older than this many days must be
# changed at the next login (0: never expires); one an administrator set (the back office,
# `grant_role --password`) must be changed at the first.
PORTAL_PASSWORD_MAX_AGE_DAYS = env.int("PORTAL_PASSWORD_MAX_AGE_DAYS", default=90)
# Lockout: 5 failures per username and client address lock that pair for 30 minutes.
AXES_FAILURE_LIMIT = env.int("PORTAL_LOCKOUT_FAILURES", default=5)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env.int("PORTAL_LOCKOUT_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "portal.access.client_ip"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# API tokens: after this many refused tokens from one client address, that address may not
# present a token for PORTAL_LOCKOUT_MINUTES (429, no key looked up, nothing more recorded).
PORTAL_TOKEN_REFUSAL_LIMIT = env.int("PORTAL_TOKEN_REFUSAL_LIMIT", default=10)
# Reverse proxies in front of the portal whose X-Forwarded-For is trusted (0: none), and the
# addresses they connect from (addresses or networks): a request from anywhere else is taken at
# its own address, whatever header it brings (portal.access.client_ip).
PORTAL_TRUSTED_PROXY_COUNT = env.int("PORTAL_TRUSTED_PROXY_COUNT", default=0)
PORTAL_TRUSTED_PROXIES = [
    proxy.strip()
    for proxy in env.list("PORTAL_TRUSTED_PROXIES", default=["127.0.0.1", "::1"])
    if proxy.strip()
]
for _proxy in PORTAL_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise environ.ImproperlyConfigured(
            f"PORTAL_TRUSTED_PROXIES: {_proxy!r} is not an address or network"
        ) from None

# Sessions: 30 minutes idle, 12 hours absolute; a password change ends other sessions (Django's
# session auth hash does that by design).
SESSION_COOKIE_AGE = env.int("PORTAL_SESSION_IDLE_SECONDS", default=30 * 60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
PORTAL_SESSION_ABSOLUTE_SECONDS = env.int("PORTAL_SESSION_ABSOLUTE_SECONDS", default=12 * 3600)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# Second factor (TOTP): optional for everyone; required for administrators when this is on.
PORTAL_REQUIRE_OTP_FOR_ADMINS = env.bool("PORTAL_REQUIRE_OTP_FOR_ADMINS", default=False)
OTP_TOTP_ISSUER = "流动党员管理门户"

# --- Transport and browser security (check --deploy passes with the defaults) ---------------
# Intranets often serve plain HTTP: each of these can be switched off by environment.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=not DEBUG)
# A switch set to 0 on purpose (README "Intranets on plain HTTP") is the operator's decision,
# not a deployment warning: `check --deploy --fail-level WARNING` passes, and portal.I001
# (portal/checks.py) says what is off instead.
PORTAL_PLAIN_HTTP = [
    name
    for name in (
        "DJANGO_SECURE_SSL_REDIRECT",
        "DJANGO_SESSION_COOKIE_SECURE",
        "DJANGO_CSRF_COOKIE_SECURE",
    )
    if name in os.environ and not env.bool(name)
]
SILENCED_SYSTEM_CHECKS = [
    check
    for name, check in (
        ("DJANGO_SECURE_SSL_REDIRECT", "security.W008"),
        ("DJANGO_SESSION_COOKIE_SECURE", "security.W010"),
        ("DJANGO_CSRF_COOKIE_SECURE", "security.W016"),
    )
    if name in PORTAL_PLAIN_HTTP
]
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Probes call /healthz over plain HTTP from inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_COOKIE_HTTPONLY = False  # harmless: htmx gets the token from hx-headers in base.html
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# Content Security Policy: everything from this server, no inline scripts, no outside hosts.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# --- Internationalization ----------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文")]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]

# --- Static files: everything vendored, nothing fetched at run time ---------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=BASE_DIR / "staticfiles")
MEDIA_ROOT = env.path("DJANGO_MEDIA_ROOT", default=BASE_DIR / "var" / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # collectstatic also writes gzipped copies, which WhiteNoise serves to browsers that take
    # them: phones in the field on slow links.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_URL = "/media/"

# --- REST framework ----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header makes bad credentials a 401, not a 403.
        "portal.api.authentication.HashedTokenAuthentication",
        "portal.api.authentication.CsrfCheckedSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["portal.api.permissions.IsAuthenticatedReadOnlyToken"],
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.PortalCursorPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": ["portal.api.throttling.AccountRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "portal.api.openapi.PortalAutoSchema",
    "EXCEPTION_HANDLER": "portal.api.exceptions.portal_exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "流动党员管理门户 API",
    "DESCRIPTION": (
        "供上级系统和数据大屏拉取党员台账的只读接口。认证：Authorization: Token <令牌>。"
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI from the sidecar package: /api/docs/ loads nothing from outside the machine.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No badge from validator.swagger.io: nothing is fetched from outside the intranet.
    "SWAGGER_UI_SETTINGS": {"validatorUrl": None},
    "REDOC_DIST": "SIDECAR",
}
# API calls per account and period (s, min, hour, day), beyond which the API answers 429: a
# full pull of 100,000 members at 500 a page is 200 calls.
PORTAL_API_RATE = env.str("PORTAL_API_RATE", default="600/min")
# Token keys last this many days unless create_api_token --days says otherwise.
API_TOKEN_DEFAULT_DAYS = env.int("PORTAL_API_TOKEN_DAYS", default=365)

# --- Change trail (django-pghistory): database triggers record every insert, update and
# delete, bulk imports and raw SQL included, with the request context denormalized into each
# row; event tables are append-only (protect triggers refuse UPDATE and DELETE). Statement-level
# triggers: a statement's events are written by one INSERT … SELECT from its transition table,
# still one event per changed row, the context read once per statement (portal/triggers.py).
PGHISTORY_DEFAULT_TRACKERS = (
    portal.triggers.InsertEvent(level=pghistory.Statement),
    portal.triggers.UpdateEvent(level=pghistory.Statement),
    portal.triggers.DeleteEvent(level=pghistory.Statement),
)
PGHISTORY_APPEND_ONLY = True
# Foreign keys copied into event tables are not indexed (a bulk import would maintain an index
# per key on every event for searches nobody runs). The tracked object's key is indexed with the
# event's id instead (portal.triggers.track), for histories and previous versions.
PGHISTORY_FOREIGN_KEY_FIELD = pghistory.ForeignKey(db_index=False)
PGHISTORY_OBJ_FIELD = pghistory.ObjForeignKey(db_index=False)
PGHISTORY_CONTEXT_FIELD = pghistory.ContextJSONField()
PGHISTORY_CONTEXT_ID_FIELD = pghistory.ContextUUIDField()
# Every method: HEAD and OPTIONS requests write too (portal.middleware.AuditContextMiddleware,
# which opens the context for any method, whatever this says).
PGHISTORY_MIDDLEWARE_METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")
# Keep the trail at least this long (网络安全法: 6 months); nothing deletes it before.
PORTAL_AUDIT_RETENTION_DAYS = env.int("PORTAL_AUDIT_RETENTION_DAYS", default=180)

# django-import-export's own exports (the resources' formats, which no page or command uses:
# ledgers go through rosters/exports.py, whose apostrophe escape imports back unchanged): the
# library drops a leading "=" from a cell so that nothing runs as a formula; characters xlsx
# cannot hold are replaced.
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = True
IMPORT_EXPORT_ESCAPE_ILLEGAL_CHARS_ON_EXPORT = True

# --- Roster files (rosters/constants.py has the defaults and why) -------------------------------
ROSTER_MAX_UPLOAD_MB = env.int("ROSTER_MAX_UPLOAD_MB", default=20)
ROSTER_MAX_UNPACKED_MB = env.int("ROSTER_MAX_UNPACKED_MB", default=600)
ROSTER_MAX_COMPRESSION_RATIO = env.int("ROSTER_MAX_COMPRESSION_RATIO", default=200)
ROSTER_MAX_SHEET_CELLS = env.int("ROSTER_MAX_SHEET_CELLS", default=10_000_000)
ROSTER_MAX_SHARED_STRINGS_MB = env.int("ROSTER_MAX_SHARED_STRINGS_MB", default=100)
ROSTER_MAX_SHARED_STRINGS = env.int("ROSTER_MAX_SHARED_STRINGS", default=3_000_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Domain settings (DOMAIN.md: "configurable") -----------------------------------------------
# Months without contact after which a member counts as lost (失联).
LOST_CONTACT_MONTHS = env.int("PORTAL_LOST_CONTACT_MONTHS", default=6)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
}
