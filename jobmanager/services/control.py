"""Job control: cancel a job, retry a task. Every transition is conditional, so a
repeated or concurrent call (and the dispatcher running meanwhile) agree on one outcome.

Cancel, in this order:
  1. the job ends ``cancelled`` (conditional, once: it records the event that announces
     it) — from here on the dispatcher rejects every outcome and starts no successor,
     and ``add_tasks`` refuses the job;
  2. the cancel marker goes to S3: workers have no access to the events table, so they
     HEAD it — before starting a task (then they drop the message) and on every
     heartbeat (then they kill the task's process group and publish ``Task Cancelled``);
  3. pending and queued tasks → ``cancelled``, announced (a repeated call re-announces
     with the same ids); running tasks are left to their worker, which announces them;
  4. ``Job Cancelled`` is announced.
A crash anywhere is repaired by calling cancel again (the API answers 200 then).
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from jobmanager.aws import artifacts, bus
from jobmanager.config import get_config
from jobmanager.domain.errors import Conflict, NotFound
from jobmanager.domain.events import Event, EventType, Source, new_event
from jobmanager.domain.ids import new_ulid, now_iso
from jobmanager.store.events_table import ConditionFailed, EventStore, get_event_store
from jobmanager.store.recovery import retry_transition

from . import dispatch
from .cancellation import cancel_task
from .queries import job_view

log = logging.getLogger(__name__)

SWEPT = ("pending", "queued")
# Which job counter holds a terminal task (maybe_finish_job knows no timed-out counter:
# a timeout is a failure).
_COUNTER = {"failed": "failedCount", "timed_out": "failedCount", "cancelled": "cancelledCount"}
_DEAD = frozenset({"failed", "timed_out", "skipped", "cancelled"})
_RESET_ATTEMPTS = 5


def _load(store: EventStore, tenant_id: str, job_id: str) -> dict[str, Any]:
    job = store.get_job(job_id, consistent=True)
    if not job or job.get("tenantId") != tenant_id:
        raise NotFound(f"job {job_id} not found", details={"jobId": job_id})
    return job


# ── cancel ────────────────────────────────────────────────────────────────────


def cancel_job(*, tenant_id: str, job_id: str, source: str = Source.API,
               store: EventStore | None = None) -> dict[str, Any]:
    """Cancel a running job (idempotent: cancelling a cancelled job repeats the sweep and
    its announcements). Returns the job view plus ``cancelled`` (tasks cancelled now),
    ``stopping`` (running tasks their workers are asked to stop) and ``alreadyCancelled``.
    Conflict if the job already completed or failed."""
    store = store or get_event_store()
    job = _load(store, tenant_id, job_id)
    already = job["status"] == "cancelled"
    if job["status"] == "running":
        store.finish_job(job_id, tenant_id=tenant_id, status="cancelled", event_id=new_ulid(),
                         trigger=f"cancel:{source}", now=now_iso())
        job = _load(store, tenant_id, job_id)  # we won, or someone finished it first
    if job["status"] != "cancelled":
        raise Conflict(f"job {job_id} is {job['status']}; only a running job can be cancelled",
                       details={"jobId": job_id, "status": job["status"]})

    artifacts.put_text(artifacts.cancel_marker_key(job_id), job["finishEventId"])
    # One trigger per cancellation, derived from the job's end: a repeated call finds the
    # tasks it cancelled before and re-announces them under the same ids.
    trigger = f"cancel:{job['finishEventId']}"
    cancelled: list[str] = []
    stopping: list[str] = []
    announcements: list[Event] = []
    cursor = None
    while True:
        page = store.list_tasks(job_id, limit=200, cursor=cursor)
        for task in page.items:
            if task["status"] == "running":
                stopping.append(task["taskId"])
                continue
            if task["status"] not in SWEPT and task.get("lastTrigger") != trigger:
                continue
            announcement = cancel_task(store, job, task, from_states=SWEPT, trigger=trigger,
                                       reason="job cancelled", source=source)
            if announcement:
                cancelled.append(task["taskId"])
                announcements.append(announcement)
        cursor = page.next_cursor
        if not cursor:
            break
    bus.publish(announcements)
    job = _load(store, tenant_id, job_id)
    bus.publish([new_event(EventType.JOB_CANCELLED, tenant_id=tenant_id, app_name=get_config().app_name,
                           source=source, job_id=job_id, event_id=job["finishEventId"],
                           data={**dispatch.job_summary(job), "stopping": stopping[:200]})])
    log.info("job %s cancelled: %d task(s) cancelled, %d running asked to stop", job_id, len(cancelled),
             len(stopping))
    return {**job_view(job), "cancelled": cancelled, "stopping": stopping, "alreadyCancelled": already}


# ── retry ─────────────────────────────────────────────────────────────────────


def can_retry(task_status: str | None, job_status: str | None) -> bool:
    """A failed task (its job running or failed), or a timed-out or cancelled one while its job runs."""
    return (task_status == "failed" and job_status in ("running", "failed")) or (
        task_status in ("timed_out", "cancelled") and job_status == "running")


def retry_task(*, tenant_id: str, job_id: str, task_id: str, store: EventStore | None = None) -> dict[str, Any]:
    """Run a failed task again (or a timed-out or cancelled one while its job runs): it
    gets attempt+1 and a new requestId, the tasks skipped because of it go back to
    pending with their dependency counters rebuilt, and a failed job runs again.
    Returns the job view plus the task's new ``taskStatus`` (queued, or pending while a
    dependency is unfinished), ``attempt``, ``requestId`` and ``reset`` (descendants).
    Conflict when the states don't allow it."""
    store = store or get_event_store()
    job = _load(store, tenant_id, job_id)
    task = store.get_task(job_id, task_id)
    if not task:
        raise NotFound(f"task {task_id} not found in job {job_id}", details={"jobId": job_id, "taskId": task_id})
    status = task["status"]
    if not can_retry(status, job["status"]):
        raise Conflict(
            f"task {task_id} is {status} and job {job_id} is {job['status']}: only a failed task, or a timed-out "
            "or cancelled one while its job is running, can be retried",
            details={"jobId": job_id, "taskId": task_id, "status": status, "jobStatus": job["status"]})

    deps = store.get_tasks(job_id, task.get("dependsOn", []))
    dead = sorted(d for d, item in deps.items() if item["status"] in _DEAD)
    if dead:
        raise Conflict(f"task {task_id} depends on {', '.join(dead)}, which will not complete: retry those first",
                       details={"jobId": job_id, "taskId": task_id, "dependsOn": dead})

    trigger = new_ulid()
    # Descendants first: while the task is still failed none of them can be claimed, and
    # a crash before the task itself is retried leaves it retryable (a repeat call finishes
    # the job). A failed job can't be cancelled meanwhile; a running one can, so then each
    # reset requires the job to be running.
    reset = reset_skipped_descendants(store, job, task_id, trigger=trigger,
                                      job_must_be_running=job["status"] == "running")
    now = now_iso()
    done = sorted(d for d, item in deps.items() if item["status"] == "completed")
    ready = len(done) == len(task.get("dependsOn", []))
    fields: dict[str, Any] = {"updatedAt": now, "retriedAt": now,
                              "remaining": len(task.get("dependsOn", [])) - len(done)}
    if ready:
        fields |= dispatch.queued_fields(tenant_id=tenant_id, job_id=job_id, task_id=task_id,
                                         attempt=int(task.get("attempt") or 0) + 1, trigger=trigger, now=now)
    else:  # a task cancelled before it ever ran waits for its dependencies again
        fields |= {"status": "pending", "attempt": int(task.get("attempt") or 0), "lastTrigger": trigger}
    if done:
        fields["doneDeps"] = set(done)
    try:
        # The task and the job, atomically: a failed job runs again with one task fewer
        # terminal, so it can't be ended again before the task ends.
        retry_transition(
            store, job=job, task_id=task_id, set_fields=fields,
            condition="#st = :was AND attempt = :attempt",
            values={":was": status, ":attempt": task.get("attempt", 0)},
            remove=("sentAt", "finishedAt", "error", "cancelledReason") + (() if done else ("doneDeps",)),
            counter=_COUNTER[status],
        )
    except ConditionFailed as exc:
        raise Conflict(f"task {task_id} or job {job_id} changed while the retry was being made; read the job "
                       "and try again", details={"jobId": job_id, "taskId": task_id}) from exc
    job = _load(store, tenant_id, job_id)
    item = store.get_task(job_id, task_id)
    if ready and item:
        dispatch.enqueue(store, job, [item])
    log.info("task %s/%s retried (attempt %s); %d skipped descendant(s) reset", job_id, task_id,
             fields.get("attempt"), len(reset))
    return {**job_view(job), "taskId": task_id, "taskStatus": fields["status"], "attempt": fields["attempt"],
            "requestId": fields.get("requestId"), "reset": reset}


