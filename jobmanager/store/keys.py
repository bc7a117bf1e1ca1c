"""Every key string of the events table, in one place.

Item types under one partition per job (``PK = JOB#<jobId>``):

    SK = JOB            the job summary (projection)
    SK = TASK#<taskId>  one state item per task, with its dependency counter (projection)
    SK = EVT#<eventId>  an event (the log; the ULID makes the sort key time-ordered)

Events without a job (task-definition changes) live under ``TENANT#<t>#EVENTS``.
Idempotency keys: ``PK = IDEM#<tenant>#<key>``, ``SK = IDEM``.
API throttle counters: ``PK = THROTTLE#<apiKeyId>#<window>#<start>``, ``SK = THROTTLE`` (with ``ttl``).

The seven GSIs (each ``GSI<n>PK``/``GSI<n>SK``):

    GSI1  jobs of a tenant, newest first           job items
    GSI2  one task's history                        task events
    GSI3  lookup by requestId                       events carrying a requestId
    GSI4  events by type and time window            all events
    GSI5  by status: jobs; active tasks (sparse)    job items, queued/running task items
    GSI6  usage by task definition                  task events naming a definition
    GSI7  by worker                                 events naming a workerId
"""

from __future__ import annotations

from typing import Any

JOB_SK = "JOB"
IDEM_SK = "IDEM"

INDEX_NAMES = {n: f"GSI{n}-index" for n in range(1, 8)}
TENANT_JOBS_INDEX = INDEX_NAMES[1]
TASK_HISTORY_INDEX = INDEX_NAMES[2]
REQUEST_INDEX = INDEX_NAMES[3]
EVENT_TYPE_INDEX = INDEX_NAMES[4]
STATUS_INDEX = INDEX_NAMES[5]
DEFINITION_INDEX = INDEX_NAMES[6]
WORKER_INDEX = INDEX_NAMES[7]


def job_pk(job_id: str) -> str:
    return f"JOB#{job_id}"


def task_sk(task_id: str) -> str:
    return f"TASK#{task_id}"


def event_sk(event_id: str) -> str:
    return f"EVT#{event_id}"


TASK_SK_PREFIX = "TASK#"
EVENT_SK_PREFIX = "EVT#"


def tenant_events_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}#EVENTS"


def idempotency_key(tenant_id: str, key: str) -> dict[str, str]:
    return {"PK": f"IDEM#{tenant_id}#{key}", "SK": IDEM_SK}


THROTTLE_SK = "THROTTLE"


def throttle_key(api_key_id: str, window: str, window_start: int) -> dict[str, str]:
    """One fixed-window request counter of an API key (``window`` names the limit, e.g.
    ``burst`` or ``day``; ``window_start`` is the window's start in epoch milliseconds)."""
    return {"PK": f"THROTTLE#{api_key_id}#{window}#{window_start}", "SK": THROTTLE_SK}


def job_key(job_id: str) -> dict[str, str]:
    return {"PK": job_pk(job_id), "SK": JOB_SK}


def task_key(job_id: str, task_id: str) -> dict[str, str]:
    return {"PK": job_pk(job_id), "SK": task_sk(task_id)}


def tenant_jobs_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}#JOBS"


def job_status_pk(tenant_id: str, status: str) -> str:
    return f"TENANT#{tenant_id}#JOBSTATUS#{status}"


def task_status_pk(tenant_id: str, status: str) -> str:
    return f"TENANT#{tenant_id}#TASKSTATUS#{status}"


def job_sort(created_at: str, job_id: str) -> str:
    return f"{created_at}#{job_id}"


def job_index_keys(*, tenant_id: str, job_id: str, created_at: str, status: str) -> dict[str, str]:
    sort = job_sort(created_at, job_id)
    return {
        "GSI1PK": tenant_jobs_pk(tenant_id),
        "GSI1SK": sort,
        "GSI5PK": job_status_pk(tenant_id, status),
        "GSI5SK": sort,
    }


def task_status_keys(*, tenant_id: str, job_id: str, task_id: str, status: str, since: str) -> dict[str, str]:
    """Only active tasks are in GSI5 (a sparse index): the health check and the
    reconciler read what is queued or running, not every task ever run."""
    return {"GSI5PK": task_status_pk(tenant_id, status), "GSI5SK": f"{since}#{job_id}#{task_id}"}


def task_history_pk(job_id: str, task_id: str) -> str:
    return f"TASK#{job_id}#{task_id}"


def request_pk(request_id: str) -> str:
    return f"REQ#{request_id}"


def event_type_pk(tenant_id: str, event_type: str) -> str:
    return f"TYPE#{tenant_id}#{event_type}"


def definition_pk(name: str) -> str:
    return f"DEF#{name}"


def worker_pk(worker_id: str) -> str:
    return f"WORKER#{worker_id}"


def event_item_keys(detail: dict[str, Any]) -> dict[str, str]:
    """Primary and index keys of an event item, from its detail (camelCase)."""
    event_id = detail["eventId"]
    tenant = detail["tenantId"]
    when = f"{detail['timestamp']}#{event_id}"
    job_id = detail.get("jobId")
    keys = {
        "PK": job_pk(job_id) if job_id else tenant_events_pk(tenant),
        "SK": event_sk(event_id),
        "GSI4PK": event_type_pk(tenant, detail["eventType"]),
        "GSI4SK": when,
    }
    if job_id and detail.get("taskId"):
        keys["GSI2PK"] = task_history_pk(job_id, detail["taskId"])
        keys["GSI2SK"] = event_id
    if detail.get("requestId"):
        keys["GSI3PK"] = request_pk(detail["requestId"])
        keys["GSI3SK"] = event_id
    data = detail.get("data") or {}
    if detail.get("taskId") and data.get("taskDefinition"):
        keys["GSI6PK"] = definition_pk(data["taskDefinition"])
        keys["GSI6SK"] = when
    if data.get("workerId"):
        keys["GSI7PK"] = worker_pk(data["workerId"])
        keys["GSI7SK"] = when
    return keys
