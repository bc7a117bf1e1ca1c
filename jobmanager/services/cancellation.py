"""Task cancellation transitions, shared by job control, the dispatcher, the DLQ
processor and the reconciler (kept apart from ``dispatch`` so that both it and
``control`` can use them without importing each other).

A task reaches ``cancelled`` in one of three ways:
  * the cancel sweep (``control.cancel_job``): pending and queued tasks, announced here;
  * the worker, which sees the job's cancel marker while the task runs, kills it and
    publishes ``Task Cancelled`` itself (``on_task_cancelled`` folds that in);
  * a late outcome (completed, failed, retried, dead-lettered) of a task whose job was
    cancelled meanwhile: the job takes no more outcomes, so the task is cancelled instead
    (``settle_in_cancelled_job``) — nothing stays queued or running in a cancelled job.
Each is conditional and counted on the job in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from jobmanager.aws import bus
from jobmanager.config import get_config
from jobmanager.domain.events import Event, EventType, Source, new_event
from jobmanager.domain.ids import new_ulid, now_iso
from jobmanager.store.events_table import ConditionFailed, EventStore

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running")


def cancel_task(
    store: EventStore,
    job: dict[str, Any],
    task: dict[str, Any],
    *,
    from_states: Iterable[str],
    trigger: str,
    reason: str,
    source: str = Source.DISPATCHER,
) -> Event | None:
    """``task`` (as last read) → cancelled if it is in one of ``from_states``. Returns the
    ``Task Cancelled`` to announce — with the same id again when this trigger already
    cancelled it (a retry after a crash before the announcement) — or None when the task
    is elsewhere (finished, or cancelled by someone else, who announced it)."""
    states = {f":s{i}": s for i, s in enumerate(from_states)}
    event_id = new_ulid()
    now = now_iso()
    try:
        store.update_task(
            job["jobId"],
            task["taskId"],
            set_fields={"status": "cancelled", "finishedAt": now, "updatedAt": now, "cancelledReason": reason,
                        "lastEventId": event_id, "lastTrigger": trigger},
            condition=f"#st IN ({', '.join(states)})",
            values=states,
            remove=("GSI5PK", "GSI5SK"),
            add_to_job={"cancelledCount": 1},
        )
    except ConditionFailed as exc:
        current = exc.item or {}
        if current.get("status") != "cancelled" or current.get("lastTrigger") != trigger:
            return None
        event_id = current["lastEventId"]
    return new_event(
        EventType.TASK_CANCELLED,
        tenant_id=job["tenantId"],
        app_name=get_config().app_name,
        source=source,
        job_id=job["jobId"],
        task_id=task["taskId"],
        request_id=task.get("requestId"),
        attempt=task.get("attempt") or None,
        event_id=event_id,
        data={"reason": reason, "taskDefinition": task.get("taskDefinition")},
    )


def on_task_cancelled(event: Event, *, store: EventStore) -> None:
    """The worker stopped a running task of a cancelled job and said so: record it. The
    event is the announcement; a repeat (or a task already cancelled) changes nothing."""
    job_id, task_id = event.job_id, event.task_id
    assert job_id and task_id
    now = now_iso()
    try:
        store.update_task(
            job_id,
            task_id,
            set_fields={"status": "cancelled", "finishedAt": event.timestamp, "updatedAt": now,
                        "cancelledReason": event.data.get("reason") or "cancelled",
                        "lastEventId": event.event_id, "lastTrigger": event.event_id},
            # Only the attempt the worker ran: an older request's event can't cancel a newer one.
            condition="#st IN (:q, :r) AND requestId = :rid",
            values={":q": "queued", ":r": "running", ":rid": event.request_id or ""},
            remove=("GSI5PK", "GSI5SK"),
            add_to_job={"cancelledCount": 1},
        )
    except ConditionFailed as exc:
        log.info("dispatcher: Task Cancelled for %s/%s ignored (status %s)", job_id, task_id,
                 (exc.item or {}).get("status"))


def settle_in_cancelled_job(store: EventStore, job_id: str, task_id: str, *, trigger: str, what: str) -> bool:
    """A task's outcome arrived after its job was cancelled: instead of acting on it
    (successors, job end), cancel the task if it is still active. True if the job is
    cancelled (the caller stops there)."""
    job = store.get_job(job_id, consistent=True)
    if not job or job.get("status") != "cancelled":
        return False
    task = store.get_task(job_id, task_id)
    if task and task.get("status") in ACTIVE:
        announcement = cancel_task(store, job, task, from_states=ACTIVE, trigger=trigger,
                                   reason=f"job cancelled; its late {what} was discarded")
        if announcement:
            bus.publish([announcement])
    return True
