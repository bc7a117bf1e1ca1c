"""Cancelling a job over the API, with a real worker running one of its tasks: the running
task's whole process group is killed by its worker (which sees the S3 cancel marker on a
heartbeat) and announced ``Task Cancelled``; queued and pending tasks are cancelled by the
sweep, and a queued task's message is dropped unrun; the job ends ``cancelled`` once;
nothing that arrives later moves it."""

from __future__ import annotations

import signal

import pytest

from jobmanager.aws import bus
from jobmanager.domain.events import EventType
from jobmanager.services import task_definitions
from jobmanager.store.events_table import get_event_store
from tests.helpers import worker_event

from .harness import (NOOP, SLEEP, job_status, of_type, pid_alive, sequence, settled_log, stop_when_job, task_status,
                      wait_until)

pytestmark = pytest.mark.django_db(transaction=True)


def test_cancel_kills_the_running_task_cancels_the_rest_and_ends_the_job_once(
        tenant, api, make_queue, runner, workers, orphans, tmp_path):
    # Given a job whose first root runs (a sleeping command) on a one-slot worker, whose
    # second root waits in the queue, and whose join waits on both
    queue_url = make_queue()
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-sleep", body={"kind": "command", "command": SLEEP})
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-noop", body={"kind": "command", "command": NOOP})
    pidfile = tmp_path / "running.pid"
    orphans.append(pidfile)
    worker = workers(queue_url, VISIBILITY_EXTENSION_INTERVAL="500")  # a heartbeat (and marker check) every 0.5 s
    status, job = api.call("POST", "/jobs", {"name": "to cancel", "tasks": [
        {"taskId": "running", "taskDefinition": "rel-sleep", "input": {"pidfile": str(pidfile)}},
        {"taskId": "waiting", "taskDefinition": "rel-sleep", "input": {"pidfile": str(tmp_path / "never.pid")}},
        {"taskId": "join", "taskDefinition": "rel-noop", "dependsOn": ["running", "waiting"]},
    ]})
    assert status == 201, job
    job_id = job["jobId"]
    wait_until(lambda: pidfile.exists() and task_status(job_id, "running") == "running", timeout=30,
               what="the first task to run")
    pid = int(pidfile.read_text())
    started = [t for t in ("running", "waiting") if task_status(job_id, t) == "running"]
    assert started == ["running"], "the one-slot worker runs exactly one root"

    # When the job is cancelled over the API
    status, body = api.call("POST", f"/jobs/{job_id}/cancel")

    # Then the answer says what was cancelled and what is being stopped
    assert status == 202, body
    assert body["status"] == "cancelled" and body["stopping"] == ["running"]
    assert sorted(body["cancelled"]) == ["join", "waiting"]
    # ... the running task's process group is killed and the worker announces it
    wait_until(lambda: task_status(job_id, "running") == "cancelled", timeout=30, what="the running task to stop")
    wait_until(lambda: not pid_alive(pid), timeout=10, what="the task's process to be gone")
    # ... and the queued task's message reaches the worker, which drops it unrun
    worker.wait_for_line("not started, message deleted", timeout=30)
    worker.process.send_signal(signal.SIGTERM)
    assert worker.wait() == 0

    events = settled_log(runner, job_id)
    assert sequence(events, "running") == ["Task Queued", "Task Started", "Task Cancelled"]
    (stopped,) = of_type(events, "Task Cancelled", "running")
    assert stopped["source"] == "worker" and stopped["data"]["reason"] == "job cancelled"
    assert sequence(events, "waiting") == ["Task Queued", "Task Cancelled"]
    assert sequence(events, "join") == ["Task Cancelled"]
    assert sequence(events) == ["Job Created", "Job Cancelled"]
    job_item = get_event_store().get_job(job_id, consistent=True)
    assert (job_item["status"], job_item["cancelledCount"], job_item.get("completedCount")) == ("cancelled", 3, 0)

    # And cancelling again repeats nothing
    status, again = api.call("POST", f"/jobs/{job_id}/cancel")
    assert status == 200 and again["alreadyCancelled"] is True
    runner.drain()
    assert len(settled_log(runner, job_id)) == len(events)

    # And a late completion of the stopped task (a worker that missed the marker) changes nothing
    running = get_event_store().get_task(job_id, "running")
    late = {"jobId": job_id, "taskId": "running", "tenantId": tenant, "requestId": running["requestId"],
            "attempt": 1, "taskDefinition": "rel-sleep"}
    bus.publish([worker_event(EventType.TASK_COMPLETED, late, output="too late")])
    runner.drain()
    after = settled_log(runner, job_id)
    assert [e["eventType"] for e in after[len(events):]] == ["Task Completed"]  # logged, and ignored
    assert {t: task_status(job_id, t) for t in ("running", "waiting", "join")} == dict.fromkeys(
        ("running", "waiting", "join"), "cancelled")
    assert get_event_store().get_job(job_id, consistent=True) == job_item

    # And a task of a cancelled job can't be retried
    status, refused = api.call("POST", f"/jobs/{job_id}/tasks/running/retry")
    assert status == 409 and "cancelled" in refused["message"]


def test_cancel_refuses_a_finished_job_and_an_unknown_one(tenant, api, make_queue, runner, workers):
    # Given a job that completed
    queue_url = make_queue()
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-noop", body={"kind": "command", "command": NOOP})
    status, job = api.call("POST", "/jobs", {"name": "quick", "tasks": [{"taskId": "a", "taskDefinition": "rel-noop"}]})
    assert status == 201
    stop_when_job(workers(queue_url), job["jobId"], "completed")

    # When it is cancelled, then the API refuses, saying why, and nothing is written
    status, body = api.call("POST", f"/jobs/{job['jobId']}/cancel")
    assert status == 409 and body["message"] == (
        f"job {job['jobId']} is completed; only a running job can be cancelled")
    assert sequence(settled_log(runner, job["jobId"])) == ["Job Created", "Job Completed"]
    assert api.call("POST", "/jobs/01NOSUCHJOB0000000000000000/cancel")[0] == 404
