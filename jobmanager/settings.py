"""Django settings. Everything that varies by stage comes from the environment
(zappa_settings.json in production, the local stack's runner locally)."""

import os
from pathlib import Path

from jobmanager.database import database_config

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = os.environ.get("DJANGO_DEBUG", "false").lower() == "true"
# Deployed stages must bring their own key; the local stack and the tests use a fixed one.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or (
    "local-insecure-key-only-for-development" if os.environ.get("STAGE", "local") in ("local", "test") else ""
)
if not SECRET_KEY:
    raise RuntimeError("DJANGO_SECRET_KEY must be set outside the local and test stages")

ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_htmx",
    "jobmanager",
    "api",
    "dashboard",
    "consumer",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "dashboard.middleware.LoginRequiredMiddleware",  # Django's, plus HX-Redirect for htmx requests
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "jobmanager.urls"
WSGI_APPLICATION = "jobmanager.wsgi.application"

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

# Local state (SQLite database, run_local's credentials) lives in the data folder.
DATA_DIR = Path(os.environ.get("JOBMANAGER_DATA_DIR") or BASE_DIR / ".local")
# SQLite locally; DATABASE_URL / DATABASE_SECRET_ID (PostgreSQL) in production: see database.py.
DATABASES = {"default": database_config(DATA_DIR)}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Static URLs carry the request's path prefix (an API Gateway stage): dashboard/storage.py
    "staticfiles": {"BACKEND": "dashboard.storage.PrefixedStaticFilesStorage"},
}
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:jobs"
LOGOUT_REDIRECT_URL = "login"
CSRF_FAILURE_VIEW = "dashboard.middleware.csrf_failure"  # htmx: reload the page, not an error page in a fragment

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "EXCEPTION_HANDLER": "api.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": None,
    # The seed's usage plan per API key, counted in DynamoDB (api/throttling.py).
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.ApiKeyThrottle"],
    "DEFAULT_SCHEMA_CLASS": "api.openapi.ApiSchema",  # api/openapi.py: /api/schema/
    # The contract is JSON (DESIGN.md); forms and multipart would only widen the attack surface.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
}
API_USAGE_PLAN = {
    "rate": float(os.environ.get("API_THROTTLE_RATE", "100")),  # requests per second, sustained
    "burst": int(os.environ.get("API_THROTTLE_BURST", "50")),
    "quota_per_day": int(os.environ.get("API_QUOTA_PER_DAY", "10000")),
}
INSTALLED_APPS += ["drf_spectacular"]
SPECTACULAR_SETTINGS = {
    "TITLE": "Job Manager API",
    "DESCRIPTION": "Submit DAGs of LLM-agent tasks and follow them. Authenticate with the `x-api-key` header.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "jobmanager.domain.redaction.RedactingFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "botocore": {"level": "WARNING"},
        "django.server": {"level": "WARNING"},
    },
}
