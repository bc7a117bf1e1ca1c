"""The reconciler: repairs what a lost message or a crash left behind (scheduled with the
health check). Every repair goes through the same conditional transitions as the normal
path, so running it twice, or beside the dispatcher, changes nothing more.

  1. A task ``queued`` (or last sent) longer ago than RECONCILE_AFTER_MINUTES: SQS can't be
     searched for its message, so it is sent again — same requestId and attempt, and its
     ``Task Queued`` under the same event id. A live copy is harmless: the worker deletes a
     duplicate of an attempt it runs and drops one it finished.
  2. A task ``running`` with no sign of life (start, heartbeat, or a send of ours) for
     RECONCILE_AFTER_MINUTES: its worker is gone, and so is its message — a live one
     would have come back to another worker within VISIBILITY_EXTENSION_AMOUNT. It is
     sent as its next attempt (as SQS would have redelivered it), or, if that was its
     last attempt, failed for good (``kind: lost``; descendants skipped, as for a dead
     letter). A worker that did record its outcome before dying is not run again: the
     next attempt's worker, or the failure path, publishes that outcome instead.
  3. Tasks still active in a cancelled job (a message that never reached a worker, a
     worker that died while the job was being cancelled): cancelled.
  4. A ``running`` job whose every task is terminal — the dispatcher's last step was lost:
     ended once, through ``dispatch.maybe_finish_job``.

``resume_interrupted`` is for a restart of the local stack, whose queues are gone: the
same repairs with nothing left to wait for, so every queued task is sent again and every
running task (its worker stopped with the stack) as its next attempt.

Reads: the sparse status index (GSI5) for old queued/running tasks and for running
jobs — key queries, never a table scan — plus one consistent read per candidate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from jobmanager.aws import artifacts, bus
from jobmanager.config import get_config
from jobmanager.domain.events import Source
from jobmanager.domain.ids import iso_from_millis, now_iso
from jobmanager.store.events_table import EventStore, get_event_store

from . import dispatch
from .cancellation import cancel_task
from .dead_letters import FAILED, fail_dead_letter

log = logging.getLogger(__name__)

_TERMINAL_COUNTERS = ("completedCount", "failedCount", "skippedCount", "cancelledCount")


@dataclass
class Report:
    resent: list[str] = field(default_factory=list)  # "jobId/taskId": queued, sent again
    resumed: list[str] = field(default_factory=list)  # running, lost: sent as the next attempt
    failed: list[str] = field(default_factory=list)  # running, lost at its last attempt
    cancelled: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)  # job ids

    def to_dict(self) -> dict[str, list[str]]:
        return {"resent": self.resent, "resumed": self.resumed, "failed": self.failed, "cancelled": self.cancelled,
                "finished": self.finished}

    def __bool__(self) -> bool:
        return any(self.to_dict().values())


def reconcile(*, tenant_ids: list[str] | None = None, now: datetime | None = None,
              stale_after_seconds: float | None = None, store: EventStore | None = None) -> dict[str, list[str]]:
    """Reconcile each tenant (default: the tenants the scheduled checks cover)."""
    cfg = get_config()
    store = store or get_event_store()
    stale_after = cfg.reconcile_after_seconds if stale_after_seconds is None else stale_after_seconds
    moment = (now or datetime.now(UTC)) - timedelta(seconds=stale_after)
    cutoff = iso_from_millis(int(moment.timestamp() * 1000))
    report = Report()
    for tenant_id in tenant_ids or cfg.health_check_tenants or (cfg.tenant_id,):
        _reconcile_tenant(store, tenant_id, cutoff=cutoff, report=report)
    if report:
        log.warning("reconciler: %s", ", ".join(f"{what} {names}" for what, names in report.to_dict().items() if names))
    return report.to_dict()


def resume_interrupted(*, tenant_ids: list[str], store: EventStore | None = None) -> dict[str, list[str]]:
    """After a restart that lost every queue: reconcile with nothing left to wait for."""
    return reconcile(tenant_ids=tenant_ids, stale_after_seconds=0, store=store)


def _reconcile_tenant(store: EventStore, tenant_id: str, *, cutoff: str, report: Report) -> None:
    jobs: dict[str, dict[str, Any] | None] = {}

    def job_of(job_id: str) -> dict[str, Any] | None:
        if job_id not in jobs:
            jobs[job_id] = store.get_job(job_id, consistent=True)
        return jobs[job_id]

    for entry in store.active_tasks(tenant_id, "queued", before=cutoff):
        task = store.get_task(entry["jobId"], entry["taskId"])  # the index lags: act on the item
        if not task or task["status"] != "queued" or (task.get("sentAt") or task.get("queuedAt") or "") >= cutoff:
            continue
        job = job_of(task["jobId"])
        if job and job["status"] == "running":
            if _attempt_claimed(task):
                # A worker took this attempt and vanished before starting it: a copy of the
                # same attempt would be dropped as a duplicate, so this is the next one.
                dispatch.send_messages(store, job, [{**task, "attempt": int(task["attempt"]) + 1}])
                store.mark_sent(task["jobId"], [(task["taskId"], task["requestId"])], now=now_iso())
            else:
                dispatch.enqueue(store, job, [task])
            report.resent.append(f"{task['jobId']}/{task['taskId']}")
        elif job and job["status"] == "cancelled":
            _cancel(store, job, task, "queued", report)

    for entry in store.active_tasks(tenant_id, "running", before=cutoff):
        job = job_of(entry["jobId"])
        if not job or job["status"] not in ("running", "cancelled"):
            continue
        task = store.get_task(entry["jobId"], entry["taskId"])
        if not task or task["status"] not in ("queued", "running") or _last_sign_of_life(task) >= cutoff:
            continue
        if job["status"] == "cancelled":
            _cancel(store, job, task, task["status"], report)
        elif task["status"] == "running":
            _take_over(store, job, task, report)

    cursor = None
    while True:
        page = store.list_jobs(tenant_id, status="running", limit=100, cursor=cursor)
        for job in page.items:
            if sum(job.get(c, 0) for c in _TERMINAL_COUNTERS) >= job.get("taskCount", 0):
                # Its own trigger: if the dispatcher ends the job first, this stays silent.
                trigger = f"reconcile:{job['jobId']}"
                dispatch.maybe_finish_job(store, job["jobId"], trigger=trigger)
                if (store.get_job(job["jobId"], consistent=True) or {}).get("finishedBy") == trigger:
                    report.finished.append(job["jobId"])
        cursor = page.next_cursor
        if not cursor:
            return


def _last_sign_of_life(task: dict[str, Any]) -> str:
    return max(task.get("lastHeartbeatAt") or "", task.get("startedAt") or "", task.get("sentAt") or "")


def _take_over(store: EventStore, job: dict[str, Any], task: dict[str, Any], report: Report) -> None:
    """Case 2: a running task whose worker and message are both gone."""
    name = f"{task['jobId']}/{task['taskId']}"
    attempt = int(task.get("attempt") or 1)
    limit = min(int(task.get("maxAttempts") or 3), get_config().max_message_retries)
    if attempt < limit:
        # The worker dedups by requestId + attempt: the next attempt is a new run. Marked
        # sent, so that the next reconcile leaves it to the queue for another while.
        dispatch.send_messages(store, job, [{**task, "attempt": attempt + 1}])
        store.mark_sent(task["jobId"], [(task["taskId"], task["requestId"])], now=now_iso())
        report.resumed.append(name)
        return
    error = {"message": f"attempt {attempt} of {limit} was lost: its worker stopped reporting and its message "
                        f"did not come back", "kind": "lost", "retryable": False}
    body = {"jobId": task["jobId"], "taskId": task["taskId"], "requestId": task["requestId"], "attempt": attempt}
    if fail_dead_letter(body, store=store, error=error, source=Source.HEALTH_CHECK) == FAILED:
        report.failed.append(name)


def _attempt_claimed(task: dict[str, Any]) -> bool:
    key = artifacts.attempt_claim_key(task["jobId"], task["taskId"], task["requestId"], int(task["attempt"]))
    return artifacts.exists(key)


def _cancel(store: EventStore, job: dict[str, Any], task: dict[str, Any], status: str, report: Report) -> None:
    announcement = cancel_task(store, job, task, from_states=(status,), trigger=f"reconcile:{task.get('requestId')}",
                               reason="job cancelled; the task was still active (reconciler)")
    if announcement:
        bus.publish([announcement])
        report.cancelled.append(f"{job['jobId']}/{task['taskId']}")
