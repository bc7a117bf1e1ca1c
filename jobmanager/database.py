"""Django's own database (users, sessions, admin log, API keys), chosen by configuration.

- ``DATABASE_URL`` (any URL dj-database-url understands, e.g. ``postgres://…``): used as is.
- ``DATABASE_SECRET_ID``: a Secrets Manager secret (name or ARN) holding ``username``, ``password``,
  ``host``, ``port``, ``dbname`` (what ``infra/database.yaml`` creates). Read once per cold
  start, so the password never sits in the Lambda's environment or the package.
- neither: SQLite in the data folder (the local stack and the tests).

Production settings refuse SQLite: a file inside Lambda would be per-instance and lost.
The event store is DynamoDB either way; this database holds only Django's own tables.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

# Lambda keeps its container between invocations: reuse the connection for a while, and
# check it before use (the database may have closed it while the container was frozen).
CONN_MAX_AGE = 60


def database_config(data_dir: Path) -> dict[str, Any]:
    url = os.environ.get("DATABASE_URL")
    if url:
        import dj_database_url

        return dj_database_url.parse(url, conn_max_age=CONN_MAX_AGE, conn_health_checks=True)
    secret_id = os.environ.get("DATABASE_SECRET_ID")
    if secret_id:
        return _from_secret(secret_id)
    path = os.environ.get("DJANGO_SQLITE_PATH")
    if not path:
        data_dir.mkdir(parents=True, exist_ok=True)
        path = str(data_dir / "db.sqlite3")
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": path}


def _from_secret(secret_id: str) -> dict[str, Any]:
    import boto3

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
    client = boto3.client("secretsmanager", region_name=region, endpoint_url=endpoint)
    secret = json.loads(client.get_secret_value(SecretId=secret_id)["SecretString"])
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": secret.get("dbname", "jobmanager"),
        "USER": secret["username"],
        "PASSWORD": secret["password"],
        "HOST": secret["host"],
        "PORT": str(secret.get("port", 5432)),
        "CONN_MAX_AGE": CONN_MAX_AGE,
        "CONN_HEALTH_CHECKS": True,
        # RDS speaks TLS; never send the password in clear over the VPC.
        "OPTIONS": {"sslmode": os.environ.get("DATABASE_SSLMODE", "require"), "connect_timeout": 5},
    }
