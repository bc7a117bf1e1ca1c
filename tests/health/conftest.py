"""Health-check fixtures: a fake Slack Web API on loopback (driven by the real slack-sdk
client), Slack settings pointing at it, a tenant of each test's own (the running-task
index is per tenant, so other suites' leftovers stay out of the way), and a way to put a
task in the running state as a worker would."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jobmanager.aws import bus
from jobmanager.config import get_config
from jobmanager.domain.events import EventType, Source, new_event
from jobmanager.domain.ids import _ALPHABET, parse_iso
from jobmanager.domain.model import TaskSpec
from jobmanager.services import jobs, task_definitions
from jobmanager.store.events_table import get_event_store
from tests.fakes.slack_api import FakeSlack
from tests.helpers import set_env, take_task_messages

DEF = "health-sleeper"
TOKEN = "xoxb-health-tests-0000000000-not-a-real-token"
CHANNEL = "#ops-alerts"


def ulid_at(ms: int) -> str:
    """An event id stamped ``ms`` (new_ulid keeps ids monotonic per process: it won't go back in time)."""
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(26)))


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    yield server
    server.stop()


@pytest.fixture
def slack_on(aws_stack, fake_slack) -> Iterator[FakeSlack]:
    """SLACK_BOT_TOKEN + ALERT_CHANNEL set, the Web API at the fake."""
    before = set_env({"SLACK_BOT_TOKEN": TOKEN, "ALERT_CHANNEL": CHANNEL, "SLACK_API_BASE_URL": fake_slack.url,
                      "DASHBOARD_BASE_URL": "http://dash.example:8000"})
    yield fake_slack
    set_env(before)


@pytest.fixture
def slack_off(aws_stack) -> Iterator[None]:
    before = set_env({"SLACK_BOT_TOKEN": None, "ALERT_CHANNEL": None, "SLACK_API_BASE_URL": None})
    yield
    set_env(before)


@pytest.fixture
def tenant(aws_stack) -> str:
    task_definitions.put_task_definition(
        tenant_id="test-tenant", name=DEF, body={"kind": "command", "command": ["sleep", "600"], "timeoutSeconds": 120}
    )
    return f"health-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def checked_tenant(tenant) -> Iterator[str]:
    """The test's tenant as the configured one: what the scheduled check and the dashboard look at."""
    before = set_env({"HEALTH_CHECK_TENANTS": tenant, "TENANT_ID": tenant})
    yield tenant
    set_env(before)


def submit(tenant_id: str, *, name: str = "nightly-report", task_ids: tuple[str, ...] = ("stuck",)) -> dict[str, Any]:
    """A job of independent tasks (all queued at once); returns their task messages by task id."""
    job = jobs.create_job(tenant_id=tenant_id, name=name, tasks=[TaskSpec(t, DEF, {}) for t in task_ids])
    messages = {m["taskId"]: m for m in take_task_messages() if m["jobId"] == job["jobId"]}
    assert set(messages) == set(task_ids)
    return {"job": job, "messages": messages}


def start(rule_runner, message: dict[str, Any], *, timeout: float = 120, interval: float = 20,
          ago: float = 0, worker: str = "worker-7", attempt: int | None = None) -> datetime:
    """Publish the Task Started a worker would (``ago`` seconds in the past) and persist it.
    Returns the start time the task item records."""
    started_ms = int((datetime.now(UTC) - timedelta(seconds=ago)).timestamp() * 1000)
    event = new_event(
        EventType.TASK_STARTED, tenant_id=message["tenantId"], app_name=get_config().app_name, source=Source.WORKER,
        job_id=message["jobId"], task_id=message["taskId"], request_id=message["requestId"],
        attempt=attempt or message["attempt"], event_id=ulid_at(started_ms),
        data={"taskDefinition": message["taskDefinition"], "workerId": worker, "kind": "command",
              "timeoutSeconds": timeout, "heartbeatIntervalSeconds": interval},
    )
    bus.publish([event])
    rule_runner.drain()
    item = get_event_store().get_task(message["jobId"], message["taskId"])
    assert item["status"] == "running", item
    return parse_iso(item["startedAt"])


def alerts_for(tenant_id: str) -> list[dict[str, Any]]:
    """Health Alert events stored for the tenant, oldest first."""
    from jobmanager.services import health

    return list(reversed(health.recent_alerts(tenant_id=tenant_id, limit=100)))
