"""Minimal Django settings for django-appointment, the peer. Loaded only by ``measure.py`` in the
peer's own virtual environment; the project never imports this module or the peer.

The peer keeps wall-clock times without a zone, so its time zone is the bench location's.
"""

import os
from urllib.parse import urlparse

_db = urlparse(os.environ["PEER_DATABASE_URL"])

SECRET_KEY = "peer-benchmark-only"  # noqa: S105
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1"]
USE_TZ = True
TIME_ZONE = "America/Toronto"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "phonenumber_field",
    "appointment",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _db.path.lstrip("/"),
        "USER": _db.username or "postgres",
        "PASSWORD": _db.password or "",
        "HOST": _db.hostname or "127.0.0.1",
        "PORT": _db.port or 5432,
        "CONN_MAX_AGE": 600,
    }
}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
LOGGING = {"version": 1, "disable_existing_loggers": True}
