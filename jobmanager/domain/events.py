"""Lifecycle events: the source of truth. Past-tense names, one envelope for all.

An event's id is a ULID, which also orders it in time; the event store keys events by
id, so publishing the same event twice (a retry) stores it once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from .errors import ValidationFailed
from .ids import iso_from_millis, new_ulid, ulid_millis

DETAIL_TYPE = "log-event"


class EventType(StrEnum):
    JOB_CREATED = "Job Created"
    TASKS_ADDED = "Tasks Added"
    TASK_QUEUED = "Task Queued"
    TASK_STARTED = "Task Started"
    TASK_PROGRESS = "Task Progress"
    TASK_HEARTBEAT = "Task Heartbeat"
    TASK_COMPLETED = "Task Completed"
    TASK_FAILED = "Task Failed"
    TASK_SKIPPED = "Task Skipped"
    TASK_CANCELLED = "Task Cancelled"
    JOB_COMPLETED = "Job Completed"
    JOB_FAILED = "Job Failed"
    JOB_CANCELLED = "Job Cancelled"
    HEALTH_ALERT = "Health Alert"
    TASK_DEFINITION_UPDATED = "Task Definition Updated"


class Source(StrEnum):
    API = "api"
    DISPATCHER = "dispatcher"
    WORKER = "worker"
    DLQ = "dlq"
    HEALTH_CHECK = "health-check"
    DASHBOARD = "dashboard"


@dataclass(frozen=True, kw_only=True)
class Event:
    event_id: str
    event_type: EventType
    timestamp: str
    tenant_id: str
    app_name: str
    source: str
    job_id: str | None = None
    task_id: str | None = None
    request_id: str | None = None
    attempt: int | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_detail(self) -> dict[str, Any]:
        detail: dict[str, Any] = {
            "eventId": self.event_id,
            "eventType": str(self.event_type),
            "timestamp": self.timestamp,
            "tenantId": self.tenant_id,
            "appName": self.app_name,
            "source": self.source,
        }
        for key, value in (
            ("jobId", self.job_id),
            ("taskId", self.task_id),
            ("requestId", self.request_id),
            ("attempt", self.attempt),
        ):
            if value is not None:
                detail[key] = value
        detail["data"] = self.data
        return detail

    @classmethod
    def from_detail(cls, detail: dict[str, Any]) -> Event:
        try:
            return cls(
                event_id=str(detail["eventId"]),
                event_type=EventType(detail["eventType"]),
                timestamp=str(detail["timestamp"]),
                tenant_id=str(detail["tenantId"]),
                app_name=str(detail.get("appName", "")),
                source=str(detail.get("source", "")),
                job_id=detail.get("jobId"),
                task_id=detail.get("taskId"),
                request_id=detail.get("requestId"),
                attempt=int(detail["attempt"]) if detail.get("attempt") is not None else None,
                data=dict(detail.get("data") or {}),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ValidationFailed(f"malformed event detail: {exc!r}") from exc

    def with_data(self, **updates: Any) -> Event:
        return replace(self, data={**self.data, **updates})


def new_event(
    event_type: EventType,
    *,
    tenant_id: str,
    app_name: str,
    source: str,
    job_id: str | None = None,
    task_id: str | None = None,
    request_id: str | None = None,
    attempt: int | None = None,
    data: dict[str, Any] | None = None,
    event_id: str | None = None,
) -> Event:
    """Build an event. Pass ``event_id`` to re-create one that was already announced
    (a retry re-publishes the same id, and the store keeps one copy)."""
    eid = event_id or new_ulid()
    return Event(
        event_id=eid,
        event_type=event_type,
        timestamp=iso_from_millis(ulid_millis(eid)),
        tenant_id=tenant_id,
        app_name=app_name,
        source=source,
        job_id=job_id,
        task_id=task_id,
        request_id=request_id,
        attempt=attempt,
        data=data or {},
    )
