"""The health check (seed: health-check, scheduled; health-check-single, invoked by hand).

``handler``: production runs it every 5 minutes (zappa_settings.json ``events``, prod only;
dev has no schedule, as in the seed); locally ``run_local`` runs the same check every
minute. ``check_single``: ``{"requestId": "..."}`` → that task's health, read-only."""

from __future__ import annotations

from typing import Any

from jobmanager.services import health


def handler(payload: dict[str, Any] | None = None, context: Any = None) -> dict[str, Any]:
    report = health.check_all()
    return {
        "checkedAt": report.to_dict()["checkedAt"],
        "running": len(report.tasks),
        "counts": report.counts(),
        "alerts": [{"jobId": a.job_id, "taskId": a.task_id, "level": str(a.level), "slack": a.slack}
                   for a in report.alerts],
    }


def check_single(payload: dict[str, Any], context: Any = None) -> dict[str, Any]:
    request_id = (payload or {}).get("requestId")
    if not request_id or not isinstance(request_id, str):
        raise ValueError('check_single needs {"requestId": "<the task\'s requestId>"}')
    return health.check_request(request_id)
