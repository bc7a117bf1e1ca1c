"""``x-api-key`` authentication. A key belongs to a tenant; views read ``request.auth``
(the ApiKey) for it. Dashboard users (session) act for the configured TENANT_ID."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone
from rest_framework import authentication, exceptions

from jobmanager.config import get_config

from .models import ApiKey

HEADER = "HTTP_X_API_KEY"


@dataclass(frozen=True)
class ApiClient:
    """The authenticated caller of an API-key request (not a Django user)."""

    key: ApiKey

    is_authenticated = True
    is_anonymous = False

    @property
    def tenant_id(self) -> str:
        return self.key.tenant_id

    def __str__(self) -> str:
        return f"api-key:{self.key.prefix}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        raw = request.META.get(HEADER)
        if not raw:
            return None  # no key: let other authenticators (session) try, else 401
        key = ApiKey.lookup(raw.strip())
        if key is None:
            # A key was presented and is wrong or revoked: authenticated-but-refused.
            raise exceptions.PermissionDenied("invalid or revoked API key")
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
        return ApiClient(key), key

    def authenticate_header(self, request) -> str:
        return 'ApiKey header="x-api-key"'


def tenant_of(request) -> str:
    user = request.user
    if isinstance(user, ApiClient):
        return user.tenant_id
    return get_config().tenant_id
