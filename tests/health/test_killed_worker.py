"""A worker killed mid-task (SIGKILL: no Task Failed, no more heartbeats), with the real
worker process, the real handlers and the real Slack client against the fake Web API.

The check then reports the task ``critical`` (silent for several heartbeat intervals) and
later ``overtime``, with exactly one alert per level however often it runs. Time moves by
passing ``now`` to the check. What takes over is SQS: the dead worker stops extending the
message's visibility, so the next worker receives it as attempt 2 and finishes it, and
the task leaves the health check's view. (Had no worker taken it for RECONCILE_AFTER_MINUTES,
the reconciler would have sent attempt 2 itself: whichever copy a worker takes first runs.)"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest

from consumer.processes import alive
from jobmanager.domain.ids import parse_iso
from jobmanager.domain.model import TaskSpec
from jobmanager.services import health, jobs, task_definitions
from jobmanager.services.reconcile import reconcile
from jobmanager.store.events_table import get_event_store
from tests.consumer.harness import WorkerProcess
from tests.helpers import take_task_messages

from .conftest import alerts_for

DEF = "health-sleep-once"
# Attempt 1 sleeps "forever" (it will be orphaned by its dead worker); a later attempt finishes at once.
SLEEP_ONCE = [
    "python", "-c",
    "import os, sys, time, pathlib; pathlib.Path(sys.argv[1]).write_text(str(os.getpid()));"
    "time.sleep(300 if os.environ['ATTEMPT'] == '1' else 0); print('finished on attempt', os.environ['ATTEMPT'])",
    "{input.pidfile}",
]


def worker_env(worker_id: str) -> dict[str, str]:
    # Heartbeat every second and extend the message's visibility by 3 s: once the worker is
    # gone, its message is visible again within 3 s (production: 20 s / 30 s).
    return {**os.environ, "WORKER_ID": worker_id, "VISIBILITY_EXTENSION_INTERVAL": "1000",
            "VISIBILITY_EXTENSION_AMOUNT": "3", "PYTHONUNBUFFERED": "1"}


def wait_until(predicate, *, timeout: float, what: str, poll=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if poll:
            poll()
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def orphans():
    """Process groups the killed worker left behind (its task's child): killed at the end."""
    pidfiles: list[Path] = []
    yield pidfiles
    for pidfile in pidfiles:
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
            os.killpg(os.getpgid(int(pidfile.read_text())), signal.SIGKILL)


def test_killed_worker_goes_critical_then_overtime_with_one_alert_each(tenant, slack_on, rule_runner, tmp_path,
                                                                      orphans):
    # Given a running command task on a real worker
    task_definitions.put_task_definition(tenant_id=tenant, name=DEF,
                                         body={"kind": "command", "command": SLEEP_ONCE, "timeoutSeconds": 120})
    take_task_messages()  # other suites' leftovers would be run by our worker
    pidfile = tmp_path / "task.pid"
    orphans.append(pidfile)
    job = jobs.create_job(tenant_id=tenant, name="killed-worker",
                          tasks=[TaskSpec("sleepy", DEF, {"pidfile": str(pidfile)})])
    job_id = job["jobId"]
    store = get_event_store()
    doomed = WorkerProcess(worker_env("doomed-worker"), "--concurrency", "1", "--wait-seconds", "1")
    try:
        doomed.wait_for_line("task started", timeout=60)
        wait_until(lambda: _heartbeat_after_start(store.get_task(job_id, "sleepy")), timeout=30,
                   what="a heartbeat to be persisted", poll=rule_runner.drain)
        wait_until(lambda: pidfile.exists() and pidfile.read_text(), timeout=30, what="the task's command to start")

        # When the worker is killed (no goodbye: no Task Failed, no more heartbeats)
        doomed.process.send_signal(signal.SIGKILL)
        doomed.process.wait(10)
        # ... its task's process ends with it (consumer/child.py), as it would with the host
        wait_until(lambda: not alive(int(pidfile.read_text())), timeout=15, what="the task's process to end")
    finally:
        if doomed.process.poll() is None:
            doomed.process.kill()
    rule_runner.drain()  # heartbeats still on their way
    item = store.get_task(job_id, "sleepy")
    assert (item["status"], item["workerId"], item["attempt"]) == ("running", "doomed-worker", 1)
    assert (item["timeoutSeconds"], item["heartbeatIntervalSeconds"]) == (120, 1)
    started, last_beat = parse_iso(item["startedAt"]), parse_iso(item["lastHeartbeatAt"])

    # Then, as the silence grows, the check says critical, then overtime (past the 2-minute timeout)
    def check(at):
        report = health.check_all(tenant_ids=[tenant], now=at)
        return [str(t.level) for t in report.tasks], [str(a.level) for a in report.alerts]

    assert check(last_beat + timedelta(seconds=5)) == (["healthy"], [])
    assert check(last_beat + timedelta(seconds=30)) == (["critical"], ["critical"])
    assert check(last_beat + timedelta(seconds=45)) == (["critical"], [])
    assert check(started + timedelta(seconds=200)) == (["overtime"], ["overtime"])
    assert check(started + timedelta(seconds=260)) == (["overtime"], [])
    assert check(started + timedelta(seconds=900)) == (["overtime"], [])

    # The reconciler leaves a silent running task to SQS for RECONCILE_AFTER_MINUTES; past
    # that (no worker took the message back) it sends the next attempt itself
    assert reconcile(tenant_ids=[tenant], now=last_beat + timedelta(minutes=10))["resumed"] == []
    assert reconcile(tenant_ids=[tenant], now=last_beat + timedelta(minutes=16))["resumed"] == [f"{job_id}/sleepy"]

    # ... with exactly one Slack message per level, naming the dead worker
    posted = slack_on.messages(mentioning=job_id)
    assert [p.text.split(" ", 1)[1].split(":")[0] for p in posted] == ["Critical", "Overtime"]
    assert all("doomed-worker" in p.everything() and "killed-worker" in p.everything() for p in posted)

    # When the message comes back (its visibility lapsed) and another worker takes over
    rescue = WorkerProcess(worker_env("rescue-worker"), "--concurrency", "1", "--wait-seconds", "1")
    try:
        rescue.wait_for_line("task completed", timeout=60)
    finally:
        rescue.process.send_signal(signal.SIGTERM)
        rescue.wait(30)
    rule_runner.drain()

    # Then attempt 2 (one of its two copies) completed the task and the job, and the check has nothing more to say
    item = store.get_task(job_id, "sleepy")
    assert (item["status"], item["attempt"], item["workerId"]) == ("completed", 2, "rescue-worker")
    completions = [e for e in store.job_events(job_id).items if e["eventType"] == "Task Completed"]
    assert len(completions) == 1
    assert store.get_job(job_id)["status"] == "completed"
    assert check(started + timedelta(hours=1)) == ([], [])
    assert len(slack_on.messages(mentioning=job_id)) == 2
    assert [(e["data"]["level"], e["attempt"]) for e in alerts_for(tenant)] == [("critical", 1), ("overtime", 1)]


def _heartbeat_after_start(item: dict | None) -> dict | None:
    if item and item.get("status") == "running" and item.get("lastHeartbeatAt", "") > item.get("startedAt", ""):
        return item
    return None
