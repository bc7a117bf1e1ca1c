"""The health page: running tasks grouped by level (overtime, critical, warning, healthy)
with elapsed time against the timeout and the last heartbeat, and the latest alerts.

It classifies live (``health.snapshot``: read-only, nothing is claimed or posted), so it
shows the current level even between two scheduled checks. The live block polls itself
every 5 s, as an htmx partial."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from jobmanager.domain.ids import iso_from_millis
from jobmanager.domain.redaction import redact
from jobmanager.services import health as health_service

from .views import _render, _tenant

RECENT_ALERTS = 20


def _task_link(job_id: str | None, task_id: str | None) -> str | None:
    return reverse("dashboard:task", args=[job_id, task_id]) if job_id and task_id else None


def task_row(task: health_service.TaskHealth) -> dict[str, Any]:
    a = task.assessment
    assert a is not None
    return {
        **task.to_dict(),
        "url": _task_link(task.job_id, task.task_id),
        "job_url": reverse("dashboard:job", args=[task.job_id]),
        "elapsed": a.elapsed_seconds,
        "timeout": a.timeout_seconds,
        "percent": min(100, round(100 * a.timeout_ratio)),
        "since_heartbeat": a.seconds_since_heartbeat,
        "reason": redact(a.reason),
    }


def alert_row(event: dict[str, Any]) -> dict[str, Any]:
    data = event.get("data") or {}
    return {
        "eventId": event.get("eventId"),
        "timestamp": event.get("timestamp"),
        "level": data.get("level", "unknown"),
        "reason": redact(str(data.get("reason") or "")),
        "jobId": event.get("jobId"),
        "jobName": data.get("jobName") or "",
        "taskId": event.get("taskId"),
        "attempt": event.get("attempt"),
        "workerId": data.get("workerId"),
        "slack": data.get("slack", ""),
        "slackError": redact(str(data.get("slackError") or "")),
        "url": _task_link(event.get("jobId"), event.get("taskId")),
    }


def health(request: HttpRequest) -> HttpResponse:
    now = datetime.now(UTC)
    report = health_service.snapshot(tenant_ids=[_tenant()], now=now)
    groups = [{"level": str(level), "tasks": [task_row(t) for t in tasks]}
              for level, tasks in report.by_level().items()]
    alerts = health_service.recent_alerts(tenant_id=_tenant(), limit=RECENT_ALERTS)
    context = {
        "tenant": _tenant(),
        "checked_at": iso_from_millis(int(now.timestamp() * 1000)),
        "running": len(report.tasks),
        "groups": groups,
        "alerts": [alert_row(e) for e in alerts],
    }
    return _render(request, "dashboard/health.html", context, partials=("health-live",))