def reset_skipped_descendants(store: EventStore, job: dict[str, Any], root: str, *, trigger: str,
                              job_must_be_running: bool = True) -> list[str]:
    """Skipped tasks downstream of ``root`` go back to pending — those whose every other
    dependency can still complete (one skipped because of another failure stays skipped).
    Their counters are rebuilt from their dependencies' states; none is claimable yet,
    since each waits on ``root`` or on another reset task."""
    job_id = job["jobId"]
    subtree: dict[str, dict[str, Any]] = {}
    frontier = deque([root])
    while frontier:  # one batch read per level of the DAG
        level = {s for t in frontier for s in _successors(store, job_id, t, subtree)} - set(subtree)
        frontier.clear()
        for task_id, item in store.get_tasks(job_id, level).items():
            if item["status"] == "skipped":
                subtree[task_id] = item
                frontier.append(task_id)
    revived: set[str] = {root}
    reset: list[str] = []
    pending = sorted(subtree)  # a stable answer: by dependency order, then by id
    while pending:  # in dependency order within the subtree
        decidable = [t for t in pending if all(d not in subtree or d not in pending for d in subtree[t]["dependsOn"])]
        if not decidable:
            break
        for task_id in decidable:
            pending.remove(task_id)
            if _reset_one(store, job, subtree[task_id], revived=revived, subtree=subtree, trigger=trigger,
                          job_must_be_running=job_must_be_running):
                revived.add(task_id)
                reset.append(task_id)
    return reset


