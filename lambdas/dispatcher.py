"""EventBridge (``Task Completed`` / ``Task Failed``) → enqueue tasks whose dependencies are done."""

from __future__ import annotations

from typing import Any

from jobmanager.domain.events import Event
from jobmanager.services.dispatch import handle_event

from ._payload import event_detail


def handler(payload: dict[str, Any], context: Any = None) -> dict[str, Any]:
    event = Event.from_detail(event_detail(payload))
    handle_event(event)
    return {"eventId": event.event_id, "eventType": str(event.event_type)}
