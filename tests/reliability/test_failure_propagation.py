"""Failure propagation with a real worker: a task failing retryably is retried with its
definition's own maxAttempts and backoff, then fails for good; its descendants are
skipped, naming it; an independent branch still running meanwhile finishes; and only
then does the job fail, once."""

from __future__ import annotations

from jobmanager.domain.model import TaskSpec
from jobmanager.services import jobs, task_definitions

from .harness import (GATED, NOOP, job_log, job_status, of_type, sequence, settled_log, stop_when_job, task_status,
                      wait_until)

ALWAYS_RETRYABLE = ["python", "-c", "import sys; print('try again later'); sys.exit(75)"]


def test_a_terminal_failure_skips_descendants_lets_other_branches_finish_and_fails_the_job_once(
        tenant, make_queue, runner, workers, tmp_path):
    # Given   flaky → child → grandchild ─┐
    #         gated → after ──────────────┴→ join
    # where flaky always fails retryably (2 attempts, backoff base 0.5 s; the worker's own is 5 s)
    queue_url = make_queue()
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-flaky", body={
        "kind": "command", "command": ALWAYS_RETRYABLE, "maxAttempts": 2, "retryBackoffSeconds": 0.5})
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-gated", body={"kind": "command", "command": GATED})
    task_definitions.put_task_definition(tenant_id=tenant, name="rel-noop", body={"kind": "command", "command": NOOP})
    gate = tmp_path / "gate"
    job = jobs.create_job(tenant_id=tenant, name="propagation", tasks=[
        TaskSpec("flaky", "rel-flaky"), TaskSpec("child", "rel-noop", {}, ("flaky",)),
        TaskSpec("grandchild", "rel-noop", {}, ("child",)),
        TaskSpec("gated", "rel-gated", {"gate": str(gate)}), TaskSpec("after", "rel-noop", {}, ("gated",)),
        TaskSpec("join", "rel-noop", {}, ("grandchild", "after"))])
    job_id = job["jobId"]
    assert sorted(job["queued"]) == ["flaky", "gated"]

    # When a worker with two slots runs them (the worker's backoff base is 5 s)
    worker = workers(queue_url, concurrency=2)
    wait_until(lambda: task_status(job_id, "flaky") == "failed", timeout=90, what="flaky to fail for good")
    wait_until(lambda: task_status(job_id, "join") == "skipped", timeout=30, what="the descendants to be skipped")

    # Then, while the gated branch still runs, the job is still running and not ended
    assert task_status(job_id, "gated") == "running"
    assert job_status(job_id) == "running"
    assert not of_type(job_log(job_id), "Job Failed")

    # When the gated branch is released, it and its successor finish, then the job fails
    gate.write_text("open")
    stop_when_job(worker, job_id, "failed")

    events = settled_log(runner, job_id)
    assert sequence(events, "flaky") == ["Task Queued", "Task Started", "Task Failed", "Task Started", "Task Failed"]
    first, last = of_type(events, "Task Failed", "flaky")
    assert (first["attempt"], first["data"]["willRetry"], first["data"]["maxAttempts"]) == (1, True, 2)
    # the definition's backoff: attempt 1 waits about 0.5 * 2 s, jittered ±20% and rounded up
    assert first["data"]["retryInSeconds"] in (1, 2)
    assert first["data"]["error"] == {"message": "command exited with code 75 (EX_TEMPFAIL: try again)",
                                      "kind": "tempfail", "retryable": True}
    assert (last["attempt"], last["data"]["willRetry"], "retryInSeconds" in last["data"]) == (2, False, False)
    for task_id in ("child", "grandchild", "join"):
        assert sequence(events, task_id) == ["Task Skipped"], task_id
        (skipped,) = of_type(events, "Task Skipped", task_id)
        assert skipped["data"]["reason"] == "upstream task 'flaky' failed"
    assert sequence(events, "gated") == ["Task Queued", "Task Started", "Task Completed"]
    assert sequence(events, "after") == ["Task Queued", "Task Started", "Task Completed"]
    assert sequence(events) == ["Job Created", "Job Failed"]
    # the job failed after the independent branch finished, once, with the counts to show it
    order = [(e["eventType"], e.get("taskId")) for e in events]
    assert order.index(("Job Failed", None)) > order.index(("Task Completed", "after"))
    (ended,) = of_type(events, "Job Failed")
    assert {k: ended["data"][k] for k in ("taskCount", "completed", "failed", "skipped", "cancelled")} == {
        "taskCount": 6, "completed": 2, "failed": 1, "skipped": 3, "cancelled": 0}
