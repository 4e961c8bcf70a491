"""Django settings, read from the environment (12-factor).

Every default is an embedded one that needs no server: SQLite under ``var/``, a filesystem Celery
broker and e-mails written to files. Set ``DATABASE_URL``, ``REDIS_URL`` and ``EMAIL_URL``-style
variables to move to PostgreSQL, Redis and SMTP. ``DJANGO_ENV=production`` turns on the production
profile, which refuses to start without a real secret key.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CLINIC_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean flag; accepts 1/0, true/false, yes/no, on/off."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    """Read a comma-separated list, dropping blanks."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DJANGO_ENV = os.environ.get("DJANGO_ENV", "development")
PRODUCTION = DJANGO_ENV == "production"
TESTING = DJANGO_ENV == "test"

DEBUG = env_bool("DEBUG", not PRODUCTION and not TESTING)

_DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = os.environ.get("SECRET_KEY", "" if PRODUCTION else _DEV_SECRET_KEY)
if PRODUCTION and (len(SECRET_KEY) < 50 or SECRET_KEY == _DEV_SECRET_KEY):
    raise ImproperlyConfigured("SECRET_KEY must be set to a random value of 50+ characters.")

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", "" if PRODUCTION else "localhost,127.0.0.1,[::1],testserver"
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "corsheaders",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "clinic",
    "providers",
    "patients",
    "scheduling",
    "notifications",
    "plans",
    "interop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "clinic.middleware.RequestIdMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # After CORS, so a widget can read the refusal.
    "clinic.api.guard.InputGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "clinic.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "clinic" / "templates"],
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

WSGI_APPLICATION = "clinic.wsgi.application"

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'clinic.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # One writer at a time, waiting instead of failing: the SQLite default serialises bookings.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
if IS_POSTGRES:
    # Parameters travel apart from the SQL (no quoting in Python), and a statement a connection
    # has run DB_PREPARE_THRESHOLD times is prepared: PostgreSQL parses and plans it once per
    # connection. An online booking's CPU fell by a fifth (bench/FINDINGS.md). A pooler in
    # transaction mode that cannot keep prepared statements (PgBouncer before 1.21, or without
    # max_prepared_statements) needs DB_PREPARE_THRESHOLD=off.
    _prepare = os.environ.get("DB_PREPARE_THRESHOLD", "5").strip().lower()
    if _prepare not in {"", "off"} and not _prepare.isdigit():
        raise ImproperlyConfigured("DB_PREPARE_THRESHOLD must be a whole number of runs, or off.")
    # Added to the options the URL gives (``?sslmode=require``, ``?options=-c ...``), not in
    # their place.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "server_side_binding": True,
            "prepare_threshold": None if _prepare in {"", "off"} else int(_prepare),
        }
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        # Staff accounts open health records: longer than Django's default of 8.
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]

LANGUAGE_CODE = "en-ca"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

# --- Security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# A staff session on a shared front-desk computer should not outlive a working day.
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", str(60 * 60 * 10)))
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# CORS is open only on the public booking-widget API, and only to the clinic's own sites.
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
CORS_URLS_REGEX = r"^/api/v1/public/.*$"
CORS_ALLOW_HEADERS = ["accept", "content-type", "idempotency-key"]
CORS_ALLOW_METHODS = ["GET", "POST", "OPTIONS"]
CORS_ALLOW_CREDENTIALS = False

