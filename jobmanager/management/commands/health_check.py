"""``python manage.py health_check``: the scheduled health check, by hand."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from jobmanager.domain.errors import NotFound
from jobmanager.domain.health import short_duration
from jobmanager.services import health


class Command(BaseCommand):
    help = (
        "Check the health of running tasks. Without options: classify every running task (healthy, warning, "
        "critical, overtime), alert once per task and level (Health Alert events; Slack when SLACK_BOT_TOKEN and "
        "ALERT_CHANNEL are set), and print a table. With --request-id: report on that one task and alert nobody "
        "(the seed's health-check-single). Thresholds: HEALTH_WARNING_RATIO, HEALTH_CRITICAL_MISSED_HEARTBEATS, "
        "HEALTH_HEARTBEAT_GRACE_SECONDS, HEALTH_OVERTIME_GRACE_SECONDS; tenants: HEALTH_CHECK_TENANTS (default "
        "TENANT_ID)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--request-id", help="report on the task this requestId belongs to (read-only)")
        parser.add_argument("--no-alert", action="store_true",
                            help="classify and print only: claim no alert, post nothing, publish nothing")
        parser.add_argument("--tenant", action="append", dest="tenants",
                            help="check this tenant (repeatable; default HEALTH_CHECK_TENANTS or TENANT_ID)")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print JSON instead of a table")

    def handle(self, *args: Any, request_id: str | None, no_alert: bool, tenants: list[str] | None,
               as_json: bool, **options: Any) -> None:
        if request_id:
            try:
                found = health.check_request(request_id)
            except NotFound as exc:
                raise CommandError(exc.message) from exc
            self._print(found, as_json=as_json)
            return
        check = health.snapshot if no_alert else health.check_all
        report = check(tenant_ids=tenants or None)
        if as_json:
            self.stdout.write(_dumps(report.to_dict()))
            return
        self._table(report)

    def _print(self, found: dict[str, Any], *, as_json: bool) -> None:
        if as_json:
            self.stdout.write(_dumps(found))
            return
        for key in ("requestId", "jobId", "taskId", "taskDefinition", "status", "attempt", "workerId", "level",
                    "reason", "startedAt", "lastHeartbeatAt", "elapsedSeconds", "timeoutSeconds",
                    "secondsSinceHeartbeat", "alertedLevels", "currentRequestId", "checkedAt"):
            value = found.get(key)
            if value not in (None, "", []):
                self.stdout.write(f"{key:>22}  {value}")

    def _table(self, report: health.HealthReport) -> None:
        counts = ", ".join(f"{n} {level}" for level, n in report.counts().items())
        self.stdout.write(f"{len(report.tasks)} running task(s): {counts or 'none'}")
        if report.tasks:
            rows = [("LEVEL", "JOB", "TASK", "DEFINITION", "WORKER", "ELAPSED/TIMEOUT", "LAST HEARTBEAT", "REASON")]
            for level, tasks in report.by_level().items():
                for t in tasks:
                    a = t.assessment
                    assert a is not None
                    rows.append((str(level), t.job_id, t.task_id, t.task_definition, t.worker_id or "?",
                                 f"{short_duration(a.elapsed_seconds)}/{short_duration(a.timeout_seconds)}",
                                 f"{short_duration(a.seconds_since_heartbeat)} ago", a.reason))
            widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
            for row in rows:
                self.stdout.write("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
        for alert in report.alerts:
            self.stdout.write(f"alerted {alert.level}: {alert.job_id}/{alert.task_id} (slack: {alert.slack})")


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)
