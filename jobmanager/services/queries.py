"""Reads for the API and the dashboard: one index query per jobs page, a job read
bounded by its size and paginated."""

from __future__ import annotations

import re
from typing import Any

from jobmanager.domain.errors import NotFound, ValidationFailed
from jobmanager.domain.model import JobStatus, budget_reached
from jobmanager.store.codec import Page
from jobmanager.store.events_table import EventStore, get_event_store

MAX_PAGE = 100
JOB_ID_RE = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")  # a ULID (domain/ids.py)
MAX_TASK_PAGE = 1000

_JOB_FIELDS = ("jobId", "name", "status", "createdAt", "updatedAt", "finishedAt", "taskCount", "metadata",
               "maxBudgetUsd")
_TASK_FIELDS = (
    "taskId", "taskDefinition", "status", "attempt", "maxAttempts", "dependsOn", "requestId", "createdAt",
    "queuedAt", "startedAt", "finishedAt", "lastHeartbeatAt", "workerId", "input", "inputRef", "output",
    "outputRef", "outputSize", "artifacts", "error", "costUsd", "usage", "numTurns", "durationMs", "model",
    "exitCode", "skippedReason", "transcriptRef", "logRef",
)


def job_view(job: dict[str, Any]) -> dict[str, Any]:
    view = {k: job[k] for k in _JOB_FIELDS if k in job}
    view["counts"] = {
        "completed": job.get("completedCount", 0),
        "failed": job.get("failedCount", 0),
        "skipped": job.get("skippedCount", 0),
        "cancelled": job.get("cancelledCount", 0),
    }
    view["costUsd"] = job.get("costUsd", 0)
    if "maxBudgetUsd" in job:
        view["budgetReached"] = budget_reached(job)
    return view


def task_view(task: dict[str, Any]) -> dict[str, Any]:
    return {k: task[k] for k in _TASK_FIELDS if k in task and task[k] is not None}


def _limit(value: int | None, *, default: int, maximum: int) -> int:
    if value is None:
        return default
    if value < 1 or value > maximum:
        raise ValidationFailed(f"limit must be between 1 and {maximum}", details={"field": "limit"})
    return value


def list_jobs(
    *, tenant_id: str, status: str | None = None, limit: int | None = None, cursor: str | None = None,
    store: EventStore | None = None,
) -> Page:
    _check_status(status)
    store = store or get_event_store()
    page = store.list_jobs(tenant_id, status=status, limit=_limit(limit, default=25, maximum=MAX_PAGE), cursor=cursor)
    return Page(items=[job_view(j) for j in page.items], next_cursor=page.next_cursor)


def _check_status(status: str | None) -> None:
    if status and status not in {s.value for s in JobStatus}:
        raise ValidationFailed(
            f"unknown status '{status}' (expected one of {', '.join(s.value for s in JobStatus)})",
            details={"field": "status"},
        )


def search_jobs(
    *, tenant_id: str, text: str, status: str | None = None, limit: int | None = None, cursor: str | None = None,
    store: EventStore | None = None,
) -> Page:
    """Jobs whose id is ``text`` or whose name contains it (newest first, paginated).
    An exact job id is one read; a name is matched page by page over the listing."""
    _check_status(status)
    text = text.strip()
    store = store or get_event_store()
    if not cursor and JOB_ID_RE.fullmatch(text.upper()):
        try:
            job = get_job_summary(tenant_id=tenant_id, job_id=text.upper(), store=store)
        except NotFound:
            job = None
        if job and (not status or job.get("status") == status):
            return Page(items=[job], next_cursor=None)
    page = store.search_jobs(tenant_id, text, status=status, limit=_limit(limit, default=25, maximum=MAX_PAGE),
                             cursor=cursor)
    return Page(items=[job_view(j) for j in page.items], next_cursor=page.next_cursor)


def count_jobs(*, tenant_id: str, store: EventStore | None = None) -> dict[str, dict[str, Any]]:
    """Per job status: ``{"count": n, "exact": bool}`` (one COUNT query per status)."""
    store = store or get_event_store()
    counts = {}
    for status in JobStatus:
        count, exact = store.count_jobs(tenant_id, status.value)
        counts[status.value] = {"count": count, "exact": exact}
    return counts


def get_job(
    *, tenant_id: str, job_id: str, task_limit: int | None = None, cursor: str | None = None,
    store: EventStore | None = None,
) -> dict[str, Any]:
    """The job with its tasks (one page of them; ``tasksNextCursor`` continues)."""
    store = store or get_event_store()
    job = get_job_summary(tenant_id=tenant_id, job_id=job_id, store=store)
    page = store.list_tasks(job_id, limit=_limit(task_limit, default=500, maximum=MAX_TASK_PAGE), cursor=cursor)
    return {**job, "tasks": [task_view(t) for t in page.items], "tasksNextCursor": page.next_cursor}


def get_job_summary(*, tenant_id: str, job_id: str, store: EventStore | None = None) -> dict[str, Any]:
    """The job without its tasks: one read."""
    store = store or get_event_store()
    job = store.get_job(job_id)
    if not job or job.get("tenantId") != tenant_id:
        raise NotFound(f"job {job_id} not found", details={"jobId": job_id})
    return job_view(job)


def get_task(*, tenant_id: str, job_id: str, task_id: str, store: EventStore | None = None) -> dict[str, Any]:
    """One task, with the status of each of its dependencies (one batch read)."""
    store = store or get_event_store()
    task = store.get_task(job_id, task_id, consistent=False)
    if not task or task.get("tenantId") != tenant_id:
        raise NotFound(f"task {task_id} not found in job {job_id}", details={"jobId": job_id, "taskId": task_id})
    deps = store.get_tasks(job_id, task.get("dependsOn", [])) if task.get("dependsOn") else {}
    return {**task_view(task), "dependencies": {d: deps.get(d, {}).get("status", "unknown") for d in task.get("dependsOn", [])}}


def job_events(
    *, tenant_id: str, job_id: str, limit: int | None = None, cursor: str | None = None,
    store: EventStore | None = None,
) -> Page:
    store = store or get_event_store()
    get_job_summary(tenant_id=tenant_id, job_id=job_id, store=store)
    return store.job_events(job_id, limit=_limit(limit, default=100, maximum=MAX_TASK_PAGE), cursor=cursor)


def task_history(*, tenant_id: str, job_id: str, task_id: str, store: EventStore | None = None) -> list[dict[str, Any]]:
    store = store or get_event_store()
    task = store.get_task(job_id, task_id, consistent=False)
    if not task or task.get("tenantId") != tenant_id:
        raise NotFound(f"task {task_id} not found in job {job_id}", details={"jobId": job_id, "taskId": task_id})
    events: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = store.task_history(job_id, task_id, limit=100, cursor=cursor)
        events.extend(page.items)
        if not page.next_cursor or len(events) >= 1000:
            return events
        cursor = page.next_cursor