# Login throttling (django-axes): repeated failures for one username from one address lock that
# pair out for a cool-off period, so the admin cannot be brute-forced. Off under DJANGO_ENV=test
# (the test client logs in without a request); tests that check it switch it on.
INSTALLED_APPS += ["axes"]
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env_bool("AXES_ENABLED", not TESTING)
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("AXES_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429

# The largest request body held in memory (admin forms and the API's JSON alike): far above any
# real request, far below what would hurt a worker. Over it the API answers 413 (docs/LIMITS.md).
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DATA_UPLOAD_MAX_MEMORY_SIZE", str(1024 * 1024)))

# --- E-mail ---------------------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = VAR_DIR / "mail"
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "10"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Clinic <no-reply@clinic.example>")
# Where links in e-mails (manage booking, unsubscribe) point.
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

# --- Celery ---------------------------------------------------------------------------------
_BROKER_DIR = VAR_DIR / "broker"
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL or "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "queue"),
        "data_folder_out": str(_BROKER_DIR / "queue"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "control_folder": str(_BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fix-up closes the database connection around every task unless told to reuse
# it: a reconnect per e-mail halved the reminder pipeline. Workers keep it instead, and Django's
# own rules (CONN_MAX_AGE, health checks, errors) retire it between tasks (clinic/celery.py).
CELERY_DB_REUSE_MAX = 1000
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Every minute: send whatever notification is due (even if its task message was lost) and take
# over rows whose sending lease expired. Expires so a backlog of sweeps does not pile up.
CELERY_BEAT_SCHEDULE = {
    "notifications-sweep": {
        "task": "notifications.sweep",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Every minute: end waitlist holds whose time is up (offering the time to the next entry),
    # close entries past their last date, match openings a crashed worker left unmatched.
    "waitlist-sweep": {
        "task": "scheduling.waitlist_sweep",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Hourly: each clinician's reminder of unsigned visit notes is planned once their local 07:00
    # has passed (one ledger row per clinician per day, so running twice sends nothing twice).
    "plans-unsigned-note-reminders": {
        "task": "plans.unsigned_note_reminders",
        "schedule": crontab(minute=5),
        "options": {"expires": 3000},
    },
}
# Visit notes signed more than this many hours after the visit are marked late (DOMAIN.md 9).
VISIT_NOTES_LATE_ENTRY_HOURS = int(os.environ.get("VISIT_NOTES_LATE_ENTRY_HOURS", "72"))

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "clinic.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "clinic.api.problems.problem_exception_handler",
    # Request bodies are JSON only, so the schema advertises only application/json and a
    # generated client sends nested bodies as JSON; with the size, nesting and text rules of
    # clinic/api/limits.py.
    "DEFAULT_PARSER_CLASSES": ["clinic.api.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "clinic.api.renderers.JSONRenderer",
        "clinic.api.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "public_read": os.environ.get("THROTTLE_PUBLIC_READ", "300/min"),
        "public_write": os.environ.get("THROTTLE_PUBLIC_WRITE", "20/min"),
        "staff": os.environ.get("THROTTLE_STAFF", "2000/min"),
    },
    # Staff endpoints per user; the public views set their own per-client read/write throttles.
    "DEFAULT_THROTTLE_CLASSES": ["clinic.api.throttling.StaffThrottle"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DATETIME_FORMAT": "iso-8601",
}
# Throttles key anonymous clients by address. Trust X-Forwarded-For only as far as the number of
# reverse proxies in front of us (0: use the socket's address), so a client cannot mint itself a
# fresh allowance by sending a made-up header.
REST_FRAMEWORK["NUM_PROXIES"] = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))

SPECTACULAR_SETTINGS = {
    "TITLE": "Clinic practice-management API",
    "DESCRIPTION": (
        "Public booking-widget API (`/api/v1/public/`) and the staff API. Errors are RFC 9457 "
        "problem details (`application/problem+json`)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # One stable schema name per choice set, so widget code generators get readable enums.
    "ENUM_NAME_OVERRIDES": {
        "RoomKindEnum": "clinic.models.Room.Kind",
        "AuditActionEnum": "clinic.models.AuditEvent.Action",
        "CredentialKindEnum": "providers.models.Credential.Kind",
        "CredentialStatusEnum": "providers.models.Credential.Status",
        "ScopeRuleChangeActionEnum": "providers.models.ScopeRuleChange.Action",
        "PatientStatusEnum": "patients.models.Patient.Status",
        "ConsentPurposeEnum": "patients.models.Consent.Purpose",
        "ConsentSourceEnum": "patients.models.Consent.Source",
        "CareRelationshipSourceEnum": "patients.models.CareRelationship.Source",
        "ReferralStatusEnum": "patients.models.Referral.Status",
        "AvailabilityExceptionKindEnum": "scheduling.models.AvailabilityException.Kind",
        "AppointmentStatusEnum": "scheduling.models.Appointment.Status",
        "AppointmentSourceEnum": "scheduling.models.Appointment.Source",
        "CancelledByEnum": "scheduling.models.Appointment.CancelledBy",
        "AppointmentEventKindEnum": "scheduling.models.AppointmentEvent.Kind",
        "RecommendedPathEnum": "scheduling.models.FreeConsultOutcome.Path",
        "CallbackRequestStatusEnum": "scheduling.models.CallbackRequest.Status",
        "WaitlistEntryStatusEnum": "scheduling.waitlist_models.WaitlistEntry.Status",
        "WaitlistOfferStatusEnum": "scheduling.waitlist_models.WaitlistOffer.Status",
        "NotificationStatusEnum": "notifications.models.Notification.Status",
        "ExerciseCategoryEnum": "plans.models.Exercise.Category",
        "CarePlanPhaseEnum": "plans.models.CarePlan.Phase",
        "ClosedReasonEnum": "plans.models.CarePlan.ClosedReason",
        "DiagnosisCauseEnum": "plans.models.Diagnosis.Cause",
        "MeasureKindEnum": "plans.models.MeasureKind",
        "VisitNoteStatusEnum": "plans.models.VisitNote.Status",
        "NoteSectionEnum": "plans.models.Section",
        "NoteFieldKindEnum": "plans.models.FieldKind",
    },
}
# Every operation documents the problem+json errors it can answer with (checked by the API fuzz).
# Swagger UI's assets come from drf-spectacular-sidecar (pinned in uv.lock), served as our own
# static files: the docs work on a machine without internet access.
SPECTACULAR_SETTINGS["SWAGGER_UI_DIST"] = "SIDECAR"
SPECTACULAR_SETTINGS["SWAGGER_UI_FAVICON_HREF"] = "SIDECAR"
SPECTACULAR_SETTINGS["REDOC_DIST"] = "SIDECAR"
SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"] = [
    "drf_spectacular.hooks.postprocess_schema_enums",
    "clinic.api.problems.document_problem_responses",
]

# --- Cache (throttle counters) -----------------------------------------------------------------
# Tests get a per-process memory cache, so throttle counts never leak between runs or tests.
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # Fail fast when Redis is away: the throttles then count in memory (throttling.py).
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
        if REDIS_URL
        else {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    )
}
if TESTING:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Logging: no clinical data, request ids on every line --------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "clinic.middleware.RequestIdLogFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Problem details: the stable URI prefix of every error ``type``.
PROBLEM_TYPE_BASE = os.environ.get("PROBLEM_TYPE_BASE", "https://clinic-backend.dev/problems/")
