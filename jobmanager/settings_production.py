"""Settings for the deployed stages (Zappa: ``django_settings``). The base settings plus
what a public HTTPS deployment needs; ``manage.py check --deploy`` is clean with them
(tests/deploy/test_production_settings.py).

Everything comes from the Lambda's environment, which ``python -m deploy`` fills from the
infra stacks' outputs and SSM parameters — nothing secret is in the repo or the package.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from .settings import *  # noqa: F403
from .settings import DATABASES, MIDDLEWARE


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ImproperlyConfigured(f"{name} must be set in production (see README: Deploy to AWS)")
    return value


DEBUG = False
SECRET_KEY = _required("DJANGO_SECRET_KEY")
# API Gateway's host (…execute-api.<region>.amazonaws.com) and/or a custom domain.
ALLOWED_HOSTS = [h.strip() for h in _required("DJANGO_ALLOWED_HOSTS").split(",") if h.strip()]

# Django's own tables must live in a real database: a SQLite file inside Lambda would be
# private to one instance and vanish with it (jobmanager/database.py).
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    raise ImproperlyConfigured("production needs DATABASE_URL or DATABASE_SECRET_ID (PostgreSQL), not SQLite")

# API Gateway terminates TLS and says so in X-Forwarded-Proto (Zappa passes it on).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", str(365 * 24 * 3600)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = os.environ.get("DJANGO_HSTS_INCLUDE_SUBDOMAINS", "true").lower() == "true"
SECURE_HSTS_PRELOAD = os.environ.get("DJANGO_HSTS_PRELOAD", "true").lower() == "true"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o] or [
    f"https://{h.lstrip('.')}" for h in ALLOWED_HOSTS if not h.startswith(".")
]

# Static files (the dashboard's CSS, django-htmx's htmx) are collected into the package
# by scripts/package.sh and served by WhiteNoise: no extra bucket or CDN to deploy.
MIDDLEWARE = [MIDDLEWARE[0], "whitenoise.middleware.WhiteNoiseMiddleware", *MIDDLEWARE[1:]]
assert MIDDLEWARE[0] == "django.middleware.security.SecurityMiddleware"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT") or STATIC_ROOT)  # noqa: F405 (tests collect elsewhere)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # WhiteNoise's manifest storage, with URLs that keep the stage prefix (dashboard/storage.py)
    "staticfiles": {"BACKEND": "dashboard.storage.PrefixedManifestStaticFilesStorage"},
}
