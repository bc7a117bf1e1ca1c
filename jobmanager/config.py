"""Typed configuration, read from the environment once per process at call time.

The names are the seed's: the worker reads SQS_QUEUE_URL / EVENTBRIDGE_BUS_NAME, the
Lambdas and the web app read TASK_QUEUE_URL / EVENT_BUS_NAME; both spellings are accepted.
Nothing reads os.environ at import time; tests call ``get_config.cache_clear()``.
"""

from __future__ import annotations

import functools
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _env(*names: str, default: str = "") -> str:
    for name in names:
        value = os.environ.get(name)
        if value not in (None, ""):
            return value
    return default


def _int(*names: str, default: int) -> int:
    raw = _env(*names, default=str(default))
    try:
        return int(raw)
    except ValueError as exc:
        raise RuntimeError(f"{names[0]} must be an integer, got {raw!r}") from exc


def _float(name: str, *, default: float) -> float:
    raw = _env(name, default=str(default))
    try:
        return float(raw)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be a number, got {raw!r}") from exc


def _millis_as_seconds(name: str, default_seconds: float) -> float:
    """The seed gives some durations in milliseconds (CLAUDE_TIMEOUT=200000)."""
    raw = os.environ.get(name)
    if not raw:
        return default_seconds
    return int(raw) / 1000.0


@dataclass(frozen=True)
class Config:
    stage: str
    region: str
    aws_endpoint_url: str | None
    events_table: str
    task_definitions_table: str
    task_queue_url: str
    task_dlq_url: str
    event_bus_name: str
    s3_bucket: str
    tenant_id: str
    app_name: str
    event_ttl_days: int
    # worker
    max_messages: int
    wait_time_seconds: int
    visibility_extension_interval: float
    visibility_extension_amount: int
    max_message_retries: int
    claude_model: str
    claude_timeout: float
    max_concurrent_claude: int
    default_timeout: float
    delete_files_after_upload: bool
    claude_cli_path: str  # empty: the CLI bundled with claude-agent-sdk
    claude_inactivity_timeout: float  # no message from the CLI for this long: the session is stuck
    kill_grace_seconds: float  # SIGTERM → SIGKILL, when a task is cancelled or times out
    work_root: Path
    worker_id: str
    # payload limits
    inline_output_limit: int
    # dashboard
    dashboard_base_url: str
    # health check (defaults keep Config constructible without them; see jobmanager.domain.health)
    health_warning_ratio: float = 0.75
    health_critical_missed_heartbeats: float = 3
    health_heartbeat_grace_seconds: float = 10
    health_overtime_grace_seconds: float = 10
    health_check_tenants: tuple[str, ...] = ()
    # Slack alerts: off unless both are set. repr=False: the token never shows up in a log line.
    slack_bot_token: str = field(default="", repr=False)
    alert_channel: str = ""
    slack_api_base_url: str = ""
    # EventBridge target DLQ alerts: an incoming webhook. repr=False: the URL is the credential.
    slack_webhook_url: str = field(default="", repr=False)
    # The reconciler re-sends a task that has been queued (or last sent) longer ago than this.
    reconcile_after_seconds: float = 900


@functools.cache
def get_config() -> Config:
    stage = _env("STAGE", default="local")
    return Config(
        stage=stage,
        region=_env("AWS_REGION", "AWS_DEFAULT_REGION", default="eu-west-1"),
        aws_endpoint_url=_env("AWS_ENDPOINT_URL") or None,
        events_table=_env("EVENTS_TABLE", default=f"events-{stage}"),
        task_definitions_table=_env("TASK_DEFINITIONS_TABLE", default=f"task-definitions-{stage}"),
        task_queue_url=_env("TASK_QUEUE_URL", "SQS_QUEUE_URL"),
        task_dlq_url=_env("TASK_DLQ_URL"),
        event_bus_name=_env("EVENT_BUS_NAME", "EVENTBRIDGE_BUS_NAME", default=f"job-manager-{stage}"),
        s3_bucket=_env("S3_BUCKET"),
        tenant_id=_env("TENANT_ID", default="default"),
        app_name=_env("APP_NAME", default="task-workflow"),
        event_ttl_days=_int("EVENT_TTL_DAYS", default=90),
        max_messages=_int("MAX_MESSAGES", default=1),
        wait_time_seconds=_int("WAIT_TIME_SECONDS", default=20),
        visibility_extension_interval=_millis_as_seconds("VISIBILITY_EXTENSION_INTERVAL", 20.0),
        visibility_extension_amount=_int("VISIBILITY_EXTENSION_AMOUNT", default=30),
        max_message_retries=_int("MAX_MESSAGE_RETRIES", default=3),
        claude_model=_env("CLAUDE_MODEL", default="claude-sonnet-4-5"),
        claude_timeout=_millis_as_seconds("CLAUDE_TIMEOUT", 200.0),
        max_concurrent_claude=_int("MAX_CONCURRENT_CLAUDE", default=3),
        default_timeout=_millis_as_seconds("DEFAULT_TIMEOUT", 120.0),
        delete_files_after_upload=_env("DELETE_FILES_AFTER_UPLOAD", default="false").lower() == "true",
        claude_cli_path=_env("CLAUDE_CLI_PATH"),
        claude_inactivity_timeout=_millis_as_seconds("CLAUDE_INACTIVITY_TIMEOUT", 180.0),
        kill_grace_seconds=_millis_as_seconds("KILL_GRACE_PERIOD", 5.0),
        work_root=Path(_env("WORK_ROOT", default=str(BASE_DIR / ".local" / "work"))),
        worker_id=_env("WORKER_ID", default=f"{socket.gethostname()}:{os.getpid()}"),
        # Capped: an inline output rides in Task Completed, which must stay under the bus's 256 KB.
        inline_output_limit=min(_int("INLINE_OUTPUT_LIMIT", default=32 * 1024), 128 * 1024),
        dashboard_base_url=_env("DASHBOARD_BASE_URL", default="http://127.0.0.1:8000"),
        health_warning_ratio=_float("HEALTH_WARNING_RATIO", default=0.75),
        health_critical_missed_heartbeats=_float("HEALTH_CRITICAL_MISSED_HEARTBEATS", default=3),
        health_heartbeat_grace_seconds=_float("HEALTH_HEARTBEAT_GRACE_SECONDS", default=10),
        health_overtime_grace_seconds=_float("HEALTH_OVERTIME_GRACE_SECONDS", default=10),
        # The scheduled check reads each tenant's running tasks (the index is per tenant).
        health_check_tenants=tuple(t.strip() for t in _env("HEALTH_CHECK_TENANTS").split(",") if t.strip())
        or (_env("TENANT_ID", default="default"),),
        slack_bot_token=_env("SLACK_BOT_TOKEN"),
        alert_channel=_env("ALERT_CHANNEL"),
        slack_api_base_url=_env("SLACK_API_BASE_URL"),
        slack_webhook_url=_env("SLACK_WEBHOOK_URL"),
        reconcile_after_seconds=_float("RECONCILE_AFTER_MINUTES", default=15) * 60,
    )
