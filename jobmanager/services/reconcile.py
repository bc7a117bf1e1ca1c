"""The reconciler: repairs what a lost message or a crash left behind (scheduled with the
health check). Every repair goes through the same conditional transitions as the normal
path, so running it twice, or beside the dispatcher, changes nothing more.

  1. A task ``queued`` (or last sent) longer ago than RECONCILE_AFTER_MINUTES: SQS can't be
     searched for its message, so it is sent again — same requestId and attempt, and its
     ``Task Queued`` under the same event id. A live copy is harmless: the worker deletes a
     duplicate of an attempt it runs and drops one it finished.
  2. Tasks still active in a cancelled job (a message that never reached a worker, a
     worker that died while the job was being cancelled): cancelled.
  3. A ``running`` job whose every task is terminal — the dispatcher's last step was lost:
     ended once, through ``dispatch.maybe_finish_job``.

``resume_interrupted`` is for a restart of the local stack, whose queues are gone: it
sends every queued task again and every running task (its worker stopped with the
stack) as its next attempt, as SQS would have redelivered it.

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
from jobmanager.domain.ids import iso_from_millis, now_iso
from jobmanager.store.events_table import EventStore, get_event_store

from . import dispatch
from .cancellation import cancel_task

log = logging.getLogger(__name__)

_TERMINAL_COUNTERS = ("completedCount", "failedCount", "skippedCount", "cancelledCount")


@dataclass
class Report:
    resent: list[str] = field(default_factory=list)  # "jobId/taskId"
    cancelled: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)  # job ids

    def to_dict(self) -> dict[str, list[str]]:
        return {"resent": self.resent, "cancelled": self.cancelled, "finished": self.finished}


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
    if report.resent or report.cancelled or report.finished:
        log.warning("reconciler: re-sent %s, cancelled %s, ended jobs %s", report.resent, report.cancelled,
                    report.finished)
    return report.to_dict()


def resume_interrupted(*, tenant_ids: list[str], store: EventStore | None = None) -> dict[str, list[str]]:
    """After a restart that lost every queue: re-send queued tasks, send running tasks of
    running jobs as attempt n+1, then reconcile (jobs that ended unannounced)."""
    store = store or get_event_store()
    resumed: list[str] = []
    now = iso_from_millis(int(datetime.now(UTC).timestamp() * 1000))
    for tenant_id in tenant_ids:
        for entry in store.active_tasks(tenant_id, "running", before=now):
            task = store.get_task(entry["jobId"], entry["taskId"])
            job = store.get_job(entry["jobId"], consistent=True)
            if task and job and task["status"] == "running" and job["status"] == "running":
                # The worker dedups by requestId + attempt: the next attempt is a new run.
                dispatch.send_messages(store, job, [{**task, "attempt": int(task.get("attempt") or 1) + 1}])
                resumed.append(f"{task['jobId']}/{task['taskId']}")
    report = reconcile(tenant_ids=tenant_ids, stale_after_seconds=0, store=store)
    return {**report, "resumed": resumed}


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
        if not job or job["status"] != "cancelled":
            continue  # a running task in a running job is the health check's business
        task = store.get_task(entry["jobId"], entry["taskId"])
        if task and task["status"] in ("queued", "running") and (task.get("lastHeartbeatAt") or "") < cutoff:
            _cancel(store, job, task, task["status"], report)

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


def _attempt_claimed(task: dict[str, Any]) -> bool:
    key = artifacts.attempt_claim_key(task["jobId"], task["taskId"], task["requestId"], int(task["attempt"]))
    return artifacts.exists(key)


def _cancel(store: EventStore, job: dict[str, Any], task: dict[str, Any], status: str, report: Report) -> None:
    announcement = cancel_task(store, job, task, from_states=(status,), trigger=f"reconcile:{task.get('requestId')}",
                               reason="job cancelled; the task was still active (reconciler)")
    if announcement:
        bus.publish([announcement])
        report.cancelled.append(f"{job['jobId']}/{task['taskId']}")
