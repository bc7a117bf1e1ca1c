"""Create (or reset) the dashboard's admin user from a Secrets Manager secret.

In production nobody can type into Lambda, and a password passed on a command line or
printed by a command ends up in CloudWatch logs. So ``infra/database.yaml`` generates the
admin's password into the secret ``job-manager/<stage>/admin``; this command, run in the
function (``zappa manage prod create_admin``), reads it there and sets it. The operator
reads it with ``aws secretsmanager get-secret-value``. Nothing secret is printed.
"""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from jobmanager.aws.clients import client
from jobmanager.config import get_config


class Command(BaseCommand):
    help = ("Create or update the admin user from the secret job-manager/<stage>/admin "
            "(JSON with username and password). Prints no secret.")

    def add_arguments(self, parser):
        parser.add_argument("--secret-id", default=None,
                            help="Secret name or ARN (default: job-manager/<STAGE>/admin).")

    def handle(self, *args, secret_id: str | None, **options):
        secret_id = secret_id or f"job-manager/{get_config().stage}/admin"
        try:
            secret = json.loads(client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"])
            username, password = secret["username"], secret["password"]
        except (KeyError, TypeError, ValueError) as exc:
            raise CommandError(f"secret {secret_id} must be JSON with username and password") from exc
        except Exception as exc:  # botocore's ClientError, NoCredentialsError…: name the secret, not its value
            raise CommandError(f"can't read secret {secret_id}: {exc.__class__.__name__}") from exc
        users = get_user_model()
        user, created = users.objects.get_or_create(username=username, defaults={"email": f"{username}@localhost"})
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        self.stdout.write(f"admin user {username} {'created' if created else 'updated'} from secret {secret_id}")