def _successors(store: EventStore, job_id: str, task_id: str, known: dict[str, dict[str, Any]]) -> list[str]:
    item = known.get(task_id) or store.get_task(job_id, task_id) or {}
    return list(item.get("successors", []))


def _reset_one(store: EventStore, job: dict[str, Any], item: dict[str, Any], *, revived: set[str],
               subtree: dict[str, dict[str, Any]], trigger: str, job_must_be_running: bool) -> bool:
    job_id, task_id = job["jobId"], item["taskId"]
    for _ in range(_RESET_ATTEMPTS):
        if item.get("status") != "skipped":
            return False
        deps = item.get("dependsOn", [])
        outside = [d for d in deps if d not in revived]
        states = {d: s["status"] for d, s in store.get_tasks(job_id, outside).items()}
        if any(states.get(d) in _DEAD or d in subtree for d in outside):
            return False  # some other dependency will never complete
        done = sorted(d for d in outside if states.get(d) == "completed")
        seen = len(item.get("doneDeps", []))
        fields: dict[str, Any] = {"status": "pending", "remaining": len(deps) - len(done), "updatedAt": now_iso(),
                                  "lastTrigger": trigger}
        if done:
            fields["doneDeps"] = set(done)
        try:
            # doneDeps only grows (each completion counts itself once); if it grew since it
            # was read, a dependency completed meanwhile: read again rather than lose it.
            store.update_task(
                job_id, task_id, set_fields=fields,
                condition="#st = :sk AND " + ("size(doneDeps) = :seen" if seen else "attribute_not_exists(doneDeps)"),
                values={":sk": "skipped", **({":seen": seen} if seen else {})},
                remove=("skippedReason", "finishedAt") + (() if done else ("doneDeps",)),
                add_to_job={"skippedCount": -1},
                job_must_be_running=job_must_be_running,
            )
            return True
        except ConditionFailed:
            item = store.get_task(job_id, task_id) or {}
    log.warning("could not reset %s/%s after %d attempts", job_id, task_id, _RESET_ATTEMPTS)
    return False
