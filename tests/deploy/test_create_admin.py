"""The production admin login: set from the secret infra/database.yaml generates, never printed."""

from __future__ import annotations

import json
import uuid
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command

from jobmanager.aws.clients import client
from jobmanager.config import get_config

pytestmark = pytest.mark.django_db


def test_create_admin_sets_the_secrets_password_and_prints_no_secret(aws_stack):
    # Given the stage's admin secret (what CloudFormation generates), by its default name
    secret_id = f"job-manager/{get_config().stage}/admin"
    password = f"planted-{uuid.uuid4().hex}"
    secrets = client("secretsmanager")
    secrets.create_secret(Name=secret_id, SecretString=json.dumps({"username": "ops", "password": password}))

    # When the command runs (as `zappa manage <stage> create_admin` would)
    out = StringIO()
    call_command("create_admin", stdout=out)

    # Then the user can log in with the secret's password, and the output names no secret
    user = authenticate(username="ops", password=password)
    assert user is not None and user.is_superuser and user.is_staff
    assert out.getvalue().strip() == f"admin user ops created from secret {secret_id}"

    # When the secret is rotated and the command runs again, then the same user gets the new one
    rotated = f"rotated-{uuid.uuid4().hex}"
    secrets.put_secret_value(SecretId=secret_id, SecretString=json.dumps({"username": "ops", "password": rotated}))
    call_command("create_admin", stdout=out)
    assert authenticate(username="ops", password=password) is None
    assert authenticate(username="ops", password=rotated) is not None
    assert get_user_model().objects.filter(username="ops").count() == 1
    assert password not in out.getvalue() and rotated not in out.getvalue()
    secrets.delete_secret(SecretId=secret_id, ForceDeleteWithoutRecovery=True)


def test_create_admin_names_a_missing_or_malformed_secret(aws_stack):
    with pytest.raises(CommandError, match="can't read secret job-manager/nope/admin: ResourceNotFoundException"):
        call_command("create_admin", "--secret-id", "job-manager/nope/admin")

    name = f"job-manager/bad-{uuid.uuid4().hex[:6]}/admin"
    client("secretsmanager").create_secret(Name=name, SecretString='{"username": "ops"}')
    with pytest.raises(CommandError, match=f"secret {name} must be JSON with username and password"):
        call_command("create_admin", "--secret-id", name)
    assert not get_user_model().objects.filter(username="ops").exists()
