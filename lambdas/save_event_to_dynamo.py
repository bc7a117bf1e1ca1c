"""EventBridge (every ``log-event``) → the event store."""

from __future__ import annotations

import logging
from typing import Any

from jobmanager.services.persistence import persist_event

from ._payload import event_detail

log = logging.getLogger(__name__)


def handler(payload: dict[str, Any], context: Any = None) -> dict[str, Any]:
    detail = event_detail(payload)
    stored = persist_event(detail)
    return {"eventId": detail.get("eventId"), "stored": stored}
