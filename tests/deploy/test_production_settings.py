"""jobmanager.settings_production: `check --deploy` clean, and it refuses to start unsafe."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from jobmanager.database import database_config

from .conftest import ROOT

PROD_ENV = {
    "DJANGO_SETTINGS_MODULE": "jobmanager.settings_production",
    "DJANGO_SECRET_KEY": "k" * 20 + "-not-a-real-key-but-long-and-random-enough-9f8e7d6c5b4a",
    "DJANGO_ALLOWED_HOSTS": ".execute-api.eu-west-1.amazonaws.com,jobs.example.com",
    "DATABASE_URL": "postgres://jobmanager:secret@db.internal:5432/jobmanager",
    "STAGE": "prod",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SQLITE_PATH", "DATABASE_URL")}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **PROD_ENV, **env},
                          capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean():
    done = manage("check", "--deploy", "--fail-level", "WARNING")
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS"])
def test_refuses_to_start_without_its_secret_and_hosts(missing):
    done = manage("check", **{missing: ""})
    assert done.returncode != 0 and f"{missing} must be set" in done.stderr


def test_refuses_sqlite():
    done = manage("check", DATABASE_URL="")
    assert done.returncode != 0 and "not SQLite" in done.stderr


def test_production_cookies_and_https():
    code = ("from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
            "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.DEBUG, s.ALLOWED_HOSTS, s.CSRF_TRUSTED_ORIGINS, "
            "s.DATABASES['default']['ENGINE'], s.MIDDLEWARE[1])")
    done = manage("shell", "-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == (
        "True True True 31536000 False ['.execute-api.eu-west-1.amazonaws.com', 'jobs.example.com'] "
        "['https://jobs.example.com'] django.db.backends.postgresql whitenoise.middleware.WhiteNoiseMiddleware")


def test_database_from_a_secret(aws_stack, tmp_path, monkeypatch):
    """infra/database.yaml's secret (with the attachment's host and port) → PostgreSQL over TLS."""
    import boto3

    secrets = boto3.client("secretsmanager", endpoint_url=aws_stack["endpoint_url"], region_name="eu-west-1")
    secrets.create_secret(Name="job-manager/test/database", SecretString=(
        '{"username": "jobmanager", "password": "p4ss", "host": "db.internal", "port": 5432, "dbname": "jobmanager"}'))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_SECRET_ID", "job-manager/test/database")
    config = database_config(tmp_path)
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["PORT"], config["USER"], config["PASSWORD"], config["NAME"]) == (
        "db.internal", "5432", "jobmanager", "p4ss", "jobmanager")
    assert config["OPTIONS"]["sslmode"] == "require" and config["CONN_HEALTH_CHECKS"]


def test_local_default_is_sqlite_in_the_data_folder(tmp_path, monkeypatch):
    for name in ("DATABASE_URL", "DATABASE_SECRET_ID", "DJANGO_SQLITE_PATH"):
        monkeypatch.delenv(name, raising=False)
    assert database_config(tmp_path / "data") == {"ENGINE": "django.db.backends.sqlite3",
                                                  "NAME": str(tmp_path / "data" / "db.sqlite3")}
