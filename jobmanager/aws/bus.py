"""Publishing events to the EventBridge bus. PutEvents can fail per entry with HTTP
200, so FailedEntryCount is checked and failed entries are retried; what still fails
raises, never passes silently."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Sequence

from jobmanager.config import get_config
from jobmanager.domain.errors import JobManagerError
from jobmanager.domain.events import DETAIL_TYPE, Event

from .clients import client

log = logging.getLogger(__name__)

MAX_ENTRIES_PER_CALL = 10
MAX_ENTRY_BYTES = 256 * 1024
_ATTEMPTS = 4


class PublishFailed(JobManagerError):
    status_code = 503
    code = "publish_failed"


def _entry(event: Event, bus_name: str) -> dict:
    detail = json.dumps(event.to_detail(), separators=(",", ":"), default=str)
    if len(detail) > MAX_ENTRY_BYTES - 1024:
        raise PublishFailed(
            f"event {event.event_type} for {event.job_id}/{event.task_id} is {len(detail)} bytes, over the bus limit",
            details={"eventId": event.event_id},
        )
    return {
        "Source": f"job-manager.{event.source}",
        "DetailType": DETAIL_TYPE,
        "Detail": detail,
        "EventBusName": bus_name,
    }


def publish(events: Sequence[Event]) -> None:
    """Put events on the bus, in order, 10 per call."""
    if not events:
        return
    bus_name = get_config().event_bus_name
    entries = [_entry(e, bus_name) for e in events]
    for start in range(0, len(entries), MAX_ENTRIES_PER_CALL):
        _put_batch(entries[start : start + MAX_ENTRIES_PER_CALL])


def _put_batch(entries: list[dict]) -> None:
    pending = entries
    for attempt in range(1, _ATTEMPTS + 1):
        response = client("events").put_events(Entries=pending)
        if not response.get("FailedEntryCount"):
            return
        failed = [entry for entry, result in zip(pending, response["Entries"], strict=True) if result.get("ErrorCode")]
        codes = sorted({r.get("ErrorCode") for r in response["Entries"] if r.get("ErrorCode")})
        log.warning("PutEvents: %d of %d entries failed (%s), attempt %d", len(failed), len(pending), codes, attempt)
        pending = failed
        time.sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))
    raise PublishFailed(f"{len(pending)} event(s) could not be put on the bus after {_ATTEMPTS} attempts")
