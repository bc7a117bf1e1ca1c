"""Retrying a failed task over the API, with a real worker: the task runs again as attempt
2 under a new requestId, the tasks skipped because of it go back to pending and run, and
the failed job runs again and completes — each end announced once."""

from __future__ import annotations

import signal

import pytest

from jobmanager.services import task_definitions
from jobmanager.store.events_table import get_event_store

from .harness import NOOP, settled_log, job_status, of_type, sequence, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

# Fails for good (exit 3) until the flag file exists.
FLAKY = ["python", "-c", "import sys, pathlib; sys.exit(0 if pathlib.Path(sys.argv[1]).exists() else 3)",
         "{input.flag}"]


def test_retrying_a_failed_task_reruns_it_and_its_skipped_descendants_and_completes_the_job(
        tenant, api, make_queue, runner, workers, tmp_path):
    # Given a job a → b → (c, d) → e where b fails for good, so the job failed
    queue_url = make_queue()
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-flaky", body={"kind": "command", "command": FLAKY})
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-noop", body={"kind": "command", "command": NOOP})
    flag = tmp_path / "fixed"
    worker = workers(queue_url)
    status, job = api.call("POST", "/jobs", {"name": "retry", "tasks": [
        {"taskId": "a", "taskDefinition": "rel-noop"},
        {"taskId": "b", "taskDefinition": "rel-flaky", "input": {"flag": str(flag)}, "dependsOn": ["a"]},
        {"taskId": "c", "taskDefinition": "rel-noop", "dependsOn": ["b"]},
        {"taskId": "d", "taskDefinition": "rel-noop", "dependsOn": ["b", "a"]},
        {"taskId": "e", "taskDefinition": "rel-noop", "dependsOn": ["c", "d"]},
    ]})
    assert status == 201, job
    job_id = job["jobId"]
    wait_until(lambda: job_status(job_id) == "failed", timeout=60, what="the job to fail")
    failed_request = get_event_store().get_task(job_id, "b")["requestId"]

    # When the cause is fixed and b is retried over the API
    flag.touch()
    status, body = api.call("POST", f"/jobs/{job_id}/tasks/b/retry")

    # Then b is queued again as attempt 2, its skipped descendants are reset, the job runs
    assert status == 202, body
    assert (body["taskStatus"], body["attempt"], body["status"]) == ("queued", 2, "running")
    assert body["reset"] == ["c", "d", "e"] and body["requestId"] != failed_request
    # ... and everything downstream runs and the job completes
    wait_until(lambda: job_status(job_id) == "completed", timeout=60, what="the job to complete")
    worker.process.send_signal(signal.SIGTERM)
    assert worker.wait() == 0

    events = settled_log(runner, job_id)
    assert sequence(events, "a") == ["Task Queued", "Task Started", "Task Completed"]
    assert sequence(events, "b") == ["Task Queued", "Task Started", "Task Failed",
                                     "Task Queued", "Task Started", "Task Completed"]
    assert [e["attempt"] for e in of_type(events, "Task Started", "b")] == [1, 2]
    assert [e["requestId"] for e in of_type(events, "Task Queued", "b")][1] == body["requestId"]
    for task_id in ("c", "d", "e"):
        assert sequence(events, task_id) == ["Task Skipped", "Task Queued", "Task Started", "Task Completed"]
    assert sequence(events) == ["Job Created", "Job Failed", "Job Completed"]
    job_item = get_event_store().get_job(job_id, consistent=True)
    assert (job_item["completedCount"], job_item["failedCount"], job_item["skippedCount"]) == (5, 0, 0)

    # And a task that did not fail can't be retried; an unknown one is not found
    status, refused = api.call("POST", f"/jobs/{job_id}/tasks/b/retry")
    assert status == 409 and refused["message"].startswith("task b is completed and job")
    assert api.call("POST", f"/jobs/{job_id}/tasks/nope/retry")[0] == 404
