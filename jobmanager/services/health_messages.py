"""What a health alert says on Slack: the job, the task, its definition, the worker, the
elapsed time against the timeout, the last heartbeat, and a link to the task on the
dashboard. Pure formatting (no I/O), so the message is tested on its own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from jobmanager.aws.slack import escape
from jobmanager.domain.health import HealthLevel, short_duration

if TYPE_CHECKING:
    from .health import TaskHealth

EMOJI = {
    HealthLevel.WARNING: ":warning:",
    HealthLevel.CRITICAL: ":red_circle:",
    HealthLevel.OVERTIME: ":hourglass:",
    HealthLevel.HEALTHY: ":large_green_circle:",
}
TITLE = {
    HealthLevel.WARNING: "Warning",
    HealthLevel.CRITICAL: "Critical: worker probably gone",
    HealthLevel.OVERTIME: "Overtime: past its timeout",
    HealthLevel.HEALTHY: "Healthy",
}


def task_url(base_url: str, job_id: str, task_id: str) -> str:
    """The dashboard's task page (built here, not with Django's reverse: Lambdas don't load Django)."""
    return f"{base_url.rstrip('/')}/dashboard/jobs/{quote(job_id, safe='')}/tasks/{quote(task_id, safe='')}/"


def alert_message(health: TaskHealth, *, job_name: str, link: str) -> tuple[str, list[dict[str, Any]]]:
    """(fallback text, blocks) for one alert."""
    assessment = health.assessment
    assert assessment is not None
    level = assessment.level
    job = escape((job_name or "(unnamed job)")[:200])  # Slack caps a block's text at 3000 characters
    task = escape(health.task_id)
    elapsed = f"{short_duration(assessment.elapsed_seconds)} of {short_duration(assessment.timeout_seconds)}"
    heartbeat = f"{short_duration(assessment.seconds_since_heartbeat)} ago"
    text = (f"{EMOJI[level]} {TITLE[level]}: task {task} of job {job} (definition {escape(health.task_definition)}, "
            f"worker {escape(health.worker_id or 'unknown')}, running {elapsed}). {link}")
    fields = [
        ("Job", f"{job}\n`{escape(health.job_id)}`"),
        ("Task", f"<{link}|{task}> (attempt {health.attempt})"),
        ("Definition", f"`{escape(health.task_definition)}`"),
        ("Worker", f"`{escape(health.worker_id or 'unknown')}`"),
        ("Elapsed / timeout", elapsed),
        ("Last heartbeat", heartbeat),
    ]
    headline = f"{EMOJI[level]} *{TITLE[level]}*: task *{task}* of job *{job}*\n{escape(assessment.reason)}"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{name}*\n{value}"} for name, value in fields]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{link}|Open the task on the dashboard> · "
                                                                       f"requestId `{escape(health.request_id)}`"}]},
    ]
    return text, blocks
