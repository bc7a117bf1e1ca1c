"""The dispatcher: moves tasks through the DAG as their dependencies finish.

For a completion of task T (DESIGN.md § Dispatcher):
  1. mark T completed (conditional; the job's counter moves in the same transaction);
  2. for each successor S, record T as done on S (conditional on T not counted yet);
     when that leaves S with nothing pending, claim S (pending → queued, conditional)
     — whoever wins the claim sends S to SQS and announces ``Task Queued``;
  3. when every task is terminal, finish the job once (``Job Completed``/``Job Failed``).

Work per completion is O(successors), never O(job history). Every transition records
the event that announced it (``lastEventId``) and the event that caused it
(``lastTrigger``): when the same trigger is redelivered after a crash between a write
and its announcement, the announcement is repeated with the same event id (the event
store keeps one copy; the worker dedups the repeated message by requestId + attempt).
"""

from __future__ import annotations

import json
import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterable
from typing import Any

from jobmanager.aws import artifacts, bus, queue
from jobmanager.config import get_config
from jobmanager.domain.events import Event, EventType, Source, new_event
from jobmanager.domain.ids import new_ulid, now_iso
from jobmanager.domain.model import DefinitionKind, budget_left, budget_reached
from jobmanager.store import keys
from jobmanager.store.events_table import ConditionFailed, EventStore, get_event_store

from . import cancellation

log = logging.getLogger(__name__)

MESSAGE_INLINE_LIMIT = 200 * 1024
SEND_BATCH = 10  # SQS SendMessageBatch and EventBridge PutEvents take 10 entries per call
CLAIM_THREADS = 8  # a big fan-out's successors are counted and claimed this many at a time


def _event(event_type: EventType, *, job: dict[str, Any], task: dict[str, Any] | None = None, **kwargs: Any) -> Event:
    cfg = get_config()
    return new_event(
        event_type,
        tenant_id=job["tenantId"],
        app_name=cfg.app_name,
        source=kwargs.pop("source", Source.DISPATCHER),
        job_id=job["jobId"],
        task_id=task["taskId"] if task else None,
        request_id=task.get("requestId") if task else None,
        attempt=task.get("attempt") if task else None,
        **kwargs,
    )


def queued_fields(*, tenant_id: str, job_id: str, task_id: str, attempt: int, trigger: str, now: str) -> dict[str, Any]:
    """The attributes of a task entering ``queued`` (a new requestId per attempt)."""
    return {
        "status": "queued",
        "attempt": attempt,
        "requestId": new_ulid(),
        "queuedAt": now,
        "lastEventId": new_ulid(),
        "lastTrigger": trigger,
        **keys.task_status_keys(tenant_id=tenant_id, job_id=job_id, task_id=task_id, status="queued", since=now),
    }


