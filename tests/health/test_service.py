"""The health check against the emulator, posting through the real slack-sdk WebClient to
a fake Slack Web API on loopback. Time moves by passing ``now``, never by sleeping."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from jobmanager.aws import bus
from jobmanager.domain.errors import NotFound
from jobmanager.domain.events import EventType
from jobmanager.domain.health import HealthLevel
from jobmanager.services import health
from jobmanager.store.events_table import EventStore, get_event_store
from tests.helpers import run_as_worker, worker_event

from .conftest import CHANNEL, TOKEN, alerts_for, start, submit


def check(tenant: str, at, **kwargs):
    return health.check_all(tenant_ids=[tenant], now=at, **kwargs)


def levels(report) -> dict[str, str | None]:
    return {t.task_id: str(t.level) for t in report.tasks}


def test_running_tasks_are_read_through_the_status_index_never_a_scan(tenant, slack_off, rule_runner):
    # Given two running tasks and one still queued
    job = submit(tenant, task_ids=("a", "b", "c"))
    for task_id in ("a", "b"):
        start(rule_runner, job["messages"][task_id])
    calls: list[tuple[str, dict]] = []
    client = get_event_store().client
    hook = lambda params, model, **_: calls.append((model.name, params))  # noqa: E731
    client.meta.events.register("provide-client-params.dynamodb", hook)
    try:
        # When the check runs
        report = health.snapshot(tenant_ids=[tenant])
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb", hook)

    # Then it found exactly the running tasks, with one query of the sparse status index
    assert sorted(levels(report)) == ["a", "b"]
    assert [name for name, _ in calls] == ["Query"]
    assert calls[0][1]["IndexName"] == "GSI5-index"


def test_each_level_is_alerted_once_on_slack_with_the_details_that_matter(tenant, slack_on, rule_runner):
    fake = slack_on
    # Given a running task (timeout 2 min, heartbeat every 20 s) whose worker then falls silent
    job = submit(tenant, name="nightly <report> & co")
    message = job["messages"]["stuck"]
    t0 = start(rule_runner, message, worker="worker-7")
    job_id = job["job"]["jobId"]

    # When the check runs again and again as time passes
    timeline = [10, 10, 40, 45, 80, 85, 200, 260, 320]
    seen = [levels(check(tenant, t0 + timedelta(seconds=s)))["stuck"] for s in timeline]

    # Then it reports each level as it comes ...
    assert seen == ["healthy", "healthy", "warning", "warning", "critical", "critical", "overtime", "overtime",
                    "overtime"]
    # ... and posts exactly one Slack message per level, with the real client, to the channel
    posted = fake.messages(mentioning=job_id)
    assert len(posted) == 3
    assert {p.token for p in posted} == {TOKEN} and {p.channel for p in posted} == {CHANNEL}
    assert [p.text.split(" ", 1)[1].split(":")[0] for p in posted] == ["Warning", "Critical", "Overtime"]
    critical, overtime = posted[1], posted[2]
    link = f"http://dash.example:8000/dashboard/jobs/{job_id}/tasks/stuck/"
    for words in (job_id, "stuck", "health-sleeper", "worker-7", link, "nightly &lt;report&gt; &amp; co"):
        assert words in critical.everything(), words
    assert "the worker is probably gone" in critical.everything()
    assert "3m 20s of 2m 00s" in overtime.text  # elapsed against the timeout
    assert "nightly <report>" not in critical.everything()  # escaped: Slack would read <...> as a link

    # And each alert is on the log as a Health Alert event, saying Slack got it
    rule_runner.drain()
    stored = alerts_for(tenant)
    assert [e["data"]["level"] for e in stored] == ["warning", "critical", "overtime"]
    assert {e["data"]["slack"] for e in stored} == {"sent"}
    assert stored[1]["data"]["workerId"] == "worker-7" and stored[1]["requestId"] == message["requestId"]
    assert stored[2]["data"]["elapsedSeconds"] == 200 and stored[2]["data"]["timeoutSeconds"] == 120


def test_no_alert_for_a_task_that_completes_between_the_read_and_the_alert(tenant, slack_on, rule_runner,
                                                                            monkeypatch):
    # Given a task that is overtime when the check reads the index
    job = submit(tenant)
    message = job["messages"]["stuck"]
    t0 = start(rule_runner, message)
    real_claim = EventStore.claim_health_alert
    raced = []

    def complete_first(self, *args, **kwargs):
        # ... and that completes right then, before the alert is claimed
        run_as_worker(message, output="done after all")
        rule_runner.drain()
        raced.append(get_event_store().get_task(message["jobId"], "stuck")["status"])
        return real_claim(self, *args, **kwargs)

    monkeypatch.setattr(EventStore, "claim_health_alert", complete_first)

    # When the check alerts
    report = check(tenant, t0 + timedelta(minutes=10))

    # Then it saw the task overtime, but the conditional claim failed: no alert anywhere
    assert levels(report) == {"stuck": "overtime"} and raced == ["completed"]
    assert report.alerts == []
    assert slack_on.messages(mentioning=message["jobId"]) == []
    rule_runner.drain()
    assert alerts_for(tenant) == []
    # And later runs don't see it at all
    assert check(tenant, t0 + timedelta(minutes=20)).tasks == []


def test_no_alert_when_the_task_finished_after_the_index_was_read(tenant, slack_on, rule_runner, monkeypatch):
    # Given the index still lists a task that has completed (GSI reads lag the table)
    job = submit(tenant)
    message = job["messages"]["stuck"]
    t0 = start(rule_runner, message)
    stale = list(get_event_store().active_tasks(tenant))
    run_as_worker(message)
    rule_runner.drain()
    monkeypatch.setattr(EventStore, "active_tasks", lambda self, tenant_id, status="running", **_: iter(stale))

    # When the check runs
    report = check(tenant, t0 + timedelta(minutes=10))

    # Then the consistent re-read sees it completed: no alert
    assert levels(report) == {"stuck": "overtime"} and report.alerts == []
    assert slack_on.messages(mentioning=message["jobId"]) == []


def test_a_heartbeat_that_arrives_after_the_index_read_cancels_the_alert(tenant, slack_on, rule_runner, monkeypatch):
    job = submit(tenant)
    message = job["messages"]["stuck"]
    t0 = start(rule_runner, message, ago=0)
    stale = list(get_event_store().active_tasks(tenant))
    monkeypatch.setattr(EventStore, "active_tasks", lambda self, tenant_id, status="running", **_: iter(stale))
    # The worker is alive after all: a heartbeat lands "now" (t0 + 80 s by the check's clock)
    heartbeat_at = (t0 + timedelta(seconds=80)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    get_event_store().update_task(message["jobId"], "stuck", set_fields={"lastHeartbeatAt": heartbeat_at},
                                  condition="#st = :r", values={":r": "running"})

    report = check(tenant, t0 + timedelta(seconds=80))

    assert levels(report) == {"stuck": "critical"}  # what the index said
    assert report.alerts == [] and slack_on.messages(mentioning=message["jobId"]) == []


def test_without_slack_alerts_are_recorded_and_the_log_says_slack_is_off(tenant, slack_off, rule_runner, caplog,
                                                                         monkeypatch):
    monkeypatch.setattr("jobmanager.aws.slack._told_off", False)
    job = submit(tenant)
    t0 = start(rule_runner, job["messages"]["stuck"])

    with caplog.at_level(logging.INFO):
        first = check(tenant, t0 + timedelta(minutes=5))
        again = check(tenant, t0 + timedelta(minutes=6))

    assert [(str(a.level), a.slack) for a in first.alerts] == [("overtime", "off")]
    assert again.alerts == []
    assert "Slack is off (SLACK_BOT_TOKEN and ALERT_CHANNEL not set)" in caplog.text
    rule_runner.drain()
    assert [(e["data"]["level"], e["data"]["slack"]) for e in alerts_for(tenant)] == [("overtime", "off")]


@pytest.mark.parametrize(("error", "status", "recorded"), [
    ("channel_not_found", 200, "slack error: channel_not_found"),
    ("", 500, "slack error: HTTP 500"),
])
def test_a_slack_error_never_breaks_the_check(tenant, slack_on, rule_runner, caplog, error, status, recorded):
    # Given Slack answering with an error, and two stuck tasks
    slack_on.fail_with(error, status=status)
    job = submit(tenant, task_ids=("one", "two"))
    t0 = start(rule_runner, job["messages"]["one"])
    start(rule_runner, job["messages"]["two"])

    # When the check runs
    with caplog.at_level(logging.INFO):
        report = check(tenant, t0 + timedelta(minutes=5))

    # Then both alerts are claimed and recorded as failed on Slack; nothing raised, no token logged
    assert sorted((a.task_id, a.slack) for a in report.alerts) == [("one", "failed"), ("two", "failed")]
    assert len(slack_on.messages(mentioning=job["job"]["jobId"])) == 2
    assert TOKEN not in caplog.text
    rule_runner.drain()
    stored = alerts_for(tenant)
    assert {e["data"]["slack"] for e in stored} == {"failed"}
    assert all(recorded in e["data"]["slackError"] for e in stored)
    # And once Slack is back, the same levels are not posted again
    slack_on.recover()
    assert check(tenant, t0 + timedelta(minutes=10)).alerts == []


def test_a_new_attempt_is_watched_afresh(tenant, slack_on, rule_runner):
    # Given attempt 1 went critical and was alerted
    job = submit(tenant)
    message = job["messages"]["stuck"]
    t0 = start(rule_runner, message)
    assert [str(a.level) for a in check(tenant, t0 + timedelta(seconds=100)).alerts] == ["critical"]

    # When it fails (retryable) and attempt 2 starts on another worker
    bus.publish([worker_event(EventType.TASK_FAILED, message, willRetry=True,
                              error={"message": "worker lost", "kind": "crash", "retryable": True})])
    rule_runner.drain()
    t1 = start(rule_runner, message, attempt=2, worker="worker-8")

    # Then attempt 2 is healthy at first, and alerts again once it goes critical itself
    assert levels(check(tenant, t1 + timedelta(seconds=5))) == {"stuck": "healthy"}
    again = check(tenant, t1 + timedelta(seconds=100))
    assert [(str(a.level), a.task_id) for a in again.alerts] == [("critical", "stuck")]
    assert "worker-8" in slack_on.messages(mentioning=message["jobId"])[-1].everything()


def test_a_healthy_task_alerts_nobody(tenant, slack_on, rule_runner):
    job = submit(tenant)
    t0 = start(rule_runner, job["messages"]["stuck"])
    report = check(tenant, t0 + timedelta(seconds=15))
    assert levels(report) == {"stuck": "healthy"} and report.alerts == [] and slack_on.posted == []


def test_check_request_answers_for_one_request_id(tenant, rule_runner):
    # Given a running task
    job = submit(tenant)
    message = job["messages"]["stuck"]
    t0 = start(rule_runner, message, worker="worker-9")

    # When asked by its requestId, later
    found = health.check_request(message["requestId"], now=t0 + timedelta(seconds=100))

    # Then the answer names the task, its level and why
    assert found["jobId"] == message["jobId"] and found["taskId"] == "stuck"
    assert (found["status"], found["level"], found["workerId"]) == ("running", "critical", "worker-9")
    assert found["elapsedSeconds"] == 100 and found["timeoutSeconds"] == 120
    assert "the worker is probably gone" in found["reason"]
    # And it is read-only: nothing claimed
    assert "alertedLevels" not in get_event_store().get_task(message["jobId"], "stuck")

    # Once it completed, it says so (and has no level)
    run_as_worker(message)
    rule_runner.drain()
    done = health.check_request(message["requestId"])
    assert (done["status"], done["level"]) == ("completed", None)
    assert done["lastEvent"]["eventType"] == "Task Completed"


def test_check_request_unknown_or_another_tenants_is_not_found(tenant, rule_runner):
    job = submit(tenant)
    message = job["messages"]["stuck"]
    start(rule_runner, message)
    with pytest.raises(NotFound, match="no task with requestId nope"):
        health.check_request("nope")
    with pytest.raises(NotFound):
        health.check_request(message["requestId"], tenant_id="someone-else")
    assert health.check_request(message["requestId"], tenant_id=tenant)["level"] == str(HealthLevel.HEALTHY)
