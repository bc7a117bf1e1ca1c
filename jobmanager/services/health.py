"""The health check (seed: health-check + health-check-single).

``check_all`` (scheduled): read every running task through the sparse status index
(GSI5, never a scan), classify each (``jobmanager.domain.health``) and alert on each
level a task reaches — once per task attempt and level, never for a task that has
finished meanwhile:

  1. re-read the task item (consistent) and classify that, not the index's copy (the
     index lags: a heartbeat or a completion may have landed since);
  2. claim the alert with a conditional write on the task item (status still running,
     same attempt, level not yet alerted): a task that finishes between the read and the
     alert fails the condition, and so does a second checker running at the same time;
  3. post to Slack (if configured; a Slack error is recorded, never raised) and publish a
     ``Health Alert`` event that says whether Slack got it.

The claim comes before the post: at most one alert per level, even if this process dies
right after claiming (a page every five minutes is worse than a missed one, and the
dashboard's health page shows every task's current level regardless).

``snapshot`` is the same read without alerting (the dashboard, ``--no-alert``);
``check_request`` answers for one requestId through the requestId index (GSI3).
No Django here: the Lambda handlers import this module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from jobmanager.aws import bus, slack
from jobmanager.config import get_config
from jobmanager.domain.errors import NotFound
from jobmanager.domain.events import Event, EventType, Source, new_event
from jobmanager.domain.health import LEVELS_BY_SEVERITY, Assessment, HealthLevel, Thresholds, classify
from jobmanager.domain.ids import iso_from_millis, parse_iso
from jobmanager.store.events_table import EventStore, get_event_store

from .health_messages import alert_message, task_url

log = logging.getLogger(__name__)

RUNNING = "running"
Publisher = Callable[[Sequence[Event]], None]
_DEFAULT = object()  # "use the configured notifier" (None means Slack off)


@dataclass(frozen=True)
class TaskHealth:
    """One task as the health check sees it. ``assessment`` is None unless it is running."""

    tenant_id: str
    job_id: str
    task_id: str
    request_id: str
    attempt: int
    task_definition: str
    status: str
    worker_id: str | None
    started_at: str | None
    last_heartbeat_at: str | None
    assessment: Assessment | None
    alerted: tuple[str, ...] = ()  # levels already alerted for this attempt

    @property
    def level(self) -> HealthLevel | None:
        return self.assessment.level if self.assessment else None

    def to_dict(self) -> dict[str, Any]:
        a = self.assessment
        return {
            "jobId": self.job_id, "taskId": self.task_id, "requestId": self.request_id, "attempt": self.attempt,
            "taskDefinition": self.task_definition, "status": self.status, "workerId": self.worker_id,
            "startedAt": self.started_at, "lastHeartbeatAt": self.last_heartbeat_at,
            "level": str(a.level) if a else None, "reason": a.reason if a else None,
            "elapsedSeconds": round(a.elapsed_seconds, 1) if a else None,
            "timeoutSeconds": a.timeout_seconds if a else None,
            "secondsSinceHeartbeat": round(a.seconds_since_heartbeat, 1) if a else None,
            "heartbeatIntervalSeconds": a.heartbeat_interval_seconds if a else None,
            "alertedLevels": list(self.alerted),
        }


@dataclass(frozen=True)
class AlertSent:
    job_id: str
    task_id: str
    level: HealthLevel
    event_id: str
    slack: str  # slack.SENT | OFF | FAILED


@dataclass
class HealthReport:
    checked_at: datetime
    tasks: list[TaskHealth] = field(default_factory=list)
    alerts: list[AlertSent] = field(default_factory=list)

    def by_level(self) -> dict[HealthLevel, list[TaskHealth]]:
        groups: dict[HealthLevel, list[TaskHealth]] = {level: [] for level in LEVELS_BY_SEVERITY}
        for task in self.tasks:
            if task.level:
                groups[task.level].append(task)
        return groups

    def counts(self) -> dict[str, int]:
        return {str(level): len(tasks) for level, tasks in self.by_level().items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "checkedAt": _iso(self.checked_at),
            "counts": self.counts(),
            "tasks": [t.to_dict() for t in self.tasks],
            "alerts": [{"jobId": a.job_id, "taskId": a.task_id, "level": str(a.level), "eventId": a.event_id,
                        "slack": a.slack} for a in self.alerts],
        }


def thresholds() -> Thresholds:
    cfg = get_config()
    return Thresholds(
        warning_ratio=cfg.health_warning_ratio,
        critical_missed_heartbeats=cfg.health_critical_missed_heartbeats,
        heartbeat_grace_seconds=cfg.health_heartbeat_grace_seconds,
        overtime_grace_seconds=cfg.health_overtime_grace_seconds,
    )


def assess(item: dict[str, Any], *, now: datetime, limits: Thresholds | None = None) -> TaskHealth:
    """A task item → its health (classified only while it is running)."""
    cfg = get_config()
    attempt = int(item.get("attempt") or 1)
    assessment = None
    if item.get("status") == RUNNING:
        started = _time(item.get("startedAt")) or now  # no start recorded: as if it had just started
        assessment = classify(
            now=now,
            started_at=started,
            last_heartbeat_at=_time(item.get("lastHeartbeatAt")),
            # Items written before Task Started carried these fall back to the worker defaults.
            timeout_seconds=float(item.get("timeoutSeconds") or cfg.default_timeout),
            heartbeat_interval_seconds=float(item.get("heartbeatIntervalSeconds") or cfg.visibility_extension_interval),
            thresholds=limits or thresholds(),
        )
    prefix = f"{attempt}:"
    return TaskHealth(
        tenant_id=item.get("tenantId", ""), job_id=item["jobId"], task_id=item["taskId"],
        request_id=item.get("requestId", ""), attempt=attempt, task_definition=item.get("taskDefinition", ""),
        status=item.get("status", ""), worker_id=item.get("workerId"), started_at=item.get("startedAt"),
        last_heartbeat_at=item.get("lastHeartbeatAt"), assessment=assessment,
        alerted=tuple(t[len(prefix):] for t in item.get("alertedLevels") or () if t.startswith(prefix)),
    )


def snapshot(
    *, tenant_ids: Iterable[str] | None = None, now: datetime | None = None, store: EventStore | None = None
) -> HealthReport:
    """Every running task of the tenants, classified; nothing is written or sent."""
    store = store or get_event_store()
    report = HealthReport(checked_at=now or datetime.now(UTC))
    limits = thresholds()
    for tenant_id in tenant_ids or get_config().health_check_tenants:
        for item in store.active_tasks(tenant_id, RUNNING):
            # A retried task goes back to queued but can keep its index entry for a while.
            if item.get("status") == RUNNING:
                report.tasks.append(assess(item, now=report.checked_at, limits=limits))
    return report


def check_all(
    *,
    tenant_ids: Iterable[str] | None = None,
    now: datetime | None = None,
    store: EventStore | None = None,
    notifier: Any = _DEFAULT,
    publish: Publisher | None = None,
) -> HealthReport:
    """The scheduled check: classify every running task, alert once per new level."""
    store = store or get_event_store()
    report = snapshot(tenant_ids=tenant_ids, now=now, store=store)
    unhealthy = [t for t in report.tasks if t.level and t.level.alerts and str(t.level) not in t.alerted]
    if unhealthy:
        chosen: slack.SlackNotifier | None = slack.get_notifier() if notifier is _DEFAULT else notifier
        for health in unhealthy:
            try:
                sent = _alert(store, health, now=report.checked_at, notifier=chosen, publish=publish or bus.publish)
            except Exception:  # one task's trouble must not hide the others' alerts
                log.exception("health check: alerting on %s/%s failed", health.job_id, health.task_id)
                continue
            if sent:
                report.alerts.append(sent)
    log.info("health check: %d running task(s) %s; %d new alert(s)", len(report.tasks),
             {k: v for k, v in report.counts().items() if v}, len(report.alerts))
    return report


def _alert(store: EventStore, seen: TaskHealth, *, now: datetime, notifier: slack.SlackNotifier | None,
           publish: Publisher) -> AlertSent | None:
    item = store.get_task(seen.job_id, seen.task_id, consistent=True)
    if not item or item.get("status") != RUNNING or int(item.get("attempt") or 1) != seen.attempt:
        return None  # finished (or retried) since the index was read
    health = assess(item, now=now)
    level = health.level
    if level is None or not level.alerts or str(level) in health.alerted:
        return None  # a heartbeat arrived since, or this level was alerted already
    if not store.claim_health_alert(health.job_id, health.task_id, token=f"{health.attempt}:{level}",
                                    attempt=health.attempt, now=_iso(now)):
        return None  # it finished between the re-read and now, or another checker won
    job = store.get_job(health.job_id) or {}
    link = task_url(get_config().dashboard_base_url, health.job_id, health.task_id)
    if notifier is None:
        result = slack.PostResult(slack.OFF)
        log.info("health alert (Slack off): %s %s/%s", level, health.job_id, health.task_id)
    else:
        text, blocks = alert_message(health, job_name=job.get("name", ""), link=link)
        result = notifier.post(text=text, blocks=blocks)
    event = _alert_event(health, job_name=job.get("name", ""), link=link, slack_result=result, now=now)
    try:
        publish([event])
    except Exception:  # the claim stands: no repeat next run; the log says what was lost
        log.exception("health check: could not publish the %s alert for %s/%s", level, health.job_id, health.task_id)
    return AlertSent(health.job_id, health.task_id, level, event.event_id, result.status)


def _alert_event(health: TaskHealth, *, job_name: str, link: str, slack_result: slack.PostResult,
                 now: datetime) -> Event:
    a = health.assessment
    assert a is not None
    data: dict[str, Any] = {
        "level": str(a.level),
        "reason": a.reason,
        "jobName": job_name,
        "taskDefinition": health.task_definition,
        "workerId": health.worker_id,
        "elapsedSeconds": round(a.elapsed_seconds, 1),
        "timeoutSeconds": a.timeout_seconds,
        "secondsSinceHeartbeat": round(a.seconds_since_heartbeat, 1),
        "startedAt": health.started_at,
        "lastHeartbeatAt": health.last_heartbeat_at,
        "checkedAt": _iso(now),
        "link": link,
        "slack": slack_result.status,
    }
    if slack_result.error:
        data["slackError"] = slack_result.error
    return new_event(
        EventType.HEALTH_ALERT, tenant_id=health.tenant_id, app_name=get_config().app_name,
        source=Source.HEALTH_CHECK, job_id=health.job_id, task_id=health.task_id, request_id=health.request_id,
        attempt=health.attempt, data={k: v for k, v in data.items() if v is not None},
    )


def check_request(
    request_id: str, *, tenant_id: str | None = None, now: datetime | None = None, store: EventStore | None = None
) -> dict[str, Any]:
    """health-check-single: the health of the task a requestId belongs to (read-only).
    ``tenant_id`` restricts the answer to that tenant's tasks (the API passes the key's)."""
    store = store or get_event_store()
    events = [e for e in store.events_for_request(request_id, limit=100)
              if e.get("jobId") and e.get("taskId") and (tenant_id is None or e.get("tenantId") == tenant_id)]
    if not events:
        raise NotFound(f"no task with requestId {request_id}", details={"requestId": request_id})
    first = events[0]
    item = store.get_task(first["jobId"], first["taskId"], consistent=True)
    if not item:
        raise NotFound(f"no task with requestId {request_id}", details={"requestId": request_id})
    checked_at = now or datetime.now(UTC)
    current = item.get("requestId") == request_id
    health = assess(item if current else {**item, "status": "superseded"}, now=checked_at)
    last = max(events, key=lambda e: e["eventId"])
    return {
        **health.to_dict(),
        "requestId": request_id,
        "currentRequestId": item.get("requestId"),
        "checkedAt": _iso(checked_at),
        "lastEvent": {"eventType": last.get("eventType"), "timestamp": last.get("timestamp")},
    }


def recent_alerts(*, tenant_id: str, limit: int = 20, store: EventStore | None = None) -> list[dict[str, Any]]:
    """The tenant's latest Health Alert events, newest first (one index query)."""
    store = store or get_event_store()
    return store.events_of_type(tenant_id, str(EventType.HEALTH_ALERT), limit=limit).items


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return parse_iso(str(value))
    except ValueError:
        return None


def _iso(moment: datetime) -> str:
    return iso_from_millis(int(moment.timestamp() * 1000))