def task_message(job: dict[str, Any], task: dict[str, Any], upstream: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The SQS body a worker needs: everything to build the prompt without reading the
    events table. Upstream outputs ride along (large ones as S3 pointers)."""
    body: dict[str, Any] = {
        "jobId": job["jobId"],
        "taskId": task["taskId"],
        "tenantId": job["tenantId"],
        "requestId": task["requestId"],
        "attempt": task["attempt"],
        "maxAttempts": task.get("maxAttempts", 3),
        "taskDefinition": task["taskDefinition"],
        "upstream": {
            dep: {k: v for k, v in item.items() if k in ("output", "outputRef")} for dep, item in upstream.items()
        },
    }
    if (left := budget_left(job)) is not None:  # the session itself stops there too
        body["budgetUsd"] = left
    if "inputRef" in task:
        body["inputRef"] = task["inputRef"]
    else:
        body["input"] = task.get("input") or {}
    if len(json.dumps(body)) > MESSAGE_INLINE_LIMIT:
        key = artifacts.message_key(job["jobId"], task["taskId"], task["attempt"])
        kept = ("jobId", "taskId", "tenantId", "requestId", "attempt", "maxAttempts", "taskDefinition", "budgetUsd")
        body = {k: body[k] for k in kept if k in body} | {"payloadRef": artifacts.put_json(key, body)}
    return body


def enqueue(store: EventStore, job: dict[str, Any], tasks: list[dict[str, Any]],
            known: dict[str, dict[str, Any]] | None = None) -> None:
    """Announce and send tasks that are already claimed (status queued). Announce
    first: if the send is lost, the log still says the task was queued and the
    reconciler can find it; the reverse would run work the log never mentions."""
    if not tasks:
        return
    bus.publish(
        [
            _event(
                EventType.TASK_QUEUED,
                job=job,
                task=task,
                event_id=task["lastEventId"],
                data={"taskDefinition": task["taskDefinition"]},
            )
            for task in tasks
        ]
    )
    send_messages(store, job, tasks, known=known)
    # Recorded so that a redelivered trigger doesn't send again; a crash right here
    # means one duplicate message, which the worker drops (same requestId + attempt).
    store.mark_sent(job["jobId"], [(task["taskId"], task["requestId"]) for task in tasks], now=now_iso())


def send_messages(store: EventStore, job: dict[str, Any], tasks: list[dict[str, Any]],
                  known: dict[str, dict[str, Any]] | None = None) -> None:
    """The tasks' SQS messages, with their upstream outputs (no announcement: a resend).
    ``known``: task items already read (the task that just completed), not read again."""
    known = known or {}
    deps = {dep for task in tasks for dep in task.get("dependsOn", [])}
    missing = deps - known.keys()
    upstream_items = {**known, **(store.get_tasks(job["jobId"], missing) if missing else {})}
    queue.send_messages(
        [
            task_message(job, task, {dep: upstream_items.get(dep, {}) for dep in task.get("dependsOn", [])})
            for task in tasks
        ]
    )


def handle_event(event: Event, *, store: EventStore | None = None) -> None:
    """Entry point for the dispatcher rule (Task Completed / Task Failed)."""
    store = store or get_event_store()
    if not event.job_id or not event.task_id:
        log.warning("dispatcher: ignoring %s without jobId/taskId", event.event_type)
        return
    if event.event_type is EventType.TASK_COMPLETED:
        on_task_completed(event, store=store)
    elif event.event_type is EventType.TASK_FAILED:
        on_task_failed(event, store=store)
    elif event.event_type is EventType.TASK_CANCELLED:
        cancellation.on_task_cancelled(event, store=store)
    else:
        log.info("dispatcher: nothing to do for %s", event.event_type)


def on_task_completed(event: Event, *, store: EventStore) -> None:
    job_id, task_id = event.job_id, event.task_id
    assert job_id and task_id
    now = now_iso()
    data = event.data
    fields = {
        "status": "completed",
        "finishedAt": event.timestamp,
        "updatedAt": now,
        "lastTrigger": event.event_id,
        **{k: data[k] for k in _RESULT_FIELDS if data.get(k) is not None},
    }
    counters: dict[str, Any] = {"completedCount": 1}
    if data.get("costUsd"):
        counters["costUsd"] = data["costUsd"]
    try:
        store.update_task(
            job_id,
            task_id,
            set_fields=fields,
            condition="#st IN (:q, :r)",
            values={":q": "queued", ":r": "running"},
            remove=("GSI5PK", "GSI5SK"),
            add_to_job=counters,
            job_must_be_running=True,  # a cancelled job takes no more outcomes
        )
    except ConditionFailed as exc:
        if not exc.item or exc.item.get("status") != "completed":
            log.info("dispatcher: %s/%s not completable (status %s)", job_id, task_id, (exc.item or {}).get("status"))
            if exc.item is None:  # the task condition held: the job did not
                cancellation.settle_in_cancelled_job(store, job_id, task_id, trigger=event.event_id,
                                                     what="Task Completed")
            return
        # Already completed: a redelivery, or a retry after a crash. Carry on.
    with ThreadPoolExecutor(max_workers=CLAIM_THREADS) as pool:  # threads start only when used
        # Both read at once (one round trip of latency, not two). The job is read after
        # this completion was counted: if it was the last, this read shows it.
        task_read = pool.submit(store.get_task, job_id, task_id)
        job = store.get_job(job_id, consistent=True)
        task = task_read.result()
        if not task or not job or job["status"] == "cancelled":  # cancelled since: no successor is started
            return
        # Successors are claimed and sent a batch at a time (one PutEvents and one
        # SendMessageBatch per batch): workers start on the first while the rest are claimed.
        successors = sorted(task.get("successors", []))
        claim = lambda successor: _count_and_claim(store, job, successor, done=task_id,  # noqa: E731
                                                   trigger=event.event_id)
        for start in range(0, len(successors), SEND_BATCH):
            batch = successors[start:start + SEND_BATCH]
            claimed = [claim(batch[0])] if len(batch) == 1 else list(pool.map(claim, batch))
            enqueue(store, job, [item for item in claimed if item], known={task_id: task})
    # Claims leave the job's counters alone, so the job as read above still holds; but a
    # job over its budget may just have had successors skipped (counted): read it again.
    maybe_finish_job(store, job_id, trigger=event.event_id, job=None if budget_reached(job) else job)


_RESULT_FIELDS = (
    "output",
    "outputRef",
    "outputSize",
    "artifacts",
    "costUsd",
    "usage",
    "numTurns",
    "durationMs",
    "model",
    "exitCode",
    "workerId",
    "transcriptRef",
    "logRef",
)


def _count_and_claim(store: EventStore, job: dict[str, Any], task_id: str, *, done: str, trigger: str) -> dict | None:
    """Count ``done`` on ``task_id``; claim it if nothing else is pending. Returns the
    claimed item when this call must send it."""
    job_id = job["jobId"]
    item = store.count_done_dependency(job_id, task_id, done) or store.get_task(job_id, task_id)
    if not item:
        log.warning("dispatcher: successor %s/%s does not exist", job_id, task_id)
        return None
    return claim_ready(store, job, item, trigger=trigger)


def claim_ready(store: EventStore, job: dict[str, Any], item: dict[str, Any], *, trigger: str) -> dict | None:
    """pending → queued once nothing is pending, conditionally: exactly one caller wins
    and must send. A retry of the winning trigger (crash between claim and send) wins
    again, so the task is never left claimed but unsent."""
    if item.get("remaining", 0) > 0:
        return None
    if _claimed_but_unsent(item, trigger):
        return item
    if item["status"] != "pending":
        return None
    if item.get("kind") == DefinitionKind.AGENT and budget_reached(job):
        skip_over_budget(store, job, item, trigger=trigger)
        return None
    job_id, task_id = job["jobId"], item["taskId"]
    try:
        return store.update_task(
            job_id,
            task_id,
            set_fields=queued_fields(
                tenant_id=job["tenantId"], job_id=job_id, task_id=task_id, attempt=1, trigger=trigger, now=now_iso()
            ),
            condition="#st = :p AND remaining <= :zero",
            values={":p": "pending", ":zero": 0},
            remove=("sentAt",),
        )
    except ConditionFailed as exc:
        current = exc.item or {}
        if _claimed_but_unsent(current, trigger):
            return _clean_item(current)
        return None  # another dispatcher won the claim and sends it


def _claimed_but_unsent(item: dict[str, Any], trigger: str) -> bool:
    """This trigger claimed the task earlier and crashed before the send was recorded."""
    return item.get("status") == "queued" and item.get("lastTrigger") == trigger and not item.get("sentAt")


def _clean_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in ("PK", "SK") and not k.startswith("GSI")}


def on_task_failed(event: Event, *, store: EventStore) -> None:
    job_id, task_id = event.job_id, event.task_id
    assert job_id and task_id
    data = event.data
    now = now_iso()
    if data.get("willRetry"):
        # The message goes back to the queue; record the error and the next attempt.
        try:
            store.update_task(
                job_id,
                task_id,
                set_fields={"status": "queued", "attempt": (event.attempt or 1) + 1, "error": data.get("error"),
                            "updatedAt": now, "lastTrigger": event.event_id},
                condition="#st IN (:q, :r) AND attempt <= :a",
                values={":q": "queued", ":r": "running", ":a": event.attempt or 1},
            )
        except ConditionFailed:
            pass
        # The job may have been cancelled: then the redelivery would never run (the worker
        # drops it), so the task is cancelled now rather than left queued.
        cancellation.settle_in_cancelled_job(store, job_id, task_id, trigger=event.event_id, what="retry")
        return
    try:
        store.update_task(
            job_id,
            task_id,
            set_fields={"status": "failed", "finishedAt": event.timestamp, "updatedAt": now,
                        "error": data.get("error"), "lastTrigger": event.event_id},
            condition="#st IN (:q, :r)",
            values={":q": "queued", ":r": "running"},
            remove=("GSI5PK", "GSI5SK"),
            add_to_job={"failedCount": 1},
            job_must_be_running=True,  # a cancelled job takes no more outcomes
        )
    except ConditionFailed as exc:
        if not exc.item or exc.item.get("status") != "failed":
            log.info("dispatcher: %s/%s not failable (status %s)", job_id, task_id, (exc.item or {}).get("status"))
            if exc.item is None:  # the task condition held: the job did not
                cancellation.settle_in_cancelled_job(store, job_id, task_id, trigger=event.event_id,
                                                     what="Task Failed")
            return
    job = store.get_job(job_id, consistent=True)
    task = store.get_task(job_id, task_id)
    if job and task:
        skip_descendants(store, job, task, trigger=event.event_id)
    maybe_finish_job(store, job_id, trigger=event.event_id)


def skip_over_budget(store: EventStore, job: dict[str, Any], item: dict[str, Any], *, trigger: str) -> None:
    """A ready agent task of a job that has spent its budget: skipped, saying so, and
    everything downstream of it with it (command tasks elsewhere in the DAG still run)."""
    reason = (f"job budget reached: ${float(job.get('costUsd') or 0):.4f} spent of its maxBudgetUsd "
              f"${float(job['maxBudgetUsd']):.4f}; no new agent task is started")
    event_id = new_ulid()
    try:
        store.update_task(
            job["jobId"], item["taskId"],
            set_fields={"status": "skipped", "skippedReason": reason, "finishedAt": now_iso(),
                        "lastEventId": event_id, "lastTrigger": trigger},
            condition="#st = :p AND remaining <= :zero",
            values={":p": "pending", ":zero": 0},
            add_to_job={"skippedCount": 1},
        )
        skipped = store.get_task(job["jobId"], item["taskId"])  # (a transaction returns no item)
    except ConditionFailed as exc:
        skipped = exc.item
        # Only the trigger that skipped it repeats the announcement (a redelivery).
        if not skipped or skipped.get("status") != "skipped" or skipped.get("lastTrigger") != trigger:
            return
        event_id = skipped["lastEventId"]
    if not skipped:
        return
    log.info("dispatcher: %s/%s skipped: %s", job["jobId"], item["taskId"], reason)
    bus.publish([_event(EventType.TASK_SKIPPED, job=job, task=skipped, event_id=event_id,
                        data={"reason": reason, "taskDefinition": skipped.get("taskDefinition"),
                              "budgetReached": True})])
    skip_descendants(store, job, skipped, trigger=trigger)


def skip_descendants(store: EventStore, job: dict[str, Any], failed: dict[str, Any], *, trigger: str) -> None:
    """Mark every pending task downstream of ``failed`` skipped, with the reason."""
    reason = f"upstream task '{failed['taskId']}' {failed['status']}"
    announcements: list[Event] = []
    seen: set[str] = set()
    frontier: deque[str] = deque(failed.get("successors", []))
    while frontier:
        task_id = frontier.popleft()
        if task_id in seen:
            continue
        seen.add(task_id)
        event_id = new_ulid()
        try:
            store.update_task(
                job["jobId"],
                task_id,
                set_fields={"status": "skipped", "skippedReason": reason, "finishedAt": now_iso(),
                            "lastEventId": event_id, "lastTrigger": trigger},
                condition="#st = :p",
                values={":p": "pending"},
                add_to_job={"skippedCount": 1},
            )
            item = store.get_task(job["jobId"], task_id)
        except ConditionFailed as exc:
            item = exc.item
            if not item or item.get("status") != "skipped":
                continue
            if item.get("lastTrigger") != trigger:
                frontier.extend(item.get("successors", []))
                continue
            event_id = item["lastEventId"]
        if not item:
            continue
        announcements.append(
            _event(EventType.TASK_SKIPPED, job=job, task=item, event_id=event_id,
                   data={"reason": reason, "taskDefinition": item.get("taskDefinition")})
        )
        frontier.extend(item.get("successors", []))
    bus.publish(announcements)


def maybe_finish_job(store: EventStore, job_id: str, *, trigger: str, job: dict[str, Any] | None = None) -> None:
    """When every task is terminal, end the job exactly once. ``job``: the job as read
    (strongly) after the caller's own outcome was counted, if the caller has it."""
    job = job or store.get_job(job_id, consistent=True)
    if not job:
        return
    if job["status"] == "running":
        terminal = sum(job.get(c, 0) for c in ("completedCount", "failedCount", "skippedCount", "cancelledCount"))
        if terminal < job.get("taskCount", 0):
            return
        bad = sum(job.get(c, 0) for c in ("failedCount", "skippedCount", "cancelledCount"))
        status = "failed" if bad else "completed"
        event_id = new_ulid()
        if not store.finish_job(job_id, tenant_id=job["tenantId"], status=status, event_id=event_id,
                                trigger=trigger, now=now_iso()):
            job = store.get_job(job_id, consistent=True) or job
            if job.get("finishedBy") != trigger:
                return
        job = store.get_job(job_id, consistent=True) or job
    elif job.get("finishedBy") != trigger or job["status"] not in ("completed", "failed"):
        return
    event_type = EventType.JOB_COMPLETED if job["status"] == "completed" else EventType.JOB_FAILED
    bus.publish([_event(event_type, job=job, event_id=job["finishEventId"], data=job_summary(job))])


def job_summary(job: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": job.get("name"),
        "taskCount": job.get("taskCount", 0),
        "completed": job.get("completedCount", 0),
        "failed": job.get("failedCount", 0),
        "skipped": job.get("skippedCount", 0),
        "cancelled": job.get("cancelledCount", 0),
        "costUsd": job.get("costUsd", 0),
        **({"maxBudgetUsd": job["maxBudgetUsd"], "budgetReached": budget_reached(job)}
           if "maxBudgetUsd" in job else {}),
    }


def count_satisfied(store: EventStore, job: dict[str, Any], task_id: str, deps: Iterable[str], *, trigger: str) -> dict | None:
    """Count already-completed dependencies of a task added to a running job; returns the
    claimed item if that made it ready."""
    claimed = None
    for dep in deps:
        claimed = _count_and_claim(store, job, task_id, done=dep, trigger=trigger) or claimed
    return claimed
