"""Submitting work: create a job, add tasks to a running one.

Everything is validated before anything is written (invariant 8), and root tasks are
written already claimed (``queued``) so the API enqueues them without a second write.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Sequence
from typing import Any

from jobmanager.aws import artifacts, bus
from jobmanager.config import get_config
from jobmanager.domain.dag import validate_dag
from jobmanager.domain.errors import Conflict, NotFound, Unprocessable, ValidationFailed
from jobmanager.domain.events import EventType, Source, new_event
from jobmanager.domain.ids import new_ulid, now_iso
from jobmanager.domain.model import TaskSpec
from jobmanager.domain.redaction import redact, redact_obj
from jobmanager.domain.values import unstorable
from jobmanager.store import keys
from jobmanager.store.events_table import ConditionFailed, EventStore, event_ttl, get_event_store
from jobmanager.store.task_definitions import TaskDefinitionStore, get_task_definition_store

from . import dispatch
from .queries import job_view, task_view

log = logging.getLogger(__name__)

MAX_TASKS_PER_REQUEST = 1000
MAX_INPUT_BYTES = 256 * 1024
MAX_METADATA_BYTES = 16 * 1024
MAX_NESTING = 20  # levels of objects/lists in an input or the metadata (DynamoDB's own limit is 32)
INLINE_INPUT_BYTES = 16 * 1024
IDEMPOTENCY_KEY_RE = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, no spaces


def create_job(
    *,
    tenant_id: str,
    name: str,
    tasks: Sequence[TaskSpec],
    metadata: dict[str, Any] | None = None,
    max_budget_usd: float | None = None,
    idempotency_key: str | None = None,
    source: str = Source.API,
    store: EventStore | None = None,
    definitions: TaskDefinitionStore | None = None,
) -> dict[str, Any]:
    """Validate the DAG, write the job, enqueue its root tasks. Returns the job view
    plus ``queued`` (task ids sent) and ``replayed`` (an Idempotency-Key repeat).
    ``max_budget_usd``: once the job's agent tasks have cost this much, no new agent
    task is started (see ``dispatch.claim_ready``)."""
    store = store or get_event_store()
    definitions = definitions or get_task_definition_store()
    tasks = list(tasks)
    if idempotency_key is not None and not IDEMPOTENCY_KEY_RE.fullmatch(idempotency_key):
        raise ValidationFailed("Idempotency-Key must be 1-255 printable ASCII characters, without spaces",
                               details={"field": "Idempotency-Key"})
    _check_size(tasks, metadata)
    known = definitions.get_many({t.task_definition for t in tasks})
    order = validate_dag(tasks, known_definitions=set(known))
    # Names and metadata are labels shown everywhere (events, dashboard): a credential
    # pasted into one is cut out here, before it is stored or announced.
    name, metadata = redact(name), redact_obj(metadata or {})

    now = now_iso()
    ttl = event_ttl(time.time())
    job_id = new_ulid()
    if max_budget_usd is not None and not max_budget_usd > 0:
        raise ValidationFailed("maxBudgetUsd must be a positive number of US dollars",
                               details={"field": "maxBudgetUsd"})
    if idempotency_key:
        fingerprint = _fingerprint(name, tasks, metadata, max_budget_usd)
        holder = store.claim_idempotency_key(tenant_id, idempotency_key, job_id=job_id, fingerprint=fingerprint,
                                             ttl=ttl)
        if holder:
            return _replay(store, holder, idempotency_key=idempotency_key, fingerprint=fingerprint)

    cfg = get_config()
    created = new_event(  # made first so that it sorts before the root tasks' Task Queued
        EventType.JOB_CREATED, tenant_id=tenant_id, app_name=cfg.app_name, source=source, job_id=job_id,
        data={"name": name, "taskCount": len(tasks), "tasks": [t.task_id for t in tasks][:200]},
    )
    try:
        job, items, roots = _build_job(
            job_id=job_id, tenant_id=tenant_id, name=name, tasks=tasks, order=order,
            definitions=known, metadata=metadata, now=now, ttl=ttl,
        )
        if max_budget_usd is not None:
            job["maxBudgetUsd"] = max_budget_usd
        store.put_new_job(job, items)
    except Exception:
        if idempotency_key:
            store.release_idempotency_key(tenant_id, idempotency_key)
        raise

    bus.publish([created])
    dispatch.enqueue(store, job, roots)
    return {
        **job_view(job),
        "tasks": [task_view(item) for item in items],
        "queued": [t["taskId"] for t in roots],
        "replayed": False,
    }


def _fingerprint(name: str, tasks: list[TaskSpec], metadata: dict[str, Any], budget: float | None = None) -> str:
    """The request an Idempotency-Key was first used with (after redaction, as stored)."""
    canonical = json.dumps(
        {"name": name, "metadata": metadata, **({"maxBudgetUsd": budget} if budget is not None else {}),
         "tasks": [[t.task_id, t.task_definition, t.input, list(t.depends_on)] for t in tasks]},
        sort_keys=True, separators=(",", ":"), ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(store: EventStore, holder: dict[str, str], *, idempotency_key: str, fingerprint: str) -> dict[str, Any]:
    """The answer to a repeated Idempotency-Key: the first job, as it is now."""
    if holder["fingerprint"] and holder["fingerprint"] != fingerprint:
        raise Unprocessable(
            "this Idempotency-Key was already used for a different request (a different name, tasks or metadata)",
            details={"field": "Idempotency-Key", "jobId": holder["jobId"]},
        )
    existing = store.get_job(holder["jobId"], consistent=True)
    if not existing:
        raise Conflict("a job with this Idempotency-Key is still being created; retry shortly",
                       details={"idempotencyKey": idempotency_key})
    tasks = store.list_tasks(existing["jobId"], limit=MAX_TASKS_PER_REQUEST).items
    return {**job_view(existing), "tasks": [task_view(t) for t in tasks], "queued": [], "replayed": True}


def _check_size(tasks: list[TaskSpec], metadata: dict[str, Any] | None = None) -> None:
    if len(tasks) > MAX_TASKS_PER_REQUEST:
        raise ValidationFailed(
            f"at most {MAX_TASKS_PER_REQUEST} tasks per request (got {len(tasks)})", details={"field": "tasks"}
        )
    for task in tasks:
        size = len(json.dumps(task.input))
        if size > MAX_INPUT_BYTES:
            raise ValidationFailed(
                f"task '{task.task_id}': input is {size} bytes, over the {MAX_INPUT_BYTES}-byte limit",
                details={"tasks": {task.task_id: ["input too large"]}},
            )
        if _depth(task.input) > MAX_NESTING:
            raise ValidationFailed(
                f"task '{task.task_id}': input is nested more than {MAX_NESTING} levels deep",
                details={"tasks": {task.task_id: ["input nested too deeply"]}},
            )
        if problem := unstorable(task.input):
            raise ValidationFailed(f"task '{task.task_id}': input: {problem}",
                                   details={"tasks": {task.task_id: [f"input: {problem}"]}})
    # The job's metadata lives on the job item, which DynamoDB caps at 400 KB.
    size = len(json.dumps(metadata or {}))
    if size > MAX_METADATA_BYTES:
        raise ValidationFailed(f"metadata is {size} bytes, over the {MAX_METADATA_BYTES}-byte limit",
                               details={"field": "metadata"})
    if _depth(metadata or {}) > MAX_NESTING:
        raise ValidationFailed(f"metadata is nested more than {MAX_NESTING} levels deep", details={"field": "metadata"})
    if problem := unstorable(metadata or {}):
        raise ValidationFailed(f"metadata: {problem}", details={"field": "metadata"})


def _depth(value: Any) -> int:
    """How deeply lists and objects nest (DynamoDB refuses more than 32 levels)."""
    deepest, level, todo = 0, 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            todo.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _input_fields(job_id: str, task: TaskSpec) -> dict[str, Any]:
    """Small inputs live on the task item; large ones in S3 (items stay far below 400 KB)."""
    if len(json.dumps(task.input)) <= INLINE_INPUT_BYTES:
        return {"input": task.input}
    return {"inputRef": artifacts.put_json(artifacts.input_key(job_id, task.task_id), task.input)}


def _build_job(*, job_id, tenant_id, name, tasks, order, definitions, metadata, now, ttl):
    successors: dict[str, set[str]] = {t.task_id: set() for t in tasks}
    for task in tasks:
        for dep in task.depends_on:
            if dep in successors:  # existing tasks learn of new successors in add_tasks
                successors[dep].add(task.task_id)
    by_id = {t.task_id: t for t in tasks}
    items: list[dict[str, Any]] = []
    roots: list[dict[str, Any]] = []
    for task_id in order:
        task = by_id[task_id]
        item: dict[str, Any] = {
            **keys.task_key(job_id, task_id),
            "entity": "task",
            "jobId": job_id,
            "taskId": task_id,
            "tenantId": tenant_id,
            "taskDefinition": task.task_definition,
            "kind": str(definitions[task.task_definition].kind),  # the dispatcher's budget gate needs it
            "dependsOn": list(task.depends_on),
            "remaining": len(task.depends_on),
            "status": "pending",
            "attempt": 0,
            "maxAttempts": definitions[task.task_definition].max_attempts,
            "createdAt": now,
            "ttl": ttl,
            **_input_fields(job_id, task),
        }
        if successors[task_id]:
            item["successors"] = successors[task_id]
        if not task.depends_on:
            item.update(dispatch.queued_fields(
                tenant_id=tenant_id, job_id=job_id, task_id=task_id, attempt=1, trigger="submit", now=now
            ))
            roots.append(item)
        items.append(item)
    job = {
        **keys.job_key(job_id),
        **keys.job_index_keys(tenant_id=tenant_id, job_id=job_id, created_at=now, status="running"),
        "entity": "job",
        "jobId": job_id,
        "tenantId": tenant_id,
        "name": name,
        "status": "running",
        "taskCount": len(tasks),
        "completedCount": 0,
        "failedCount": 0,
        "skippedCount": 0,
        "cancelledCount": 0,
        "metadata": metadata,
        "createdAt": now,
        "updatedAt": now,
        "ttl": ttl,
    }
    return job, items, roots


def add_tasks(
    *,
    tenant_id: str,
    job_id: str,
    tasks: Sequence[TaskSpec],
    source: str = Source.API,
    store: EventStore | None = None,
    definitions: TaskDefinitionStore | None = None,
) -> dict[str, Any]:
    """Add tasks to a running job. New tasks may depend on existing ones: completed
    dependencies count at once, running ones when they complete."""
    store = store or get_event_store()
    definitions = definitions or get_task_definition_store()
    tasks = list(tasks)
    job = store.get_job(job_id, consistent=True)
    if not job or job["tenantId"] != tenant_id:
        raise NotFound(f"job {job_id} not found", details={"jobId": job_id})
    if job["status"] != "running":
        raise Conflict(f"job {job_id} is {job['status']}; tasks can only be added to a running job",
                       details={"jobId": job_id, "status": job["status"]})
    _check_size(tasks)
    existing_deps = {d for t in tasks for d in t.depends_on if d not in {x.task_id for x in tasks}}
    existing = store.get_tasks(job_id, existing_deps | {t.task_id for t in tasks})
    known = definitions.get_many({t.task_definition for t in tasks})
    order = validate_dag(tasks, known_definitions=set(known), existing_tasks=existing)
    dead = {d: existing[d]["status"] for d in existing_deps
            if existing[d]["status"] in ("failed", "skipped", "cancelled", "timed_out")}
    if dead:
        raise ValidationFailed(
            "new tasks cannot depend on tasks that will never complete",
            details={"tasks": {t.task_id: [f"depends on '{d}', which is {dead[d]}" for d in t.depends_on if d in dead]
                               for t in tasks if any(d in dead for d in t.depends_on)}},
        )

    now = now_iso()
    trigger = new_ulid()
    try:
        store.add_to_job_total(job_id, len(tasks), now=now)
    except ConditionFailed as exc:
        raise Conflict(f"job {job_id} finished while tasks were being added", details={"jobId": job_id}) from exc

    _, items, _ = _build_job(
        job_id=job_id, tenant_id=tenant_id, name=job["name"], tasks=tasks, order=order,
        definitions=known, metadata={}, now=now, ttl=int(job.get("ttl") or event_ttl(time.time())),
    )
    # New tasks start pending; roots are claimed through the same path as the dispatcher.
    for item in items:
        for field in ("requestId", "queuedAt", "lastEventId", "lastTrigger", "GSI5PK", "GSI5SK"):
            item.pop(field, None)
        item.update(status="pending", attempt=0)
    store.put_tasks(items)

    ready: list[dict[str, Any]] = []
    for item in items:
        outside = [d for d in item["dependsOn"] if d in existing_deps]
        done_already = [d for d in outside if not store.register_successor(job_id, d, item["taskId"])]
        if not item["dependsOn"]:
            claimed = dispatch.claim_ready(store, job, item, trigger=trigger)
        else:
            claimed = dispatch.count_satisfied(store, job, item["taskId"], done_already, trigger=trigger)
        if claimed:
            ready.append(claimed)

    bus.publish(
        [
            new_event(
                EventType.TASKS_ADDED, tenant_id=tenant_id, app_name=get_config().app_name, source=source,
                job_id=job_id, data={"tasks": [t.task_id for t in tasks][:200], "count": len(tasks)},
            )
        ]
    )
    dispatch.enqueue(store, job, ready)
    # Over its budget, the job may have skipped every new task: then it is finished.
    dispatch.maybe_finish_job(store, job_id, trigger=trigger)
    return {"jobId": job_id, "added": [i["taskId"] for i in items], "queued": [r["taskId"] for r in ready]}
