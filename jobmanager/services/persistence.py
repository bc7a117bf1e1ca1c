"""Event persistence (the seed's save-event-to-dynamo): store every event once, and
fold the worker's events into the task projection.

The worker has no access to the events table (seed: it only publishes), so ``running``,
heartbeats and progress reach the task item here. Completion and failure belong to the
dispatcher, which owns the DAG's transitions; the conditions below only ever move a
task forward, so events arriving late or twice change nothing."""

from __future__ import annotations

import logging
import time
from typing import Any

from jobmanager.domain.events import Event, EventType
from jobmanager.store import keys
from jobmanager.store.events_table import ConditionFailed, EventStore, event_ttl, get_event_store

log = logging.getLogger(__name__)


def persist_event(detail: dict[str, Any], *, store: EventStore | None = None) -> bool:
    """Returns True if the event was new."""
    store = store or get_event_store()
    event = Event.from_detail(detail)  # validates the envelope before anything is written
    stored = store.append_event(event.to_detail(), ttl=event_ttl(time.time()))
    try:
        _project(store, event)
    except ConditionFailed:
        log.debug("projection of %s %s skipped: task moved on", event.event_type, event.event_id)
    return stored


def _project(store: EventStore, event: Event) -> None:
    if not (event.job_id and event.task_id):
        return
    data = event.data
    if event.event_type is EventType.TASK_STARTED:
        store.update_task(
            event.job_id,
            event.task_id,
            set_fields={
                "status": "running",
                "startedAt": event.timestamp,
                "lastHeartbeatAt": event.timestamp,
                "workerId": data.get("workerId"),
                "attempt": event.attempt,
                # What the health check measures this attempt against (absent: config defaults).
                "timeoutSeconds": data.get("timeoutSeconds"),
                "heartbeatIntervalSeconds": data.get("heartbeatIntervalSeconds"),
                **keys.task_status_keys(
                    tenant_id=event.tenant_id, job_id=event.job_id, task_id=event.task_id,
                    status="running", since=event.timestamp,
                ),
            },
            condition="#st = :q OR (#st = :r AND attempt < :a)",
            values={":q": "queued", ":r": "running", ":a": event.attempt or 1},
        )
    elif event.event_type is EventType.TASK_HEARTBEAT:
        store.update_task(
            event.job_id, event.task_id,
            set_fields={"lastHeartbeatAt": event.timestamp},
            condition="#st = :r", values={":r": "running"},
        )
    elif event.event_type is EventType.TASK_PROGRESS:
        store.update_task(
            event.job_id, event.task_id,
            set_fields={"lastHeartbeatAt": event.timestamp, "progress": {k: data[k] for k in list(data)[:10]}},
            condition="#st = :r", values={":r": "running"},
        )
