"""API keys as the README has an operator manage them in production: issued in the admin
(shown once, stored hashed, per tenant) and revoked there."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages
from rest_framework.test import APIClient

from api.models import ApiKey, digest

pytestmark = pytest.mark.django_db


def test_admin_issues_a_tenants_key_once_and_revokes_it(aws_stack, admin_client):
    # Given the admin's "add API key" form
    response = admin_client.post("/admin/api/apikey/add/", {"name": "billing", "tenant_id": "acme"}, follow=True)
    assert response.status_code == 200
    # Then the key is shown once, in a message, and only its hash is stored
    (shown,) = [m.message for m in get_messages(response.wsgi_request) if "shown once" in m.message]
    raw = re.search(r"(jm_\S+)$", shown).group(1)
    key = ApiKey.objects.get(name="billing")
    assert (key.tenant_id, key.key_hash, key.prefix) == ("acme", digest(raw), raw[:10])
    assert raw not in admin_client.get(f"/admin/api/apikey/{key.pk}/change/").content.decode()
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    assert client.get("/jobs").status_code == 200

    # When the admin's "Revoke" action is applied to it
    admin_client.post("/admin/api/apikey/", {"action": "revoke", "_selected_action": [key.pk]})
    # Then the key is refused from then on, and kept for the record
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert client.get("/jobs").status_code == 403
