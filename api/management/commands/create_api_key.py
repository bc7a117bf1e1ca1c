from django.core.management.base import BaseCommand

from api.models import ApiKey
from jobmanager.config import get_config


class Command(BaseCommand):
    help = "Create an API key for a tenant and print it (only its hash is stored: copy it now)."

    def add_arguments(self, parser):
        parser.add_argument("--name", default="default", help="A label for the key (who uses it).")
        parser.add_argument("--tenant", default=None, help="Tenant the key acts for (default: TENANT_ID).")

    def handle(self, *args, name: str, tenant: str | None, **options):
        _, raw = ApiKey.issue(name=name, tenant_id=tenant or get_config().tenant_id)
        self.stdout.write(raw)
