"""Scheduled (with the health check) → re-send tasks queued too long with no live
message, take over running tasks silent too long (next attempt, or failed at the last),
and end jobs whose every task is terminal but whose end was never recorded.
``{"tenants": [...]}`` in the payload narrows it; by default the configured tenants."""

from __future__ import annotations

from typing import Any

from jobmanager.services.reconcile import reconcile


def handler(payload: dict[str, Any] | None = None, context: Any = None) -> dict[str, Any]:
    tenants = (payload or {}).get("tenants")
    return reconcile(tenant_ids=tenants if isinstance(tenants, list) else None)
