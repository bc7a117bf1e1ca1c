"""The task DLQ (the seed's dlq-processor): a task message that SQS gave up on after
its last delivery — the worker died or could not report, every time — ends its task
with a terminal ``Task Failed`` (``source: dlq``), and the dispatcher's terminal-failure
path then skips its descendants and ends the job, once (invariant 6).

Idempotent, like every consumer: the transition is conditional and records the id of
the event that announces it, so a redelivered dead letter re-announces the same event
(stored once) and a dead letter for a task that finished or moved on changes nothing.

A worker records a terminal outcome in S3 before publishing it; a dead letter whose last
run recorded one and died before publishing it is that outcome, not a failure: it is
published (its own eventId, so at most once in the log), as the worker would have.
"""

from __future__ import annotations

import logging
from typing import Any

from jobmanager.aws import artifacts, bus
from jobmanager.config import get_config
from jobmanager.domain.events import Event, EventType, Source, new_event
from jobmanager.domain.ids import iso_from_millis, new_ulid, now_iso, ulid_millis
from jobmanager.store.events_table import ConditionFailed, EventStore, get_event_store

from . import dispatch
from .cancellation import settle_in_cancelled_job

log = logging.getLogger(__name__)

FAILED = "failed"
IGNORED = "ignored"
RECOVERED = "recovered"  # the outcome its last run recorded, published


def fail_dead_letter(body: dict[str, Any], *, deliveries: int | None = None, store: EventStore | None = None,
                     error: dict[str, Any] | None = None, source: Source = Source.DLQ) -> str:
    """Fail the task of one dead-lettered message. Returns FAILED, RECOVERED or IGNORED (why is logged).
    ``error``/``source``: for a message lost another way (the reconciler's), its own reason."""
    store = store or get_event_store()
    missing = [k for k in ("jobId", "taskId", "requestId") if not body.get(k)]
    if missing:  # nothing to report on: the message stays readable in the log line
        log.error("dead letter without %s ignored: %.500s", ", ".join(missing), str(body))
        return IGNORED
    job_id, task_id, request_id = body["jobId"], body["taskId"], body["requestId"]
    task = store.get_task(job_id, task_id)
    if not task or task.get("requestId") != request_id:
        # Unknown, or retried since under a new request: this message's attempt is history.
        log.info("dead letter for %s/%s (request %s) ignored: not the task's current request", job_id, task_id,
                 request_id)
        return IGNORED

    if task["status"] in ("queued", "running"):
        recorded = artifacts.recorded_outcome(job_id, task_id, request_id)
        if recorded is not None:
            # As the worker would have: the dispatcher rule takes it from the bus.
            outcome = Event.from_detail(recorded)
            bus.publish([outcome])
            log.warning("dead letter for %s/%s: its last run recorded %s before dying; published", job_id, task_id,
                        outcome.event_type)
            return RECOVERED

    deliveries = deliveries or get_config().max_message_retries
    error = error or {"message": f"exhausted {deliveries} deliveries", "kind": "dlq", "retryable": False}
    if task["status"] in ("queued", "running"):
        event_id = new_ulid()
        try:
            store.update_task(
                job_id, task_id,
                set_fields={"status": "failed", "finishedAt": iso_from_millis(ulid_millis(event_id)),
                            "updatedAt": now_iso(), "error": error, "lastEventId": event_id, "lastTrigger": event_id},
                condition="#st IN (:q, :r) AND requestId = :rid",
                values={":q": "queued", ":r": "running", ":rid": request_id},
                remove=("GSI5PK", "GSI5SK"),
                add_to_job={"failedCount": 1},
                job_must_be_running=True,
            )
            task = {**task, "status": "failed", "error": error, "lastEventId": event_id}
        except ConditionFailed as exc:
            if exc.item is None:  # the job is no longer running
                settle_in_cancelled_job(store, job_id, task_id, trigger=f"dlq:{request_id}", what="dead letter")
                return IGNORED
            task = exc.item
    if not (task.get("status") == "failed" and (task.get("error") or {}).get("kind") == error["kind"]
            and task.get("requestId") == request_id):
        log.info("dead letter for %s/%s ignored: the task is %s", job_id, task_id, task.get("status"))
        return IGNORED

    event = new_event(
        EventType.TASK_FAILED,
        tenant_id=task["tenantId"],
        app_name=get_config().app_name,
        source=source,
        job_id=job_id,
        task_id=task_id,
        request_id=request_id,
        attempt=task.get("attempt") or body.get("attempt") or None,
        event_id=task["lastEventId"],  # the same id on a redelivery: stored once
        data={"error": task.get("error") or error, "willRetry": False, "taskDefinition": task.get("taskDefinition")},
    )
    bus.publish([event])
    # The dispatcher's terminal path (skip descendants, end the job once) runs here too, so
    # a dead letter is settled when this returns; the dispatcher rule repeats it harmlessly.
    dispatch.on_task_failed(event, store=store)
    log.warning("task %s/%s failed: %s", job_id, task_id, error["message"])
    return FAILED
